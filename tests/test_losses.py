import numpy as np
import pytest
from stepsize.models import losses


@pytest.mark.parametrize("loss", [losses.example1(), losses.example2(), losses.example3(4), losses.example3(6)])
def test_derivatives_match_finite_differences(loss):
    x = np.array([-1.7, -0.4, 0.3, 0.9, 1.4, 2.3])
    h = 1e-6
    assert np.allclose(loss.df(x), (loss.f(x + h) - loss.f(x - h)) / (2 * h), rtol=1e-6, atol=1e-7)
    assert np.allclose(loss.d2f(x), (loss.df(x + h) - loss.df(x - h)) / (2 * h), rtol=1e-5, atol=1e-6)


def test_example2_properties():
    f = losses.example2()
    assert f.df(np.array([1.0, 2.0])) == pytest.approx([0.0, 0.0])
    assert f.d2f(np.array([1.0, 2.0])) == pytest.approx([4.0, 10.0])
    # exactly one critical point between the minima: a local maximum
    xs = np.linspace(1.01, 1.99, 9801)
    sign_changes = np.sum(np.diff(np.sign(f.df(xs))) != 0)
    assert sign_changes == 1


def test_example3_rejects_odd_or_small_p():
    for p in (2, 3, 5):
        with pytest.raises(ValueError, match="even"):
            losses.example3(p)


@pytest.mark.parametrize("delta", [0.01, 0.1, 0.5, 3.0, 100.0])
def test_example1_steps_to_cycle_is_enough_and_half_is_not_always(delta):
    from stepsize import classify, gd_map

    f = losses.example1()
    x0 = np.random.default_rng(0).uniform(-3, 3, 2000)
    n = losses.example1_steps_to_cycle(3.0, delta)
    full = classify(gd_map(f.df, delta), x0, n, max_period=4)
    assert np.all(full.period == 2)
    assert np.allclose(full.amplitude, delta**2 / 4, rtol=1e-9)
    half = classify(gd_map(f.df, delta), x0, n // 2, max_period=4)
    assert np.any(half.period != 2)  # the estimate is not wildly generous
    with pytest.raises(ValueError):
        losses.example1_steps_to_cycle(3.0, 0.0)

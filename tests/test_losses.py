import numpy as np
import pytest

from stepsize import losses


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

"""The batched ReLU trainer's fast paths (stepsize.models.relu.train): exact, not approximate."""

import numpy as np
from stepsize.models import relu

FIELDS = ("w", "v", "f_last", "f_prev", "loss", "gap1", "gap2", "diverged")


def _same(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True) for f in FIELDS)


def test_count_le_is_searchsorted_exactly():
    rng = np.random.default_rng(0)
    for xs in (relu.grid(1000), np.sort(rng.uniform(-2, 3, 97)), np.geomspace(1e-3, 10, 50)):
        g = relu._Grid.of(xs)
        t = np.concatenate(
            [
                xs,
                np.nextafter(xs, np.inf),
                np.nextafter(xs, -np.inf),
                rng.uniform(-5, 5, 2000),
                [-np.inf, np.inf, 1e300],
            ]
        )
        strict = rng.random(t.size) < 0.5
        want = np.where(strict, np.searchsorted(xs, t, "left"), np.searchsorted(xs, t, "right"))
        assert np.array_equal(relu._count_le(t, g, strict), want)
    assert relu._Grid.of(np.array([0.0, 0.5, 0.5, 1.0])) is None  # repeated points: binary search
    assert relu._Grid.of(np.array([0.3])) is None


def _converging_runs():
    """Two-unit fits started next to an exact solution (some reach rest bit for bit within a few
    thousand steps), and the same fits at step sizes that blow up."""
    inst = relu.make_instances([3, 4, 5], width=2, n_points=30)
    th = [relu.pack(inst.w_target[k], inst.v_target[k]) for k in range(3)]
    lam = np.array([relu.sharpness(*relu.unpack(t), inst.b[k], inst.x) for k, t in enumerate(th)])
    d = np.concatenate([1.0 / lam, 50.0 / lam])
    w0 = np.tile(inst.w_target, (2, 1)) + 1e-3
    v0 = np.tile(inst.v_target, (2, 1)) - 1e-3
    return (w0, v0), inst.x, np.tile(inst.y, (2, 1)), np.tile(inst.b, (2, 1)), d


def test_retired_runs_give_the_numbers_of_the_plain_path():
    params, x, y, b, d = _converging_runs()
    for n in (5, 400, 3001):
        plain = relu.train(params, x, y, b, d, n, retire=False)
        assert np.all(plain.retired_at == -1)
        for every in (1, 7, 16):
            fast = relu.train(params, x, y, b, d, n, check_every=every)
            assert _same(plain, fast)
    fast = relu.train(params, x, y, b, d, 3001, check_every=1)
    rest = fast.retired_at[:3] >= 0
    assert rest.any() and np.all(fast.gap1[:3][rest, -1] == 0.0)  # at rest bit for bit
    assert fast.diverged.any() and np.all(fast.retired_at[fast.diverged] >= 0)  # blown up: NaN for ever
    # with record=True every step is kept, so nothing retires
    assert np.all(relu.train(params, x, y, b, d, 400, record=True).retired_at == -1)


def test_figure2_runs_are_the_same_in_any_batch():
    """Every operation acts on one run's row: a run gives the same bits alone or in a batch (the
    reason a retired run cannot change the others), at step sizes that settle, oscillate or blow up."""
    inst = relu.make_instances([0, 1, 2], width=20)
    deltas = np.array([1e-4, 3e-4, 3.0])
    rep = np.repeat
    batch = relu.train(
        (rep(inst.w0, 3, 0), rep(inst.v0, 3, 0)), inst.x, rep(inst.y, 3, 0), rep(inst.b, 3, 0), np.tile(deltas, 3), 300
    )
    assert batch.diverged.reshape(3, 3)[:, 2].all() and not batch.diverged.reshape(3, 3)[:, :2].any()
    for s in range(3):
        for j, delta in enumerate(deltas):
            one = relu.train((inst.w0[s], inst.v0[s]), inst.x, inst.y[s], inst.b[s], delta, 300)
            k = 3 * s + j
            for f in FIELDS:
                assert np.array_equal(getattr(one, f)[0], getattr(batch, f)[k], equal_nan=True), f

"""numpy GELU MLP: hand-written backprop against finite differences, data loaders, GD/SGD shapes."""

import gzip
import struct

import numpy as np
import pytest
from stepsize.models import mlp


def test_gelu_values_and_derivative(fd):
    assert mlp.gelu(np.array(0.0)) == 0.0
    # tanh-form GELU at 1: 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.841192 (hand-computed)
    assert mlp.gelu(np.array(1.0)) == pytest.approx(0.8411920, abs=1e-6)
    z = np.linspace(-4, 4, 9)
    num = np.array([fd(lambda v: float(mlp.gelu(v)[0]), np.array([zi]))[0] for zi in z])
    assert np.allclose(mlp.gelu_prime(z), num, atol=1e-7)


@pytest.mark.parametrize("sizes", [(5, 4, 3), (5, 4, 4, 3)])
def test_backprop_matches_finite_differences(sizes, fd):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, sizes[0]))
    Y = rng.standard_normal((7, sizes[-1]))
    layers = mlp.init(rng, 2, sizes)
    layers = [(W, rng.standard_normal(b.shape) * 0.3) for W, b in layers]
    lo, grads = mlp.loss_and_grad(layers, X, Y)
    assert np.allclose(lo, mlp.loss(layers, X, Y))
    for l in range(len(layers)):
        for which in (0, 1):

            def f(v, l=l, which=which):
                new = [list(p) for p in layers]
                new[l][which] = v
                return float(mlp.loss([tuple(p) for p in new], X, Y)[1])

            num = fd(f, layers[l][which].copy())
            assert np.allclose(grads[l][which][1], num[1], atol=1e-7)


def test_gd_and_sgd_shapes_and_divergence_handled():
    rng = np.random.default_rng(1)
    X = rng.random((30, 6))
    Y = mlp.one_hot(rng.integers(0, 3, 30), 3)
    eta = np.array([0.05, 0.5, 1e4])
    tr = mlp.gd(mlp.init(rng, 3, (6, 8, 3)), X, Y, eta, 50)
    assert tr.loss.shape == (51, 3)
    assert tr.loss[-1, 0] < tr.loss[0, 0]
    c = mlp.converged(tr)
    assert c[0] and not c[2]
    tr2 = mlp.sgd(mlp.init(rng, 3, (6, 8, 3)), X, Y, eta, 4, 10, rng)
    assert tr2.loss.shape == (5, 3)


def test_idx_reader_and_loaders(tmp_path):
    imgs = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labs = np.array([4, 7], dtype=np.uint8)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 2, 3, 3) + imgs.tobytes())
    with open(tmp_path / "train-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 2) + labs.tobytes())
    X, Y, name = mlp.load(str(tmp_path))
    assert name == "MNIST" and X.shape == (2, 9) and X.max() == pytest.approx(17 / 255)
    assert np.array_equal(Y.argmax(axis=1), [4, 7])
    Xd, Yd, named = mlp.load("", n=50, rng=np.random.default_rng(0))
    assert Xd.shape == (50, 64) and Yd.shape == (50, 10) and named.startswith("digits")
    assert 0.0 <= Xd.min() and Xd.max() <= 1.0


def test_fast_gelu_pieces_equal_the_formulas_bit_for_bit():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 30, 8)) * 4.0
    h, t = mlp._gelu_with_tanh(z)
    assert np.array_equal(h, mlp.gelu(z))
    assert np.array_equal(t, np.tanh(np.sqrt(2 / np.pi) * z * (1 + 0.044715 * z * z)))
    assert np.array_equal(mlp._gelu_prime_from(z, t), mlp.gelu_prime(z))


# ---------------------------------------------------------------------------------------------
# stepsize.mlp_gd: the fast path, exact Hessian-vector products, the fate classifier
# ---------------------------------------------------------------------------------------------
from stepsize.dynamics import Fate
from stepsize.models import mlp_gd


def _tiny(seed=0, sizes=(5, 4, 4, 3), B=3, n=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    Y = rng.standard_normal((n, sizes[-1]))
    layers = mlp.init(rng, B, sizes)
    layers = [(W, rng.standard_normal(b.shape) * 0.3) for W, b in layers]
    return X, Y, layers


def test_exp_form_gelu_equals_tanh_form_and_its_derivatives(fd):
    z = np.linspace(-30, 30, 20001)
    s = mlp_gd.gelu_s(z)
    assert np.allclose(mlp_gd.gelu_exp(z), mlp.gelu(z), rtol=1e-14, atol=1e-15)
    assert np.allclose(mlp_gd.gelu_prime_s(z, s), mlp.gelu_prime(z), rtol=1e-13, atol=1e-14)
    zz = np.linspace(-5, 5, 21)
    num = np.array([fd(lambda v: float(mlp.gelu_prime(v)[0]), np.array([zi]))[0] for zi in zz])
    assert np.allclose(mlp_gd.gelu_second_s(zz, mlp_gd.gelu_s(zz)), num, atol=1e-7)
    with np.errstate(over="raise", invalid="raise"):  # far tails: no overflow escapes, no NaN
        assert np.all(np.isfinite(mlp_gd.gelu_exp(np.array([-800.0, 800.0]))))


@pytest.mark.parametrize("sizes", [(5, 4, 3), (5, 4, 4, 3)])
def test_flat_loss_and_gradient_equal_the_layered_ones(sizes):
    X, Y, layers = _tiny(sizes=sizes)
    theta = mlp_gd.flatten(layers)
    lo, grads = mlp.loss_and_grad(layers, X, Y)
    assert np.allclose(mlp_gd.loss_flat(theta, sizes, X, Y), lo, rtol=1e-13)
    assert np.allclose(mlp_gd.grad_flat(theta, sizes, X, Y), mlp_gd.flatten(grads), rtol=1e-12, atol=1e-15)
    back = mlp_gd.unflatten(theta, sizes)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(back, layers))


@pytest.mark.parametrize("sizes", [(5, 4, 3), (5, 4, 4, 3), (3, 3, 3, 3, 2)])
def test_exact_hvp_matches_dense_finite_difference_hessian(sizes):
    X, Y, layers = _tiny(sizes=sizes)
    theta = mlp_gd.flatten(layers)[1]
    H_fd = mlp_gd.dense_hessian_fd(theta, sizes, X, Y)  # central differences of the gradient, h = 1e-5
    H = np.column_stack([mlp_gd.hvp(theta, e, sizes, X, Y) for e in np.eye(theta.size)])
    assert np.max(np.abs(H - H.T)) < 1e-14 * max(1.0, np.abs(H).max())  # exact: symmetric to rounding
    assert np.max(np.abs(H - H_fd)) < 1e-8 * max(1.0, np.abs(H).max())
    # batched products equal the single ones
    V = np.random.default_rng(1).standard_normal((3, theta.size))
    T = mlp_gd.flatten(layers)
    HV = mlp_gd.hvp(T, V, sizes, X, Y)
    assert np.allclose(HV[1], H @ V[1], rtol=1e-12, atol=1e-14)
    # the Lanczos sharpness equals the dense top eigenvalue
    assert mlp_gd.sharpness(theta, sizes, X, Y) == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-7)


@pytest.mark.parametrize("sizes", [(5, 4, 3), (5, 4, 4, 3), (3, 3, 3, 3, 2)])
def test_hvp_operator_applied_many_times_equals_fresh_products(sizes):
    # hvp_at computes the theta-only part once; products after many others (of a Lanczos run) must
    # equal a fresh one bit for bit: nothing cached may be overwritten by a product
    X, Y, layers = _tiny(sizes=sizes)
    T = mlp_gd.flatten(layers)
    op = mlp_gd.hvp_at(T, sizes, X, Y)
    rng = np.random.default_rng(2)
    for _ in range(4):
        V = rng.standard_normal(T.shape)
        assert np.array_equal(op(V), mlp_gd.hvp_at(T, sizes, X, Y)(V))
    op1, v = mlp_gd.hvp_at(T[0], sizes, X, Y), rng.standard_normal(T.shape[1])
    first = op1(v)
    op1(rng.standard_normal(T.shape[1]))
    assert first.shape == v.shape and np.array_equal(op1(v), first)


def _digits_setup(n=60, sizes=(64, 8, 8, 10), etas=(0.5, 1.0, 2.0, 50.0), runs=3, seed=0):
    rng = np.random.default_rng(seed)
    X, Y, _ = mlp.load("", n=n, rng=rng)
    e = np.repeat(np.array(etas), runs)
    return X, Y, e, mlp_gd.flatten(mlp.init(rng, e.size, list(sizes))), list(sizes)


def test_gd_fates_is_bit_identical_whatever_the_chunks_their_order_and_threads():
    X, Y, e, theta, sizes = _digits_setup()
    kw = {"n_steps": 60, "max_steps": 240, "window": 20}
    ref = mlp_gd.gd_fates(theta, sizes, X, Y, e, chunk=12, workers=1, **kw)
    for extra in (
        {"chunk": 1},
        {"chunk": 5, "chunk_order_seed": 3},
        {"chunk": 2, "chunk_order_seed": 7, "workers": 2},
        {"chunk": 3, "chunk_order_seed": 11, "workers": 2},
        {"workers": 3, "chunk": 4},
        {"workers": 2},  # the default chunk, split so that both threads get one (per_worker_chunk)
        {"workers": 3},
    ):
        r = mlp_gd.gd_fates(theta, sizes, X, Y, e, **extra, **kw)
        assert np.array_equal(r.theta, ref.theta, equal_nan=True)
        assert np.array_equal(r.loss, ref.loss, equal_nan=True)
        assert np.array_equal(r.kind, ref.kind)
        assert np.array_equal(r.eta_sharpness, ref.eta_sharpness, equal_nan=True)


def test_per_worker_chunk_gives_every_worker_a_chunk():
    assert mlp_gd.per_worker_chunk(54, 40, 2) == 20  # the quick preset: one chunk of 40 became two
    assert mlp_gd.per_worker_chunk(54, 41, 2) == 21
    assert mlp_gd.per_worker_chunk(2, 220, 2) == 2  # the paper size: many chunks already
    assert mlp_gd.per_worker_chunk(54, 1, 2) == 1
    assert mlp_gd.per_worker_chunk(54, 40, 1) == 40


def test_gd_steps_are_the_iterates_of_gd_fates_bit_for_bit_in_any_chunk_order():
    X, Y, e, theta, sizes = _digits_setup(etas=(0.5, 1.0, 2.0), runs=4)
    n = 30
    th1, lo1 = mlp_gd.gd_steps(theta, sizes, X, Y, e, n, chunk=5, workers=1)
    th2, lo2 = mlp_gd.gd_steps(theta, sizes, X, Y, e, n, chunk=2, workers=2, chunk_order_seed=4)
    th3, lo3 = mlp_gd.gd_steps(theta, sizes, X, Y, e, n, chunk=2, workers=2, chunk_order_seed=9)
    assert np.array_equal(th1, th2) and np.array_equal(lo1, lo2)
    assert np.array_equal(th2, th3) and np.array_equal(lo2, lo3)
    # gd_fates records the same losses while no run has left the batch (budget above n, no checks yet)
    r = mlp_gd.gd_fates(theta, sizes, X, Y, e, n_steps=n, max_steps=n, window=10)
    assert np.array_equal(r.loss[:n], lo1) and not np.any(r.kind == Fate.DIVERGED)
    assert mlp_gd.default_workers() in (1, 2)


def test_gd_fates_follows_plain_gd_and_honours_its_budget():
    X, Y, e, theta, sizes = _digits_setup()
    r = mlp_gd.gd_fates(theta, sizes, X, Y, e, n_steps=40, max_steps=300, window=20)
    tr = mlp.gd(mlp_gd.unflatten(theta, sizes), X, Y, e, 40)
    ok = np.isfinite(tr.loss) & np.isfinite(r.loss)
    assert np.allclose(r.loss[ok], tr.loss[ok], rtol=1e-9)  # the same GD, exp- instead of tanh-form GELU
    div = r.kind == Fate.DIVERGED
    assert div[e == 50.0].all() and not div[e == 0.5].any()
    assert np.all(r.steps[~div] >= 40) and np.all(r.steps <= 300)
    conv = r.kind == Fate.CONVERGED
    assert np.all(r.eta_sharpness[conv] < 2) and np.all(r.settled[conv])
    assert np.all((r.kind[~conv & ~div] == Fate.UNDECIDED) & (r.steps[~conv & ~div] == 300))
    with pytest.raises(ValueError):
        mlp_gd.gd_fates(theta, sizes, X, Y, e, n_steps=50, max_steps=10)


def test_a_transient_that_passes_the_short_test_is_never_converged():
    """Runs that look converged at 150 steps (monotone loss, the short test) and are not at 3000
    (their update is still large over the last 100 steps) are never CONVERGED, at either budget."""
    rng = np.random.default_rng(0)
    X, Y, _ = mlp.load("", n=100, rng=rng)
    e = np.repeat([1.0, 1.5, 4.0], 5)
    sizes = [64, 12, 10]
    layers = mlp.init(rng, e.size, sizes)
    tr = mlp.gd(layers, X, Y, e, 150)
    short = mlp.converged(tr, below=0.9 * mlp.constant_predictor_loss(Y))
    later = mlp.gd(tr.final, X, Y, e, 2850)
    moving = (e * later.grad_norm[-100:]).max(axis=0) > 1e-2
    transient = short & moving
    assert transient.sum() >= 3
    for cap in (150, 3000):
        r = mlp_gd.gd_fates(mlp_gd.flatten(layers), sizes, X, Y, e, n_steps=150, max_steps=cap)
        assert not np.any(r.kind[transient] == Fate.CONVERGED)
        assert np.all(r.eta_sharpness[r.kind == Fate.CONVERGED] < 2)


def test_group_whose_share_is_decided_stops_early():
    assert mlp_gd.group_decided(16, 0, 20) and mlp_gd.group_decided(0, 5, 20)
    assert not mlp_gd.group_decided(0, 20, 20) and not mlp_gd.group_decided(10, 0, 20)
    X, Y, e, theta, sizes = _digits_setup(etas=(50.0, 0.5), runs=3)
    r = mlp_gd.gd_fates(theta, sizes, X, Y, e, n_steps=20, max_steps=400, window=10, groups=np.repeat([0, 1], 3))
    assert np.all(r.kind[:3] == Fate.DIVERGED) and not r.stopped_early[:3].any()
    # the eta = 0.5 group: 3 runs cannot decide a share against 1/2 unless all converge or none can
    assert not np.any(r.stopped_early[3:]) or group_ok(r)


def group_ok(r):
    conv = int(np.sum(r.kind[3:] == Fate.CONVERGED))
    return mlp_gd.group_decided(conv, int(np.sum(r.stopped_early[3:])), 3)


def _same(a, b):
    return all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
        for f in ("kind", "theta", "loss", "eta_sharpness", "steps", "settled", "stopped_early")
    )


def test_joint_batches_run_as_each_alone_and_a_rule_stops_only_what_it_names():
    kw = {"n_steps": 40, "max_steps": 200, "window": 20}
    a = _digits_setup(sizes=(64, 8, 10), etas=(0.5, 2.0, 50.0), runs=2, seed=1)
    b = _digits_setup(sizes=(64, 8, 8, 10), etas=(0.5, 2.0, 50.0), runs=2, seed=2)
    X, Y = a[0], a[1]
    alone = [mlp_gd.gd_fates(t, sz, X, Y, e, **kw) for _, _, e, t, sz in (a, b)]
    problems = [mlp_gd.Problem(t, sz, e) for _, _, e, t, sz in (a, b)]
    joint = mlp_gd.gd_fates_joint(problems, X, Y, **kw)
    assert all(_same(j, s) for j, s in zip(joint, alone))
    calls = []

    def rule(kinds):  # stop the eta = 0.5 runs of the second batch at the second check
        calls.append([k.copy() for k in kinds])
        stop = [np.zeros(k.size, bool) for k in kinds]
        if len(calls) == 2:
            stop[1][:2] = True
        return stop

    ruled = mlp_gd.gd_fates_joint(problems, X, Y, rule=rule, **kw)
    assert _same(ruled[0], alone[0])
    keep = np.arange(6) >= 2
    for f in ("kind", "theta", "eta_sharpness", "steps"):
        assert np.array_equal(getattr(ruled[1], f)[keep], getattr(alone[1], f)[keep], equal_nan=True)
    stopped = ~keep & (alone[1].steps > 40 + 25)  # still going at the second check
    assert stopped.any()
    assert np.all(ruled[1].stopped_early == stopped)
    assert np.all(ruled[1].kind[stopped] == Fate.UNDECIDED) and np.all(ruled[1].steps[stopped] == 40 + 25)
    assert len(calls) >= 2 and all(len(c) == 2 for c in calls)


def test_group_rule_in_a_joint_run_gives_each_batch_what_gd_fates_gives_it_alone():
    # the digits chapter's quick preset runs its depths jointly with group_rule (in processes)
    kw = {"n_steps": 40, "max_steps": 200, "window": 20}
    a = _digits_setup(sizes=(64, 8, 10), etas=(0.5, 2.0, 50.0), runs=2, seed=1)
    b = _digits_setup(sizes=(64, 8, 8, 10), etas=(0.5, 2.0, 50.0), runs=2, seed=2)
    X, Y = a[0], a[1]
    groups = [np.repeat([0, 1, 2], 2), np.array([0, 0, 1, 1, 1, 1])]  # different labels per batch
    alone = [mlp_gd.gd_fates(t, sz, X, Y, e, groups=g, **kw) for (_, _, e, t, sz), g in zip((a, b), groups)]
    problems = [mlp_gd.Problem(t, sz, e) for _, _, e, t, sz in (a, b)]
    for processes in (False, True):
        joint = mlp_gd.gd_fates_joint(
            problems, X, Y, rule=mlp_gd.group_rule(groups), workers=2, processes=processes, **kw
        )
        assert all(_same(j, s) for j, s in zip(joint, alone))
    # the rule itself: a group (of one batch) stops once its share is decided, and only that group
    c, u = int(Fate.CONVERGED), int(Fate.UNDECIDED)
    kinds = [np.array([c] * 17 + [u] * 3, dtype=np.int8), np.array([c] * 10 + [u] * 10, dtype=np.int8)]
    stops = mlp_gd.group_rule([np.zeros(20, int), np.zeros(20, int)])(kinds)
    assert np.all(stops[0]) and not np.any(stops[1])


def test_presets_are_consistent():
    for name, p in mlp_gd.PRESETS.items():
        assert 0 < p["n_steps"] <= p["max_steps"], name
        assert p["window"] <= p["n_steps"] and 0 < p["update_tol"] < 1
        assert list(p["etas"]) == sorted(p["etas"])
        assert p["leave"] in ("group", "verdict")


def _sgd_one_batch(layers, X, Y, eta, n_epochs, batch_size, rng):
    """SGD as it was written before chunks and threads: the whole batch at once (the reference)."""
    B, N = layers[0][0].shape[0], X.shape[0]
    nb = max(N // batch_size, 1)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), (B,))
    L = np.empty((n_epochs + 1, B))
    with np.errstate(over="ignore", invalid="ignore"):
        for ep in range(n_epochs + 1):
            L[ep] = mlp.loss_and_grad(layers, X, Y)[0]
            if ep == n_epochs:
                break
            perm = np.argsort(rng.random((B, N)), axis=1)
            for j in range(nb):
                idx = perm[:, j * batch_size : (j + 1) * batch_size]
                layers = mlp._step(layers, mlp.loss_and_grad(layers, X[idx], Y[idx])[1], eta)
    return L, layers


def test_sgd_is_bit_identical_whatever_the_chunks_and_threads():
    rng = np.random.default_rng(2)
    X, Y, _ = mlp.load("", n=50, rng=rng)
    e = np.repeat([0.5, 2.0, 40.0], 3)
    layers = mlp.init(rng, e.size, [64, 6, 6, 10])
    L_ref, final_ref = _sgd_one_batch(layers, X, Y, e, 4, 8, np.random.default_rng(9))
    for kw in (
        {},
        {"chunk": 1, "workers": 1},
        {"chunk": 2, "workers": 2},
        {"chunk": 4, "workers": 3},
        {"grad_norms": False},  # the loss by a forward pass only: the same records
        {"chunk": 2, "workers": 2, "grad_norms": False},
    ):
        tr = mlp.sgd(layers, X, Y, e, 4, 8, np.random.default_rng(9), **kw)
        assert np.all(np.isnan(tr.grad_norm)) if kw.get("grad_norms") is False else np.all(tr.grad_norm[0] > 0)
        assert np.array_equal(tr.loss, L_ref, equal_nan=True), kw
        for (W, b), (W0, b0) in zip(tr.final, final_ref):
            assert np.array_equal(W, W0, equal_nan=True) and np.array_equal(b, b0, equal_nan=True)
    assert not np.all(np.isfinite(L_ref[-1]))  # the eta = 40 runs blew up: NaN/inf handled per run


def test_loss_into_is_loss_bit_for_bit_in_sub_chunks():
    rng = np.random.default_rng(4)
    X, Y, _ = mlp.load("", n=40, rng=rng)
    layers = mlp.init(rng, 7, [64, 9, 5, 10], scale=3.0)
    layers[-1][0][6] *= 1e300  # one network overflows: inf/NaN stays in its own entry
    buf = mlp.LossBuffers(3, X.shape[0], 10, 10)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = mlp.loss(layers, X, Y)
        got = np.concatenate(
            [mlp.loss_into([(W[i : i + 3], b[i : i + 3]) for W, b in layers], X, Y, buf) for i in range(0, 7, 3)]
        )
    assert np.array_equal(got, ref, equal_nan=True)
    assert np.isfinite(ref[:6]).all() and not np.isfinite(ref[6])


def test_sgd_records_in_sub_chunks_are_the_reference_ones():
    # N * width large enough that each chunk of 8 is recorded in sub-chunks (of 6 and 2 networks)
    rng = np.random.default_rng(6)
    X, Y, _ = mlp.load("", n=300, rng=rng)
    e = np.repeat([0.3, 1.5], 4)
    layers = mlp.init(rng, e.size, [64, 32, 10])
    L_ref, _ = _sgd_one_batch(layers, X, Y, e, 2, 50, np.random.default_rng(3))
    tr = mlp.sgd(layers, X, Y, e, 2, 50, np.random.default_rng(3), chunk=8, workers=2, grad_norms=False)
    assert np.array_equal(tr.loss, L_ref, equal_nan=True)


def test_gelu_with_z_squared_kept_is_bit_for_bit_the_plain_one():
    z = np.random.default_rng(1).standard_normal((3, 50, 7)) * 4
    s0 = mlp_gd.gelu_s(z)
    g0 = mlp_gd.gelu_prime_s(z, s0)
    zz = np.empty_like(z)
    s1 = mlp_gd.gelu_s(z, np.empty_like(z), zz)
    assert np.array_equal(zz, z * z) and np.array_equal(s1, s0)
    assert np.array_equal(mlp_gd.gelu_prime_s(z, s1, np.empty_like(z), zz, squared=True), g0)


def test_joint_in_processes_is_bit_for_bit_the_threaded_one():
    from stepsize.book.claims import digits

    kw = {"n_steps": 40, "max_steps": 160, "window": 20}
    etas = (0.5, 2.0, 50.0)
    a = _digits_setup(sizes=(64, 8, 10), etas=etas, runs=3, seed=1)
    b = _digits_setup(sizes=(64, 8, 8, 10), etas=etas, runs=3, seed=2)
    X, Y = a[0], a[1]
    problems = [mlp_gd.Problem(t, sz, e) for _, _, e, t, sz in (a, b)]
    ref_rule, rule = digits.verdict_rule(np.array(etas), 3, False), digits.verdict_rule(np.array(etas), 3, False)
    ref = mlp_gd.gd_fates_joint(problems, X, Y, rule=ref_rule, workers=1, **kw)
    got = mlp_gd.gd_fates_joint(problems, X, Y, rule=rule, workers=2, processes=True, **kw)
    assert all(_same(g, r) for g, r in zip(got, ref))
    assert rule.calls == ref_rule.calls > 1 and rule.fixed_at == ref_rule.fixed_at

    def stop_some(kinds):  # at the second check, stop runs 0, 1 and 4 of the second batch (both processes)
        stop_some.calls += 1
        stop = [np.zeros(k.size, bool) for k in kinds]
        if stop_some.calls == 2:
            stop[1][[0, 1, 4]] = True
        return stop

    stop_some.calls = 0
    ref = mlp_gd.gd_fates_joint(problems, X, Y, rule=stop_some, workers=1, **kw)
    stop_some.calls = 0
    got = mlp_gd.gd_fates_joint(problems, X, Y, rule=stop_some, workers=2, processes=True, **kw)
    assert ref[1].stopped_early.sum() >= 2 and all(_same(g, r) for g, r in zip(got, ref))


def test_a_networks_loss_and_norms_do_not_depend_on_its_chunk_partners():
    # einsum("bnk,bnk->b") summed one network's 10000 squares differently in a chunk of 1 and of 2
    rng = np.random.default_rng(8)
    X, Y, _ = mlp.load("", n=1000, rng=rng)
    sizes = [64, 16, 10]
    th = mlp_gd.flatten(mlp.init(rng, 3, sizes, scale=4.0))
    ws = mlp_gd.Workspace(mlp_gd.Layout.of(sizes), 2, X.shape[0])
    got = []
    for pick in ([0], [0, 1], [0, 2]):
        g = np.empty((len(pick), th.shape[1]))
        lo = mlp_gd.value_and_grad(th[pick].copy(), X, Y, ws, g)
        got.append((lo[0], g[0].copy()))
    assert all(lo == got[0][0] and np.array_equal(g, got[0][1]) for lo, g in got)
    A = rng.standard_normal((3, 10000))
    alone = mlp_gd.row_sumsq(A[:1].copy(), np.empty((1, 10000)))[0]
    assert mlp_gd.row_sumsq(A, np.empty_like(A))[0] == alone


def test_joint_in_processes_raises_the_rules_error_and_ends_its_workers():
    a = _digits_setup(sizes=(64, 8, 10), etas=(0.5, 2.0), runs=2, seed=1)
    X, Y = a[0], a[1]

    def rule(kinds):
        raise ValueError("rule failed")

    with pytest.raises(ValueError, match="rule failed"):
        mlp_gd.gd_fates_joint(
            [mlp_gd.Problem(a[3], a[4], a[2])],
            X,
            Y,
            n_steps=30,
            max_steps=60,
            window=10,
            rule=rule,
            workers=2,
            processes=True,
        )
    import multiprocessing

    assert not multiprocessing.active_children()

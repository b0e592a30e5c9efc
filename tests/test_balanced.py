"""Balancedness (Definition 2.3), the drift identity, the balanced initialisation and our step bound."""

import numpy as np
import pytest
from stepsize.models import balanced as bl
from stepsize.models import linear


def _net(rng, dims, B=3, s=0.7):
    return [rng.standard_normal((B, dims[j + 1], dims[j])) * s for j in range(len(dims) - 1)]


def test_balancedness_hand_case():
    # W1 = diag(2, 1), W2 = diag(1, 1): D_1 = I - diag(4, 1) = diag(-3, 0): constant 3
    W1 = np.diag([2.0, 1.0])[None]
    W2 = np.eye(2)[None]
    assert bl.balancedness([W1, W2])[0] == pytest.approx(3.0)


@pytest.mark.parametrize("dims", [(3, 4, 2), (2, 3, 3, 2), (4, 2, 3, 2, 3)])
def test_drift_identity_is_exact(dims):
    rng = np.random.default_rng(0)
    prob = linear.from_data(rng.standard_normal((dims[0], 9)), rng.standard_normal((dims[-1], 9)))
    Ws = _net(rng, dims)
    eta = np.array([0.01, 0.1, 0.3])
    Gs = linear.gradients(Ws, prob)
    new = linear.gd_step(Ws, prob, eta)
    lhs = [a - b for a, b in zip(bl.imbalance_matrices(new), bl.imbalance_matrices(Ws))]
    for a, b in zip(lhs, bl.drift(Gs, eta)):
        assert np.allclose(a, b, atol=1e-12 * max(1.0, np.abs(b).max()))


def test_balanced_init_is_balanced_with_rank():
    rng = np.random.default_rng(1)
    dims = (7, 5, 6, 4)
    Ws = bl.balanced_init(rng, dims, rank=3, batch=4, scale=1.3, spectrum=[1.0, 0.5, 2.0])
    assert np.all(bl.balancedness(Ws) < 1e-12)
    P = linear.product(Ws)
    assert np.all(bl.numerical_rank(P) == 3)
    # orthogonal factors: singular values of W_j are scale * spectrum
    s = np.linalg.svd(Ws[1], compute_uv=False)[:, :3]
    assert np.allclose(np.sort(s, axis=1), np.sort(1.3 * np.array([1.0, 0.5, 2.0]))[None])
    Q = bl.haar_orthogonal(rng, 5, 2)
    assert np.allclose(np.swapaxes(Q, 1, 2) @ Q, np.eye(5))


def test_product_norm_bound_holds_on_sublevel_set():
    rng = np.random.default_rng(2)
    prob = linear.from_data(rng.standard_normal((4, 12)), rng.standard_normal((3, 12)))
    Ws = _net(rng, (4, 5, 3), B=50, s=1.0)
    L = linear.loss(Ws, prob)
    P = np.linalg.norm(linear.product(Ws), 2, axis=(1, 2))
    assert np.all(P <= bl.product_norm_bound(prob, L) + 1e-12)


def test_factor_norm_bound_balanced_exact_and_holds_when_unbalanced():
    assert bl.factor_norm_bound(3, 0.0, 8.0) == pytest.approx(2.0)
    assert bl.factor_norm_bound(2, 0.0, 9.0) == pytest.approx(3.0)
    # hand case N = 2: t^2 - (t + 0) * delta = rho^2 -> t* = (delta + sqrt(delta^2 + 4 rho^2)) / 2
    d, rho = 0.5, 2.0
    t = (d + np.sqrt(d * d + 4 * rho * rho)) / 2
    assert bl.factor_norm_bound(2, d, rho) == pytest.approx(np.sqrt(t + d))
    rng = np.random.default_rng(3)
    for N in (2, 3, 4):
        dims = [3] * (N + 1)
        Ws = [W + 0.3 * rng.standard_normal(W.shape) for W in bl.balanced_init(rng, dims, 3, 200)]
        delta = bl.balancedness(Ws)
        rho = np.linalg.norm(linear.product(Ws), 2, axis=(1, 2))
        K = np.array([bl.factor_norm_bound(N, float(a), float(b)) for a, b in zip(delta, rho)])
        norms = np.max([np.linalg.norm(W, 2, axis=(1, 2)) for W in Ws], axis=0)
        assert np.all(norms <= K * (1 + 1e-9))


def test_hessian_bound_dominates_lambda_max():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 8))
    prob = linear.from_data(X, rng.standard_normal((3, 8)))
    for N in (2, 3):
        Ws = _net(rng, [3] * (N + 1), B=20, s=0.8)
        K = np.max([np.linalg.norm(W, 2, axis=(1, 2)) for W in Ws], axis=0)
        res = np.linalg.norm(linear.residual(Ws, prob), axis=(1, 2))
        H = linear.dense_hessian(Ws, prob)
        lam = np.max(np.abs(np.linalg.eigvalsh(H)), axis=1)
        assert np.all(lam <= bl.hessian_bound(N, K, np.linalg.norm(X, 2), res) + 1e-9)
    # hand case: N = 2, K = 1, ||X|| = 1, residual 0.5 -> 2 + 0.5
    assert bl.hessian_bound(2, 1.0, 1.0, 0.5) == pytest.approx(2.5)


def test_step_bound_guarantees_descent_and_balancedness():
    rng = np.random.default_rng(5)
    for N in (2, 3, 4):
        dims = [5] + [4] * (N - 1) + [5]
        prob, _X, _Wt = bl.section5_problem(rng, dims, 2, 20)
        W0 = bl.balanced_init(rng, dims, 2, 1)
        L0 = float(linear.loss(W0, prob)[0])
        sb = bl.best_step_bound(prob, N, L0)
        assert sb.eta <= sb.eta_balance + 1e-15 and sb.eta <= sb.eta_smooth + 1e-15
        run = bl.run_gd(W0, prob, sb.eta, 400)
        assert np.all(np.diff(run.loss[:, 0]) <= 1e-14)
        assert run.balance.max() <= sb.delta
        assert np.all(run.drift_sum[:, 0] <= 2 * sb.eta * (L0 - run.loss[:, 0]) + 1e-12)


def test_schedule_and_its_constant():
    eta = bl.schedule(5, c=2.0, k0=4.0, gamma=0.5)
    assert eta.shape == (5, 1)
    assert eta[0, 0] == pytest.approx(1.0) and eta[5 - 1, 0] == pytest.approx(2.0 / np.sqrt(8.0))
    c = bl.schedule_constant(0.1, 9.0, 0.5)
    assert c == pytest.approx(0.3)
    assert bl.schedule(100, c, 9.0, 0.5).max() == pytest.approx(0.1)


@pytest.mark.parametrize("preset", sorted(bl.PRESETS))
def test_schedule_offset_is_the_least_offset_of_the_preset(preset):
    least = bl.PRESETS[preset]["k0"]
    assert bl.schedule_offset(preset, 1.0) == least  # the preset's offset, not the chapter's default
    assert bl.schedule_offset(preset, least + 7.5) == least + 7.5  # k0 may only raise it
    assert bl.schedule_offset("quick", 500.0) == 500.0  # the quick chapter's default is unchanged


def test_paper_offset_keeps_the_slowest_schedule_within_the_cap():
    """With the paper offset, gamma = 1 matches the constant step's total (K0 = 126467 steps at N = 5,
    measured) within the step cap; with the quick default k0 = 500 it would need more than 1e100 steps."""
    cap = bl.step_cap("paper", bl.step_budget("paper", 1))
    eta_bar, K0 = 1.0, 126467
    for k0, fits in ((bl.schedule_offset("paper", 500.0), True), (500.0, False)):
        c = bl.schedule_constant(eta_bar, k0, 1.0)
        assert (bl.schedule_steps_for(K0 * eta_bar, c, k0, 1.0) <= cap) is fits


def test_loss_and_gradients_recursion_equals_the_former_order():
    """The default order is the former one, bit for bit (one unused product fewer); the recursion
    F_{j-1} = W_j^T F_j gives the gradients of the former order
    ((W_N ... W_{j+1})^T E) (W_{j-1} ... W_1)^T to rounding (the sum is associated differently)."""
    rng = np.random.default_rng(3)
    prob = linear.from_data(rng.standard_normal((4, 9)), rng.standard_normal((3, 9)))
    for dims in ((4, 3), (4, 5, 3), (4, 5, 2, 6, 3)):
        Ws = _net(rng, dims, B=3)
        below = [None]
        for W in Ws:
            below.append(W if below[-1] is None else W @ below[-1])
        E = below[-1] @ prob.Sxx - prob.Syx
        ref, above = [None] * len(Ws), None
        for j in range(len(Ws) - 1, -1, -1):
            G = E if above is None else np.swapaxes(above, 1, 2) @ E
            ref[j] = G if below[j] is None else G @ np.swapaxes(below[j], 1, 2)
            above = Ws[j] if above is None else above @ Ws[j]
        _, Gd = bl.loss_and_gradients(Ws, prob)
        assert all(np.array_equal(a, b) for a, b in zip(Gd, ref))  # the default: bit for bit
        _, Gs = bl.loss_and_gradients(Ws, prob, recursive=True)
        for a, b in zip(Gs, ref):
            assert np.allclose(a, b, rtol=1e-13, atol=1e-13 * np.max(np.abs(b)))
        if len(Ws) == 2:  # no middle layer: the same products, bit for bit
            assert all(np.array_equal(a, b) for a, b in zip(Gs, ref))


def test_min_loss_rank_hand_case():
    # whitened, R = diag(3, 2, 1): best rank-1 leaves 1/2 (4 + 1)
    prob = linear.whitened(np.diag([3.0, 2.0, 1.0]))
    assert bl.min_loss_rank(prob, 1) == pytest.approx(2.5)
    assert bl.min_loss_rank(prob, 3) == pytest.approx(0.0, abs=1e-12)


def test_run_gd_marks_divergence():
    rng = np.random.default_rng(6)
    prob = linear.whitened(np.eye(3) * 2)
    W0 = bl.balanced_init(rng, (3, 3, 3), 3, 2)
    run = bl.run_gd(W0, prob, np.array([0.05, 5.0]), 300)
    assert list(run.fate) == ["converged", "diverged"]


def test_balanced_from_frames_fixes_the_product_across_depths():
    rng = np.random.default_rng(7)
    V0 = bl.haar_orthogonal(rng, 5, 1)[:, :, :2]
    VN = bl.haar_orthogonal(rng, 4, 1)[:, :, :2]
    s = np.array([2.0, 0.5])
    ref = VN @ np.diag(s) @ np.swapaxes(V0, 1, 2)
    for N in (2, 3, 5):
        hidden = [bl.haar_orthogonal(rng, 3, 1)[:, :, :2] for _ in range(N - 1)]
        Ws = bl.balanced_from_frames([V0] + hidden + [VN], s ** (1.0 / N))
        assert np.allclose(linear.product(Ws), ref)
        assert bl.balancedness(Ws)[0] < 1e-12


def test_loss_and_gradients_match_linear():
    rng = np.random.default_rng(8)
    prob = linear.from_data(rng.standard_normal((4, 11)), rng.standard_normal((3, 11)))
    for dims in ((4, 3), (4, 5, 3), (4, 2, 6, 5, 3)):
        Ws = _net(rng, dims, B=5)
        L, Gs = bl.loss_and_gradients(Ws, prob)
        assert np.allclose(L, linear.loss(Ws, prob), rtol=1e-12, atol=1e-12)
        for a, b in zip(Gs, linear.gradients(Ws, prob)):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("preset", sorted(bl.PRESETS))
def test_every_preset_budget_is_honoured(preset):
    need = bl.PRESETS[preset]["n_steps"]
    assert bl.step_budget(preset, 1) == need  # the preset's budget, not the chapter's default
    assert bl.step_budget(preset, need + 7) == need + 7  # n_steps may only raise it
    assert bl.step_cap(preset, need) == bl.PRESETS[preset]["extend"] * need
    # the runner makes the whole budget: every run that has not diverged made at least `need` steps
    prob = linear.whitened(np.diag([1.0, 0.5]))
    W0 = bl.balanced_init(np.random.default_rng(0), (2, 2, 2), 2, 2, scale=0.5)
    run = bl.run_gd(W0, prob, np.array([1e-3, 0.1]), min(need, 400) if preset != "quick" else need, track_balance=False)
    assert run.loss.shape[0] - 1 >= min(need, 400) and np.all(run.steps >= min(need, 400))


def test_settled_but_unstable_is_not_converged():
    # start exactly at a balanced global minimum, with a step above 2 / lambda_max: the loss stays at
    # rounding level for a while (settled), but the point is linearly unstable
    R = np.diag([2.0, 1.0])
    prob = linear.whitened(R)
    W0 = linear.balanced_solution(R, 3, B=1)
    lam = bl.lambda_max_at(W0, prob)[0]
    run = bl.run_gd(W0, prob, 1.1 * 2.0 / lam, 20, track_balance=False, tol=1e-6)
    assert run.fate[0] != "converged"
    assert run.eta_sharpness[0] >= 2.0 or run.fate[0] == "diverged"
    stable = bl.run_gd(W0, prob, 0.9 * 2.0 / lam, 20, track_balance=False, tol=1e-6)
    assert stable.fate[0] == "converged" and stable.eta_sharpness[0] == pytest.approx(1.8, rel=1e-6)


def test_undecided_runs_are_extended_up_to_the_cap():
    rng = np.random.default_rng(9)
    prob, _, _ = bl.section5_problem(rng, [5, 4, 4, 5], 2, 20)
    W0 = bl.balanced_init(rng, [5, 4, 4, 5], 2, 1)
    eta = bl.best_step_bound(prob, 3, float(linear.loss(W0, prob)[0])).eta
    short = bl.run_gd(W0, prob, eta, 50, track_balance=False, tol=1e-6)
    assert short.fate[0] == "undecided" and short.needed[0] > 50
    assert "raise n_steps to about" in bl.undecided_text(short, 0)
    long = bl.run_gd(W0, prob, eta, 50, track_balance=False, tol=1e-6, max_steps=200000)
    assert long.fate[0] == "converged" and 50 < long.steps[0] < 200000
    assert long.loss[long.steps[0], 0] <= 1e-6 * long.loss[0, 0]
    # the estimate of the short run is of the right order
    assert 0.2 < short.needed[0] / long.steps[0] < 5
    # a run not selected for extension stops at the budget
    kept = bl.run_gd(W0, prob, eta, 50, track_balance=False, tol=1e-6, max_steps=200000, extend=np.array([False]))
    assert kept.fate[0] == "undecided" and kept.steps[0] == 50


def test_periodic_orbit_is_periodic_not_undecided():
    # scalar-like network W2 W1 on whitened data: a step just above the stability limit of the
    # balanced minimum lands on a stable 2-cycle
    R = np.array([[1.0]])
    prob = linear.whitened(R)
    W0 = [np.array([[[0.9]]]), np.array([[[0.9]]])]
    run = bl.run_gd(W0, prob, np.array([1.05]), 3000, track_balance=False, tol=1e-8)
    assert run.fate[0] in ("periodic", "diverged")
    assert run.fate[0] != "converged"


def test_lambda_max_certified_bound_is_an_upper_bound():
    rng = np.random.default_rng(10)
    R = np.diag(np.linspace(2.0, 1.0, 12))
    prob = linear.whitened(R)
    W0 = linear.balanced_solution(R, 3, B=2, rng=rng)  # 432 parameters: the large-network route
    W0 = [W + 1e-3 * rng.standard_normal(W.shape) for W in W0]
    exact = bl.lambda_max_at(W0, prob)
    assert np.all(np.isfinite(exact))
    H = linear.dense_hessian(W0, prob)
    assert np.allclose(exact, np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))[:, -1], rtol=1e-5)
    cert = bl.lambda_max_at(W0, prob, certify_below=np.array([1e9, 0.0]))
    assert cert[0] >= exact[0] * (1 - 1e-12) and cert[1] == pytest.approx(exact[1], rel=1e-9)


def _small_jobs():
    rng = np.random.default_rng(5)
    dims = (6, 4, 4, 6)
    prob, _, _ = bl.section5_problem(rng, dims, 2, 30)
    W0 = bl.balanced_init(rng, dims, 2, 1)
    etas = bl.schedule(
        3000, bl.schedule_constant(0.05, 50.0, np.array([0.0, 0.5, 1.0])), 50.0, np.array([0.0, 0.5, 1.0])
    )
    W3 = [np.repeat(W, 3, axis=0) for W in W0]
    kw = {"prob": prob, "n_steps": 400, "track_balance": True, "tol": 1e-6, "max_steps": 3000, "leave_early": True}
    return W3, etas, kw


def test_merge_runs_equals_the_batched_call_bit_for_bit():
    W3, etas, kw = _small_jobs()
    batched = bl.run_gd(W3, eta=etas, **kw)
    parts = [bl.run_gd([W[i : i + 1] for W in W3], eta=etas[:, i : i + 1], **kw) for i in range(3)]
    assert len({p.loss.shape[0] for p in parts}) > 1  # the runs stop at different steps
    merged = bl.merge_runs(parts)
    for name in ("loss", "balance", "drift_sum", "fate", "kind", "eta_sharpness", "steps", "needed", "wandering"):
        a, b = getattr(merged, name), getattr(batched, name)
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert all(np.array_equal(a, b) for a, b in zip(merged.Ws, batched.Ws))


def test_run_gd_many_is_deterministic_and_equals_one_call_per_job():
    W3, etas, kw = _small_jobs()
    jobs = [dict(kw, Ws=[W[i : i + 1] for W in W3], eta=etas[:, i : i + 1]) for i in range(3)]
    alone = [bl.run_gd(**job) for job in jobs]
    for order in ([0, 1, 2], [2, 0, 1]):  # different submission orders, so different thread timings
        many = bl.run_gd_many([jobs[i] for i in order], workers=2)
        for run, i in zip(many, order):
            assert np.array_equal(run.loss, alone[i].loss) and np.array_equal(run.steps, alone[i].steps)
            assert all(np.array_equal(a, b) for a, b in zip(run.Ws, alone[i].Ws))

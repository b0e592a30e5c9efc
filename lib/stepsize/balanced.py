"""Balancedness and step-size bounds for deep linear networks (Nguegnang, Rauhut & Terstiege).

Networks are the batched lists of :mod:`stepsize.linear` (``Ws[j-1]`` of shape ``(B, d_j, d_{j-1})``);
the loss is ``L^N(W) = 1/2 ||Y - W_N ... W_1 X||_F^2`` (:func:`stepsize.linear.loss`).

Provenance (see ``shared/paper-math.md``). Definition 2.3 and the drift identity are the paper's
notions restated [P]/[D]. The paper's constants (2.8)-(2.11) and (5.1)-(5.3) were **not recovered**
[U]; :func:`step_bound` is *our own* sufficient condition [D], derived with the same ingredients
(a bound on the product from the loss, a bound on the factors from balancedness, a Hessian bound
on a sublevel set, and the drift identity), and proved in the docstrings below. It is not the
paper's constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import linear
from .linear import LinearProblem, Weights


# ---------------------------------------------------------------------------------------------
# Definition 2.3 and the drift of balancedness under one GD step
# ---------------------------------------------------------------------------------------------
def imbalance_matrices(Ws: Weights) -> list[np.ndarray]:
    """``D_j = W_{j+1}^T W_{j+1} - W_j W_j^T`` for j = 1..N-1, each ``(B, d_j, d_j)``.

    Constant in time under gradient flow (eq. (2.3)); zero for a balanced tuple (eq. (2.4)).
    """
    T = lambda M: np.swapaxes(M, 1, 2)  # noqa: E731
    return [T(Ws[j + 1]) @ Ws[j + 1] - Ws[j] @ T(Ws[j]) for j in range(len(Ws) - 1)]


def balancedness(Ws: Weights) -> np.ndarray:
    """Smallest balancedness constant (Definition 2.3): ``max_j ||D_j||_2`` (spectral norm), ``(B,)``.

    The spectral norm of the symmetric ``D_j`` is its largest absolute eigenvalue.
    """
    B = Ws[0].shape[0]
    if len(Ws) < 2:
        return np.zeros(B)
    out = np.zeros(B)
    for D in imbalance_matrices(Ws):
        out = np.maximum(out, np.max(np.abs(np.linalg.eigvalsh(D)), axis=1))
    return out


def drift(Gs: Weights, eta: float | np.ndarray) -> list[np.ndarray]:
    """Exact change of ``D_j`` in one GD step with gradients ``G_j``: ``eta^2 (G_{j+1}^T G_{j+1} - G_j G_j^T)``.

    Expanding ``(W - eta G)`` the first-order terms cancel because
    ``W_{j+1}^T G_{j+1} = G_j W_j^T`` (both equal ``A_j^T E B_{j+1}^T`` in the notation of (3.1)).
    ``eta`` is a number or an array ``(B,)``.
    """
    e2 = np.asarray(eta, dtype=float) ** 2
    e2 = e2.reshape(-1, 1, 1) if e2.ndim else float(e2)
    return [e2 * D for D in imbalance_matrices(Gs)]


# ---------------------------------------------------------------------------------------------
# Section 5: balanced initialisation with orthogonal factors, data with a rank-r target
# ---------------------------------------------------------------------------------------------
def haar_orthogonal(rng: np.random.Generator, d: int, batch: int) -> np.ndarray:
    """``batch`` Haar-distributed orthogonal ``d x d`` matrices (QR of a Gaussian, signs fixed)."""
    Z = rng.standard_normal((batch, d, d))
    Q, R = np.linalg.qr(Z)
    s = np.sign(np.diagonal(R, axis1=1, axis2=2))
    s = np.where(s == 0, 1.0, s)
    return Q * s[:, None, :]


def balanced_init(rng: np.random.Generator, dims: list[int] | tuple[int, ...], rank: int,
                  batch: int = 1, scale: float = 1.0,
                  spectrum: np.ndarray | None = None) -> Weights:
    """Balanced tuples ``W_j = V_j S V_{j-1}^T``, ``S = scale * diag(spectrum)`` (Section 5 [D]).

    ``V_j`` (``d_j x rank``) holds the first ``rank`` columns of a Haar orthogonal ``U_j``. Then
    ``W_{j+1}^T W_{j+1} = V_j S^2 V_j^T = W_j W_j^T``: balancedness constant 0. The product is
    ``V_N S^N V_0^T`` of rank ``rank``. With ``spectrum=None`` (all ones) this is the paper's
    orthogonal construction ``W_j = V_j V_{j-1}^T`` scaled by ``scale``; ``spectrum`` may be
    ``(rank,)`` or ``(batch, rank)`` (positive).
    """
    dims = [int(d) for d in dims]
    if rank < 1 or rank > min(dims):
        raise ValueError("need 1 <= rank <= min(dims)")
    Vs = [haar_orthogonal(rng, d, batch)[:, :, :rank] for d in dims]
    s = np.ones(rank) if spectrum is None else np.asarray(spectrum, dtype=float)
    return balanced_from_frames(Vs, scale * s)


def balanced_from_frames(Vs: list[np.ndarray], s: np.ndarray) -> Weights:
    """``W_j = V_j diag(s) V_{j-1}^T`` from frames ``V_j`` (``(B, d_j, r)``, orthonormal columns).

    Balanced for any positive ``s`` (``(r,)`` or ``(B, r)``); the product is ``V_N diag(s)^N V_0^T``,
    so fixing ``V_0``, ``V_N`` and ``s^N`` fixes the end-to-end matrix at every depth.
    """
    B, r = Vs[0].shape[0], Vs[0].shape[2]
    s = np.broadcast_to(np.asarray(s, dtype=float), (B, r))
    return [(Vs[j + 1] * s[:, None, :]) @ np.swapaxes(Vs[j], 1, 2) for j in range(len(Vs) - 1)]


def section5_problem(rng: np.random.Generator, dims: list[int] | tuple[int, ...], rank: int,
                     m: int, target_scale: float = 1.0) -> tuple[LinearProblem, np.ndarray, np.ndarray]:
    """Data of Section 5 [P] with our constants [M]: ``X`` (d_x, m) i.i.d. N(0, 1/m),
    ``Y = W~ X`` with ``W~ = W~_N ... W~_1`` from :func:`balanced_init` (rank ``rank``).

    The global minimum of ``L^N`` is then 0. Returns ``(problem, X, W~)``.
    """
    X = rng.standard_normal((dims[0], m)) / np.sqrt(m)
    Wt = linear.product(balanced_init(rng, dims, rank, 1, scale=target_scale ** (1.0 / (len(dims) - 1))))[0]
    return linear.from_data(X, Wt @ X), X, Wt


#: Sizes of the Section 5 experiments [M] (the paper's formulas for them are [U]): input/output
#: dimension ``d``, hidden width ``hidden``, rank ``rank`` of target and initialisation, sample
#: size ``m`` and the default number of GD steps. ``paper`` follows the sizes suggested by the
#: authors' figure file names (d = 70, rank 25) [SEC]; its step budget is still far below 10^6.
PRESETS: dict[str, dict[str, int]] = {
    "quick": {"d": 8, "hidden": 6, "rank": 2, "m": 40, "n_steps": 4000},
    "paper": {"d": 70, "hidden": 50, "rank": 25, "m": 210, "n_steps": 20000},
}


def preset_dims(preset: str, depth: int) -> list[int]:
    """Layer dimensions ``[d, hidden, ..., hidden, d]`` (``depth`` factors) of a preset [M]."""
    p = PRESETS[preset]
    return [p["d"]] + [p["hidden"]] * (depth - 1) + [p["d"]]


def section5_setup(rng: np.random.Generator, preset: str, depth: int,
                   batch: int = 1) -> tuple[LinearProblem, Weights]:
    """A Section 5 problem (:func:`section5_problem`) and ``batch`` copies of one balanced
    orthogonal initialisation ``W_j = V_j V_{j-1}^T`` of the same rank, for a preset."""
    p = PRESETS[preset]
    dims = preset_dims(preset, depth)
    prob, _, _ = section5_problem(rng, dims, p["rank"], p["m"])
    W0 = balanced_init(rng, dims, p["rank"], 1)
    return prob, [np.repeat(W, batch, axis=0) for W in W0]


def whitened_problem(Wt: np.ndarray) -> LinearProblem:
    """Data with ``X X^T = I`` and ``Y = W~ X``: the setting shared with Nar & Sastry (``R = W~``)."""
    return linear.whitened(Wt)


# ---------------------------------------------------------------------------------------------
# Running GD in batch (constant or scheduled steps), with divergence handled
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A batch of GD runs: loss ``(n_steps+1, B)``, balancedness ``(n_steps+1, B)`` (or ``None``),
    certified drift ``sum_i eta_i^2 ||grad L(W(i))||^2`` ``(n_steps+1, B)``, final weights, and
    the fate per run (``"converged"``, ``"diverged"``, ``"undecided"``)."""

    loss: np.ndarray
    balance: np.ndarray | None
    drift_sum: np.ndarray
    Ws: Weights
    fate: np.ndarray


def run_gd(Ws: Weights, prob: LinearProblem, eta: float | np.ndarray, n_steps: int,
           track_balance: bool = True, tol: float = 1e-10, blowup: float = 1e8,
           loss_floor: float | np.ndarray = 0.0) -> Run:
    """``n_steps`` of GD (2.1), ``W_j <- W_j - eta_k grad_j L^N``, for a batch of ``B`` runs.

    ``eta`` broadcasts to ``(n_steps, B)``: a number, one constant step per run ``(B,)``, or a
    schedule ``(n_steps, 1)``/``(n_steps, B)``. A run whose loss becomes non-finite or exceeds
    ``blowup * L(0)`` is frozen and marked diverged; a run ends ``converged`` when
    ``L - loss_floor <= tol * L(0)`` at the last step, else ``undecided``.

    See also :func:`stepsize.linear.run_gd` (constant steps, no per-step record, fixed-point and
    2-cycle classification); both use :func:`stepsize.linear.gradients` and :func:`stepsize.linear.loss`.
    """
    B = Ws[0].shape[0]
    e_in = np.asarray(eta, dtype=float)
    etas = np.broadcast_to(e_in if e_in.ndim == 2 else np.broadcast_to(e_in, (B,))[None, :], (n_steps, B))
    losses = np.empty((n_steps + 1, B))
    bal = np.empty((n_steps + 1, B)) if track_balance else None
    dsum = np.zeros((n_steps + 1, B))
    L0 = linear.loss(Ws, prob)
    losses[0] = L0
    if track_balance:
        bal[0] = balancedness(Ws)
    alive = np.ones(B, dtype=bool)
    diverged = np.zeros(B, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps):
            Gs = linear.gradients(Ws, prob)
            g2 = sum(np.sum(G ** 2, axis=(1, 2)) for G in Gs)
            e = np.where(alive, etas[k], 0.0)
            dsum[k + 1] = dsum[k] + np.where(alive, e ** 2 * g2, 0.0)
            Ws = [W - e[:, None, None] * G for W, G in zip(Ws, Gs)]
            Lk = linear.loss(Ws, prob)
            bad = alive & (~np.isfinite(Lk) | (Lk > blowup * L0))
            if bad.any():
                diverged |= bad
                alive &= ~bad
                Ws = [np.where(bad[:, None, None], np.nan, W) for W in Ws]
            losses[k + 1] = np.where(diverged, np.inf, Lk)
            if track_balance:
                bal[k + 1] = np.where(diverged, np.inf, balancedness([np.nan_to_num(W) for W in Ws]))
    conv = ~diverged & (losses[-1] - loss_floor <= tol * L0)
    fate = np.where(diverged, "diverged", np.where(conv, "converged", "undecided"))
    return Run(loss=losses, balance=bal, drift_sum=dsum, Ws=Ws, fate=fate)


# ---------------------------------------------------------------------------------------------
# Our sufficient step-size condition [D] (in place of the paper's (2.8)-(2.11), which are [U])
# ---------------------------------------------------------------------------------------------
def product_norm_bound(prob: LinearProblem, L: float | np.ndarray) -> float | np.ndarray:
    """Bound on ``||W_N ... W_1||_2`` on the sublevel set ``{L^N <= L}`` (our form of Lemma 3.1 [D]).

    With ``W* = Y X^T (X X^T)^{-1}``, ``Y - WX = (Y - W*X) + (W* - W)X`` is an orthogonal sum, so
    ``sigma_min(X) ||W - W*||_2 <= ||(W - W*)X||_F <= sqrt(2L)``, hence
    ``||W||_2 <= ||W*||_2 + sqrt(2L) / sigma_min(X)``.
    """
    Wstar = np.linalg.solve(prob.Sxx.T, prob.Syx.T).T
    smin = np.sqrt(np.linalg.eigvalsh(prob.Sxx)[0])
    out = np.linalg.norm(Wstar, 2) + np.sqrt(2.0 * np.asarray(L, dtype=float)) / smin
    return float(out) if np.ndim(out) == 0 else out


def factor_norm_bound(depth: int, delta: float, rho: float) -> float:
    """Bound ``K`` on every ``||W_j||_2`` for tuples with balancedness constant ``delta`` and
    ``||W_N ... W_1||_2 <= rho`` (our analogue of Proposition 3.2 [D]).

    Let ``s_j = ||W_j||^2`` and ``t = s_N``. From ``W_j W_j^T <= W_{j+1}^T W_{j+1} + delta I``,
    ``s_j <= t + (N-j) delta =: sigma_j``. Comparing ``W_{k:1} W_{k:1}^T`` with ``(W_k W_k^T)^k``
    and using ``||(A-D)^k - A^k|| <= (||A|| + ||D||)^k - ||A||^k`` gives the error recursion
    ``e_1 = 0``, ``e_{k+1} = sigma_{k+1} [(sigma_{k+1} + delta)^k - sigma_{k+1}^k + e_k]``, so
    ``rho^2 >= ||W||^2 >= t^N - e_N(t)``. Hence ``t <= t*``, the largest real root of
    ``t^N - e_N(t) - rho^2`` (degree N, ``e_N`` of degree N-1), and ``K^2 = t* + (N-1) delta``.
    For ``delta = 0`` this is exact: ``K = rho^{1/N}``.
    """
    N = int(depth)
    if N < 1 or delta < 0 or rho < 0:
        raise ValueError("need depth >= 1, delta >= 0, rho >= 0")
    P = np.polynomial.polynomial
    e = np.zeros(1)
    for k in range(1, N):  # builds e_{k+1}; sig = t + a with a = (N-k-1) delta
        a = (N - (k + 1)) * delta
        i = np.arange(k + 1)
        binom = np.array([math.comb(k, int(j)) for j in i], dtype=float)
        diff = binom * ((a + delta) ** (k - i) - a ** (k - i))  # (t+a+delta)^k - (t+a)^k, by powers of t
        inner = np.zeros(max(diff.size, e.size))
        inner[:diff.size] += diff
        inner[:e.size] += e
        e = np.convolve(np.array([a, 1.0]), inner)
    f = P.polysub(np.eye(N + 1)[N], e)
    f[0] -= rho ** 2
    roots = P.polyroots(f)
    real = roots[np.abs(np.imag(roots)) <= 1e-9 * max(1.0, np.max(np.abs(roots)))].real
    tstar = max(0.0, float(np.max(real))) if real.size else 0.0
    return float(np.sqrt(tstar + (N - 1) * delta))


def hessian_bound(depth: int, K: float | np.ndarray, x_norm: float,
                  res_norm: float | np.ndarray) -> float | np.ndarray:
    """Bound on ``||Hess L^N||`` where every ``||W_j||_2 <= K`` and ``||(WX - Y)X^T||_F <= res_norm`` [D].

    The second derivative in a unit direction ``V`` is
    ``||sum_j A_j V_j B_j X||_F^2 + 2 <E, sum_{i<j} A_j V_j W_{j-1..i+1} V_i B_i>``; Cauchy-Schwarz
    gives ``<= N K^{2N-2} ||X||^2 + (N-1) K^{N-2} res_norm`` (cf. the structure of (3.16)).
    """
    N = int(depth)
    K = np.asarray(K, dtype=float)
    out = N * K ** (2 * N - 2) * x_norm ** 2 + (N - 1) * K ** (N - 2) * np.asarray(res_norm, dtype=float)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class StepBound:
    """Our sufficient constant step [D]: ``eta = min(eta_balance, eta_smooth)`` for balancedness
    ``delta``; ``K`` bounds the factors, ``beta`` the Hessian along every step."""

    eta: float
    eta_balance: float
    eta_smooth: float
    delta: float
    K: float
    beta: float


def step_bound(prob: LinearProblem, depth: int, L0: float, delta: float, alpha: float = 0.0) -> StepBound:
    """Our sufficient condition on the steps, in place of (2.8) [D] (the paper's constants are [U]).

    If ``W(0)`` has balancedness constant ``alpha*delta`` and loss ``L0`` and every step satisfies
    ``eta_k <= eta``, then for all k: ``L(k+1) <= L(k) - (eta_k/2)||grad L(k)||^2`` and ``W(k)`` has
    balancedness constant ``<= delta`` (so, as in Proposition 3.4, the iterates stay bounded and
    Theorem 2.4's Lojasiewicz argument applies). Proof by induction:

    * on ``{L <= L0, balancedness <= delta}`` the factors satisfy ``||W_j|| <= K`` (
      :func:`product_norm_bound`, :func:`factor_norm_bound`) and ``||G_j||_F <= g = K^{N-1} sqrt(2 L0) ||X||``;
    * along the step segment ``||W_j|| <= K' = K + eta g`` and the residual is at most
      ``r = ||X|| (sqrt(2 L0) + ||X|| N K'^{N-1} eta g)``; with ``beta = hessian_bound(N, K', ||X||, r)``
      and ``eta beta <= 1`` the descent lemma gives the decrease;
    * by :func:`drift`, ``||D_j(k)|| <= alpha delta + sum_i eta_i^2 ||grad L(i)||^2
      <= alpha delta + eta * 2 (L0 - L(k))``, which is ``<= delta`` if ``eta <= (1-alpha) delta / (2 L0)``.

    ``eta_smooth`` is the largest ``eta`` with ``eta beta(eta) <= 1`` (``beta`` increases with eta),
    found by bisection.
    """
    x_norm = float(np.sqrt(np.linalg.eigvalsh(prob.Sxx)[-1]))
    return _step_bound(int(depth), L0, delta, alpha, x_norm, product_norm_bound(prob, L0))


def _step_bound(N: int, L0: float, delta: float, alpha: float, x_norm: float, rho_bar: float) -> StepBound:
    """:func:`step_bound` from the problem's constants ``||X||_2`` and the product bound."""
    if not (0 <= alpha < 1) or delta <= 0 or L0 < 0:
        raise ValueError("need 0 <= alpha < 1, delta > 0, L0 >= 0")
    K = factor_norm_bound(N, delta, rho_bar)
    g = K ** (N - 1) * np.sqrt(2.0 * L0) * x_norm

    def beta(eta: float) -> float:
        Kp = K + eta * g
        res = x_norm * (np.sqrt(2.0 * L0) + x_norm * N * Kp ** (N - 1) * eta * g)
        return hessian_bound(N, Kp, x_norm, res)

    lo, hi = 0.0, 1.0 / beta(0.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid * beta(mid) <= 1.0 else (lo, mid)
    eta_s = lo
    eta_b = np.inf if L0 == 0 else (1.0 - alpha) * delta / (2.0 * L0)
    return StepBound(eta=float(min(eta_s, eta_b)), eta_balance=float(eta_b), eta_smooth=float(eta_s),
                     delta=float(delta), K=float(K), beta=float(beta(eta_s)))


def best_step_bound(prob: LinearProblem, depth: int, L0: float, alpha: float = 0.0,
                    deltas: np.ndarray | None = None) -> StepBound:
    """:func:`step_bound` maximised over ``delta`` (what Remark 2.5(b) suggests doing numerically;
    the paper's closed-form choice of delta is [U]).

    ``eta(delta)`` is the minimum of an increasing term (``(1-alpha) delta / (2 L0)``) and a
    decreasing one (``eta_smooth``), hence unimodal: a coarse log grid (``deltas``, default
    ``10^-4 .. 10^2``) brackets the maximum and a golden-section search on ``log delta`` refines it.
    """
    if deltas is None:
        deltas = np.logspace(-4, 2, 25)
    deltas = np.sort(np.asarray(deltas, dtype=float))
    x_norm = float(np.sqrt(np.linalg.eigvalsh(prob.Sxx)[-1]))
    rho_bar = product_norm_bound(prob, L0)
    f = lambda d: _step_bound(int(depth), L0, float(d), alpha, x_norm, rho_bar)  # noqa: E731
    coarse = [f(d) for d in deltas]
    i = int(np.argmax([b.eta for b in coarse]))
    best = coarse[i]
    a, b = np.log(deltas[max(i - 1, 0)]), np.log(deltas[min(i + 1, deltas.size - 1)])
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(np.exp(c)), f(np.exp(d))
    for _ in range(30):
        if fc.eta >= fd.eta:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(np.exp(d))
    for cand in (fc, fd):
        if cand.eta > best.eta:
            best = cand
    return best


# ---------------------------------------------------------------------------------------------
# Decreasing steps (5.2) and a sufficient condition on their constants (5.3) [M]/[D]
# ---------------------------------------------------------------------------------------------
def schedule(n_steps: int, c: float | np.ndarray, k0: float | np.ndarray,
             gamma: float | np.ndarray) -> np.ndarray:
    """Decreasing steps ``eta_k = c / (k + k0)^gamma``, k = 0..n_steps-1, shape ``(n_steps, S)``
    for ``S`` schedules (the form of (5.2) is [M]; its exact constants are [U])."""
    k = np.arange(n_steps, dtype=float)[:, None]
    c, k0, gamma = (np.atleast_1d(np.asarray(v, dtype=float))[None, :] for v in (c, k0, gamma))
    return c / (k + k0) ** gamma


def schedule_constant(eta_bar: float | np.ndarray, k0: float | np.ndarray,
                      gamma: float | np.ndarray) -> float | np.ndarray:
    """Largest ``c`` with ``c / (k + k0)^gamma <= eta_bar`` for all ``k >= 0``: ``c = eta_bar k0^gamma``.

    Our sufficient condition in place of (5.3) [D]: the schedule decreases, so its largest step is
    ``eta_0``; :func:`step_bound` only needs ``max_k eta_k <= eta_bar``. With ``gamma <= 1`` the
    steps also sum to infinity.
    """
    out = np.asarray(eta_bar, dtype=float) * np.asarray(k0, dtype=float) ** np.asarray(gamma, dtype=float)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------------
# Theorem 2.6: global minimum on the rank-k manifold
# ---------------------------------------------------------------------------------------------
def min_loss_rank(prob: LinearProblem, k: int) -> float:
    """``min { L^1(W) : rank W <= k } = 1/2 ||Y||_F^2 - 1/2 sum_{i<=k} lambda_i(Q)`` with
    ``Q = Y X^T (X X^T)^{-1} X Y^T`` (eq. (2.6)) [D]: the best rank-k fit of ``Y`` within the
    row space of ``X`` (Eckart-Young after whitening)."""
    Q = prob.Syx @ np.linalg.solve(prob.Sxx, prob.Syx.T)
    lam = np.sort(np.linalg.eigvalsh(0.5 * (Q + Q.T)))[::-1]
    return float(max(0.5 * prob.yy - 0.5 * np.sum(lam[:k]), 0.0))


def numerical_rank(P: np.ndarray, rtol: float = 1e-3) -> np.ndarray:
    """Number of singular values above ``rtol * sigma_max``, per matrix of a batch ``(B, m, n)``."""
    s = np.linalg.svd(P, compute_uv=False)
    return np.sum(s > rtol * s[:, :1], axis=1)


def largest_converging(etas: np.ndarray, fate: np.ndarray) -> float:
    """The measured critical step of a sweep: the largest ``eta`` whose run converged (NaN if none)."""
    ok = np.asarray(fate) == "converged"
    return float(np.max(np.asarray(etas)[ok])) if ok.any() else float("nan")

"""Balancedness and step-size bounds for deep linear networks (Nguegnang, Rauhut & Terstiege).

Networks are the batched lists of :mod:`stepsize.models.linear` (``Ws[j-1]`` of shape ``(B, d_j, d_{j-1})``);
the loss is ``L^N(W) = 1/2 ||Y - W_N ... W_1 X||_F^2`` (:func:`stepsize.models.linear.loss`).

Provenance (see ``shared/paper-math.md``). Definition 2.3 and the drift identity are the paper's
notions restated [P]/[D]. The paper's constants (2.8)-(2.11) and (5.1)-(5.3) were **not recovered**
[U]; :func:`step_bound` is *our own* sufficient condition [D], derived with the same ingredients
(a bound on the product from the loss, a bound on the factors from balancedness, a Hessian bound
on a sublevel set, and the drift identity), and proved in the docstrings below. It is not the
paper's constant.

:func:`run_gd` runs batches of GD with one fate rule for every run,
:func:`stepsize.dynamics.decide_fates` (converged = settled and ``eta * lambda_max < 2``, with
``lambda_max`` from :mod:`stepsize.sharpness`); runs still undecided after their budget are
continued up to a cap (:func:`step_budget`, :func:`step_cap`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import sharpness
from . import linear
from .linear import LinearProblem, Weights


# ---------------------------------------------------------------------------------------------
# Definition 2.3 and the drift of balancedness under one GD step
# ---------------------------------------------------------------------------------------------
def imbalance_matrices(Ws: Weights) -> list[np.ndarray]:
    """``D_j = W_{j+1}^T W_{j+1} - W_j W_j^T`` for j = 1..N-1, each ``(B, d_j, d_j)``.

    Constant in time under gradient flow (eq. (2.3)); zero for a balanced tuple (eq. (2.4)).
    """
    T = lambda M: np.swapaxes(M, 1, 2)
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


def balanced_init(
    rng: np.random.Generator,
    dims: list[int] | tuple[int, ...],
    rank: int,
    batch: int = 1,
    scale: float = 1.0,
    spectrum: np.ndarray | None = None,
) -> Weights:
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


def section5_problem(
    rng: np.random.Generator, dims: list[int] | tuple[int, ...], rank: int, m: int, target_scale: float = 1.0
) -> tuple[LinearProblem, np.ndarray, np.ndarray]:
    """Data of Section 5 [P] with our constants [M]: ``X`` (d_x, m) i.i.d. N(0, 1/m),
    ``Y = W~ X`` with ``W~ = W~_N ... W~_1`` from :func:`balanced_init` (rank ``rank``).

    The global minimum of ``L^N`` is then 0. Returns ``(problem, X, W~)``.
    """
    X = rng.standard_normal((dims[0], m)) / np.sqrt(m)
    Wt = linear.product(balanced_init(rng, dims, rank, 1, scale=target_scale ** (1.0 / (len(dims) - 1))))[0]
    return linear.from_data(X, Wt @ X), X, Wt


#: Sizes of the Section 5 experiments [M] (the paper's formulas for them are [U]): input/output
#: dimension ``d``, hidden width ``hidden``, rank ``rank`` of target and initialisation, sample
#: size ``m``; ``n_steps`` is the least GD step budget of a run at these sizes (:func:`step_budget`:
#: the chapter's ``n_steps`` may raise it) and ``extend`` the factor up to which runs still
#: undecided after the budget are continued (:func:`step_cap`); ``k0`` is the least offset of the
#: decreasing schedules (:func:`schedule_offset`: the chapter's ``k0`` may raise it). ``paper``
#: follows the sizes suggested by the authors' figure file names (d = 70, rank 25) [SEC].
PRESETS: dict[str, dict[str, int]] = {
    "quick": {"d": 8, "hidden": 6, "rank": 2, "m": 40, "n_steps": 10, "extend": 16, "k0": 1},
    "paper": {"d": 70, "hidden": 50, "rank": 25, "m": 210, "n_steps": 5000, "extend": 50, "k0": 120000},
}


def preset_dims(preset: str, depth: int) -> list[int]:
    """Layer dimensions ``[d, hidden, ..., hidden, d]`` (``depth`` factors) of a preset [M]."""
    p = PRESETS[preset]
    return [p["d"]] + [p["hidden"]] * (depth - 1) + [p["d"]]


def section5_setup(rng: np.random.Generator, preset: str, depth: int, batch: int = 1) -> tuple[LinearProblem, Weights]:
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
# Step budgets of the presets
# ---------------------------------------------------------------------------------------------
def step_budget(preset: str, n_steps: int) -> int:
    """The GD step budget of a run at a preset's size: ``max(n_steps, PRESETS[preset]["n_steps"])``.

    A preset's ``n_steps`` is the least budget its sizes need; the chapter's ``n_steps`` parameter
    can raise it, never lower it.
    """
    return max(int(n_steps), int(PRESETS[preset]["n_steps"]))


def step_cap(preset: str, budget: int) -> int:
    """The cap up to which runs still undecided after ``budget`` steps are continued:
    ``PRESETS[preset]["extend"] * budget``."""
    return int(PRESETS[preset]["extend"]) * int(budget)


def schedule_offset(preset: str, k0: float) -> float:
    """The offset of the decreasing schedules ``c / (k + k0)^gamma`` at a preset's size [M]:
    ``max(k0, PRESETS[preset]["k0"])`` (the chapter's ``k0`` can raise it, never lower it).

    Why a least offset: with the same largest step, a schedule makes the total step
    ``sum_k eta_k`` that the constant step makes in ``K_0`` steps only after about
    ``k0 (exp(K_0 / k0) - 1)`` steps when ``gamma = 1`` (:func:`schedule_steps_for`), exponentially
    many once ``k0`` is small against ``K_0``. At the ``paper`` sizes ``K_0`` is about 1.6e4 (N = 3)
    and 1.3e5 (N = 5) steps, 10 to 60 times the ``quick`` sizes', so the ``quick`` offset would need
    1e16 steps or more; ``k0 = 1.2e5`` keeps every schedule of depths up to 5 within the step cap
    (``gamma = 1`` at N = 5: about 2.2e5 of 2.5e5), which is what lets the budget decide.
    """
    return float(max(float(k0), float(PRESETS[preset]["k0"])))


# ---------------------------------------------------------------------------------------------
# Running GD in batch (constant or scheduled steps), with divergence handled and fates decided
# by the one rule of stepsize.dynamics
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A batch of GD runs.

    ``loss`` ``(T+1, B)`` and ``balance`` ``(T+1, B)`` (or ``None``) record every step up to the
    longest run ``T``; a run that stopped earlier (decided) keeps its last value, a diverged run
    holds ``inf``. ``drift_sum`` is the certified drift ``sum_i eta_i^2 ||grad L(W(i))||^2``.
    ``fate`` is ``"converged"``, ``"diverged"`` or ``"undecided"`` (from ``kind``, values of
    :class:`stepsize.dynamics.Fate` given by :func:`stepsize.dynamics.decide_fates`);
    ``eta_sharpness`` is ``eta * lambda_max(H)`` where a settled run stopped (NaN elsewhere; for
    networks above 400 parameters it may be ``eta`` times a certified upper bound below ``2 / eta``,
    see :func:`lambda_max_at`);
    ``steps`` the number of steps each run made; ``n_steps`` the budget and ``max_steps`` the cap
    of the automatic extension; ``needed`` an estimate of the steps an undecided run would need
    (``-1``: none, e.g. its loss does not decrease); ``wandering`` marks undecided runs whose loss
    kept rising and falling when they were stopped (see ``stop_wandering``).
    """

    loss: np.ndarray
    balance: np.ndarray | None
    drift_sum: np.ndarray
    Ws: Weights
    fate: np.ndarray
    kind: np.ndarray
    eta_sharpness: np.ndarray
    steps: np.ndarray
    n_steps: int
    max_steps: int
    needed: np.ndarray
    wandering: np.ndarray | None = None


def loss_and_gradients(Ws: Weights, prob: LinearProblem, recursive: bool = False) -> tuple[np.ndarray, Weights]:
    """The loss ``L^N`` per run ``(B,)`` and its gradients (3.1), from one pass over the products.

    With ``P = W_N ... W_1`` and ``E = P Sxx - Syx``: ``L = 1/2 <P Sxx, P> - <P, Syx> + 1/2 ||Y||^2``
    (clipped at 0 against rounding) and ``grad_j = (W_N ... W_{j+1})^T E (W_{j-1} ... W_1)^T``.
    The same values as :func:`stepsize.models.linear.loss` and :func:`stepsize.models.linear.gradients` (to
    rounding), with ``P Sxx`` shared between them and two-operand contractions only.

    With ``recursive`` the left factors come from the recursion ``F_N = E``, ``F_{j-1} = W_j^T F_j``
    (``F_j = (W_N ... W_{j+1})^T E``) instead of the products ``W_N ... W_{j+1}``: each middle layer
    costs two products of the small sizes instead of three (1.2-1.5x faster per step at the
    ``paper`` sizes), equal to the default order to rounding (tested) but not bit for bit, which is
    why it is not the default (the stored outputs of the chapters come from the default order).
    """
    L = len(Ws)
    below: list[np.ndarray | None] = [None]
    for W in Ws:
        below.append(W if below[-1] is None else W @ below[-1])
    P = below[L]
    PS = P @ prob.Sxx
    quad = np.sum((PS * P).reshape(P.shape[0], -1), axis=1)
    lin = np.sum((P * prob.Syx).reshape(P.shape[0], -1), axis=1)
    Lk = np.maximum(0.5 * quad - lin + 0.5 * prob.yy, 0.0)
    E = PS - prob.Syx
    Gs: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    if recursive:
        F = E  # then (W_N ... W_{j+1})^T E, layer by layer
        for j in range(L - 1, -1, -1):  # 0-based layer j holds W_{j+1}
            Gs[j] = F if below[j] is None else F @ np.swapaxes(below[j], 1, 2)
            if j > 0:
                F = np.swapaxes(Ws[j], 1, 2) @ F
        return Lk, Gs
    above: np.ndarray | None = None  # W_N ... W_{j+2} for layer index j (0-based)
    for j in range(L - 1, -1, -1):
        G = E if above is None else np.swapaxes(above, 1, 2) @ E
        Gs[j] = G if below[j] is None else G @ np.swapaxes(below[j], 1, 2)
        if j > 0:  # W_N ... W_1 itself is never needed (it is P): one product fewer, same values
            above = Ws[j] if above is None else above @ Ws[j]
    return Lk, Gs


def lambda_max_at(
    Ws: Weights, prob: LinearProblem, dense_below: int = 400, certify_below: np.ndarray | None = None
) -> np.ndarray:
    """``lambda_max`` of the Hessian of ``L^N`` at every network of a batch, ``(B,)``.

    Dense ``eigvalsh`` of the assembled Hessian (:func:`stepsize.models.linear.dense_hessian`) when the
    network has at most ``dense_below`` parameters, else Lanczos on Hessian-vector products
    (:func:`stepsize.sharpness.lambda_max_hvp`, relative tolerance 1e-6); NaN where Lanczos did
    not converge (unknown). For large networks with ``certify_below`` (``(B,)``, e.g. ``2 / eta``),
    a run whose rigorous bound :func:`hessian_bound` (factor norms and residual at that point) is
    already below it gets that bound instead, an upper bound on ``lambda_max`` that suffices to
    certify stability; Lanczos runs only where the bound does not decide.
    """
    shapes = linear.shapes_of(Ws)
    n = sum(a * b for a, b in shapes)
    B = Ws[0].shape[0]
    if B == 0:
        return np.zeros(0)
    if n <= dense_below:
        return np.asarray(sharpness.lambda_max_dense(linear.dense_hessian(Ws, prob), symmetric_tol=1e-6))
    out = np.full(B, np.nan)
    todo = np.ones(B, dtype=bool)
    if certify_below is not None:
        K = np.max([np.linalg.norm(W, 2, axis=(1, 2)) for W in Ws], axis=0)
        res = np.linalg.norm(linear.residual(Ws, prob), axis=(1, 2))
        x_norm = float(np.sqrt(np.linalg.eigvalsh(prob.Sxx)[-1]))
        bound = np.asarray(hessian_bound(len(Ws), K, x_norm, res), dtype=float).reshape(B)
        ok = bound < np.broadcast_to(np.asarray(certify_below, dtype=float), (B,))
        out[ok] = bound[ok]
        todo = ~ok
    for i in np.flatnonzero(todo):
        Wi = [W[i : i + 1] for W in Ws]

        def hv(v: np.ndarray, Wi: Weights = Wi) -> np.ndarray:
            return linear.pack(linear.hvp(Wi, prob, linear.unpack(v[None, :], shapes)))[0]

        try:
            out[i] = sharpness.lambda_max_hvp(hv, n, rtol=1e-6)
        except sharpness.NotConverged:
            pass
    return out


def _settled(losses: np.ndarray, L0: np.ndarray, floor: np.ndarray, tol: float) -> np.ndarray:
    """Period 1 (settled) where, over the recorded trailing window ``losses`` ``(w+1, b)``, the loss
    stayed within ``tol * L0`` of its floor and never rose by more than ``1e-12 * L0``; else 0."""
    with np.errstate(invalid="ignore"):
        low = np.all(losses - floor <= tol * L0, axis=0)
        flat = np.all(np.diff(losses, axis=0) <= 1e-12 * L0, axis=0)
    return np.where(np.all(np.isfinite(losses), axis=0) & low & flat, 1, 0)


def steps_needed(loss: np.ndarray, L0: float, floor: float, tol: float, window: int = 16) -> int:
    """Estimated number of steps a run needs to be settled, from the geometric decay of its gap
    ``loss - floor`` over the last tenth of its record (at least ``window`` steps); ``-1`` when the
    gap does not decrease (no estimate)."""
    T = loss.shape[0] - 1
    if T < 2 or not np.isfinite(loss[-1]):
        return -1
    gap_end = loss[-1] - floor
    if gap_end <= tol * L0:
        return T + window
    w = int(min(T, max(window, T // 10)))
    gap_start = loss[-1 - w] - floor
    if not (gap_start > gap_end > 0):
        return -1
    rate = (gap_end / gap_start) ** (1.0 / w)
    if not rate < 1.0:
        return -1
    return math.ceil(T + math.log(tol * L0 / gap_end) / math.log(rate)) + window


def run_gd(
    Ws: Weights,
    prob: LinearProblem,
    eta: float | np.ndarray,
    n_steps: int,
    track_balance: bool = True,
    tol: float | np.ndarray = 1e-10,
    blowup: float = 1e8,
    loss_floor: float | np.ndarray = 0.0,
    *,
    max_steps: int | None = None,
    window: int = 16,
    check_stability: bool = True,
    extend: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    max_period: int = 8,
    period_tol: float = 1e-9,
    leave_early: bool = False,
    stop_wandering: bool = False,
    recursive: bool = False,
) -> Run:
    """GD (2.1), ``W_j <- W_j - eta_k grad_j L^N``, for a batch of ``B`` runs, with fates decided.

    ``eta`` broadcasts to ``(steps, B)``: a number, one constant step per run ``(B,)``, or a
    schedule ``(S, 1)``/``(S, B)`` with ``S >= max_steps``. Every run makes ``n_steps`` steps (the
    budget). A run whose loss becomes non-finite or exceeds ``blowup * L(0)`` is frozen and
    ``DIVERGED``. After the budget, and then every ``max(2 window, n_steps // 4)`` steps, the runs
    not yet decided are classified; those still undecided continue, alone, up to ``max_steps``
    steps (default: ``n_steps``, no extension). ``extend`` (bool ``(B,)``, default all) selects
    the runs that may be extended: the others stop after the budget, decided or not. It may also
    be a function of the current fates (``kind``, values of :class:`stepsize.dynamics.Fate`)
    returning that mask, so that runs stop being extended once the verdict no longer needs them.
    With ``leave_early`` the runs are also classified every ``chunk`` steps within the budget and a
    decided run leaves the batch at once (it needs no more steps; its record then ends there): this
    saves the work at large sizes, while the budget still bounds when a run may be called undecided.
    With ``stop_wandering`` a run still undecided after 4 budgets whose loss rose within its last
    ``2 window`` steps (neither settling nor periodic: a longer run promises no decision) is not
    extended; it stays ``UNDECIDED`` and is marked in ``Run.wandering``. ``recursive`` selects the
    faster order of the gradient products (:func:`loss_and_gradients`; equal to rounding).

    The fate is the one rule :func:`stepsize.dynamics.decide_fates`: a run is *settled* when over
    its last ``window`` steps its loss stayed within ``tol * L(0)`` of ``loss_floor`` (both numbers
    or one per run) without
    rising, and ``CONVERGED`` only when it is also linearly stable there, ``eta * lambda_max(H) < 2``
    (:func:`lambda_max_at`; with ``check_stability=False`` the sharpness is not computed and a
    settled run stays ``UNDECIDED``). A run that has not settled is probed for a periodic orbit:
    ``2 max_period`` further steps, off the record, and :func:`stepsize.dynamics.settled_period`
    with relative tolerance ``period_tol``; an orbit of period ``2 .. max_period`` is ``PERIODIC``
    (its multipliers are not computed).
    """
    from ..dynamics import Fate, decide_fates, settled_period

    B = Ws[0].shape[0]
    n_steps = int(n_steps)
    max_steps = n_steps if max_steps is None else max(int(max_steps), n_steps)
    e_in = np.asarray(eta, dtype=float)
    if e_in.ndim == 2:
        if e_in.shape[0] < max_steps:
            raise ValueError(f"run_gd: a schedule needs at least max_steps = {max_steps} rows")
        etas = np.broadcast_to(e_in, (e_in.shape[0], B))
    else:
        etas = np.broadcast_to(np.broadcast_to(e_in, (B,))[None, :], (max_steps, B))
    floor = np.broadcast_to(np.asarray(loss_floor, dtype=float), (B,))
    tol_b = np.broadcast_to(np.asarray(tol, dtype=float), (B,))
    chunk = max(2 * window, n_steps // 4)

    def may_extend() -> np.ndarray:
        if extend is None:
            return np.ones(B, dtype=bool)
        m = extend(kind) if callable(extend) else extend
        return np.broadcast_to(np.asarray(m, dtype=bool), (B,))

    losses = [None] * (max_steps + 1)
    bal = [None] * (max_steps + 1) if track_balance else None
    dsum = [None] * (max_steps + 1)
    Ws = [np.array(W, dtype=float, copy=True) for W in Ws]
    cur_loss = np.full(B, np.nan)
    cur_bal = np.zeros(B)
    cur_dsum = np.zeros(B)
    L0 = np.full(B, np.nan)
    diverged = np.zeros(B, dtype=bool)
    done = np.zeros(B, dtype=bool)
    kind = np.full(B, int(Fate.UNDECIDED), dtype=np.int8)
    es = np.full(B, np.nan)
    steps = np.zeros(B, dtype=np.int64)
    wandering = np.zeros(B, dtype=bool)
    act = np.arange(B)
    Wa = Ws

    def classify(idx: np.ndarray, k: int) -> None:
        """Decide the runs ``idx`` (indices into the batch) after ``k`` steps."""
        w = min(window, k)
        tail = np.array([losses[t][idx] for t in range(k - w, k + 1)])
        period = _settled(tail, L0[idx], floor[idx], tol_b[idx]) if w > 0 else np.zeros(idx.size, dtype=int)
        cand = (period == 0) & ~diverged[idx]
        if max_period >= 2 and cand.any():  # a settled orbit? probe 2 max_period steps off the record
            sel = idx[cand]
            probe = [W[sel] for W in Ws]
            tail = [linear.pack(probe)]
            with np.errstate(over="ignore", invalid="ignore"):
                for t in range(2 * max_period):
                    _, Gp = loss_and_gradients(probe, prob, recursive)
                    e = etas[min(k + t, etas.shape[0] - 1), sel]
                    probe = [W - e[:, None, None] * G for W, G in zip(probe, Gp)]
                    tail.append(linear.pack(probe))
            per = settled_period(np.array(tail), period_tol, max_period, np.zeros(sel.size, dtype=bool))
            period[cand] = np.where(per >= 2, per, 0)
        s = period == 1
        eta_last = etas[max(min(k, etas.shape[0]), 1) - 1]
        if check_stability and s.any():
            sel = idx[s]
            lam = lambda_max_at([W[sel] for W in Ws], prob, certify_below=2.0 / eta_last[sel])
            es[sel] = eta_last[sel] * lam
        kind[idx] = decide_fates(period, diverged[idx], es[idx])

    k = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while True:
            Lk, Gs = loss_and_gradients(Wa, prob, recursive)
            if k == 0:
                L0[:] = Lk
            bad = ~np.isfinite(Lk) | (Lk > blowup * L0[act])
            cur_loss[act] = np.where(bad, np.inf, Lk)
            if track_balance:
                cur_bal[act] = np.where(
                    bad, np.inf, balancedness(Wa) if not bad.any() else balancedness([np.nan_to_num(W) for W in Wa])
                )
            losses[k] = cur_loss.copy()
            if track_balance:
                bal[k] = cur_bal.copy()
            dsum[k] = cur_dsum.copy()
            if bad.any():
                diverged[act[bad]] = True
                done[act[bad]] = True
            stop_now = np.zeros(act.size, dtype=bool) | bad
            check = (k >= n_steps and ((k - n_steps) % chunk == 0 or k == max_steps)) or (
                leave_early and 0 < k < n_steps and k % chunk == 0
            )
            if check:
                for W, Wsub in zip(Ws, Wa):
                    W[act] = Wsub
                idx = act[~bad]
                classify(idx, k)
                decided = kind[idx] != int(Fate.UNDECIDED)
                if k >= n_steps:
                    decided |= ~may_extend()[idx]
                    if stop_wandering and k >= 4 * n_steps and k > 2 * window:
                        tail = np.array([losses[t][idx] for t in range(k - 2 * window, k + 1)])
                        wand = ~decided & np.any(np.diff(tail, axis=0) > 1e-12 * L0[idx], axis=0)
                        wandering[idx[wand]] = True
                        decided |= wand
                done[idx[decided]] = True
                stop_now[~bad] = decided
            if k == max_steps or not (~stop_now).any():
                break
            if stop_now.any():
                keep = ~stop_now
                for W, Wsub in zip(Ws, Wa):
                    W[act] = Wsub
                act = act[keep]
                Wa = [W[act] for W in Ws]
                Gs = [G[keep] for G in Gs]
            e = etas[k, act]
            g2 = sum(np.sum((G * G).reshape(G.shape[0], -1), axis=1) for G in Gs)
            cur_dsum[act] = cur_dsum[act] + e**2 * g2
            Wa = [W - e[:, None, None] * G for W, G in zip(Wa, Gs)]
            steps[act] += 1
            k += 1
    for W, Wsub in zip(Ws, Wa):
        W[act] = Wsub
        W[diverged] = np.nan
    T = k
    loss_arr = np.array(losses[: T + 1])
    bal_arr = np.array(bal[: T + 1]) if track_balance else None
    dsum_arr = np.array(dsum[: T + 1])
    kind[diverged] = int(Fate.DIVERGED)
    needed = np.full(B, -1, dtype=np.int64)
    for i in np.flatnonzero(kind == int(Fate.UNDECIDED)):
        needed[i] = steps_needed(loss_arr[: steps[i] + 1, i], float(L0[i]), float(floor[i]), float(tol_b[i]), window)
    names = {
        int(Fate.CONVERGED): "converged",
        int(Fate.DIVERGED): "diverged",
        int(Fate.PERIODIC): "periodic",
        int(Fate.UNDECIDED): "undecided",
    }
    fate = np.array([names[int(c)] for c in kind])
    return Run(
        loss=loss_arr,
        balance=bal_arr,
        drift_sum=dsum_arr,
        Ws=Ws,
        fate=fate,
        kind=kind,
        eta_sharpness=es,
        steps=steps,
        n_steps=n_steps,
        max_steps=max_steps,
        needed=needed,
        wandering=wandering,
    )


def merge_runs(runs: list[Run]) -> Run:
    """Runs of separate :func:`run_gd` calls (same ``n_steps`` and ``max_steps``) as one batch.

    The records ``(T_i + 1, B_i)`` are padded to the longest ``T`` by repeating their last row, which
    is what :func:`run_gd` stores for a run that stopped before the others: the merge equals the
    batched call on the same starts and steps (runs never interact; tested bit for bit).
    """
    if len({(r.n_steps, r.max_steps) for r in runs}) != 1:
        raise ValueError("merge_runs: the runs need the same n_steps and max_steps")
    T = max(r.loss.shape[0] for r in runs)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.repeat(a[-1:], T - a.shape[0], axis=0)])

    cat = lambda name: np.concatenate([getattr(r, name) for r in runs])
    bal = None if runs[0].balance is None else np.concatenate([pad(r.balance) for r in runs], axis=1)
    wand = None if runs[0].wandering is None else cat("wandering")
    return Run(
        loss=np.concatenate([pad(r.loss) for r in runs], axis=1),
        balance=bal,
        drift_sum=np.concatenate([pad(r.drift_sum) for r in runs], axis=1),
        Ws=[np.concatenate(Ws) for Ws in zip(*(r.Ws for r in runs))],
        fate=cat("fate"),
        kind=cat("kind"),
        eta_sharpness=cat("eta_sharpness"),
        steps=cat("steps"),
        n_steps=runs[0].n_steps,
        max_steps=runs[0].max_steps,
        needed=cat("needed"),
        wandering=wand,
    )


def run_gd_many(jobs: list[dict], workers: int = 2) -> list[Run]:
    """:func:`run_gd` on each job (a dict of its arguments), ``workers`` jobs at a time, in order.

    The jobs run in separate processes (:func:`stepsize.parallel.process_map`, BLAS at one thread
    each): a run of small matrices is mostly short numpy calls that hold the GIL, so two threads ran
    it barely faster than one (measured), two processes twice as fast. Each job's arithmetic is that
    of a call on its own: the results are deterministic and equal to calling :func:`run_gd` job by
    job (tested). Submit the longest jobs first for the shortest wall time.
    """
    from ..parallel import process_map

    return process_map(run_gd, jobs, workers)


def undecided_text(run: Run, i: int) -> str:
    """One sentence on an undecided run ``i``: where it stopped and what would decide it."""
    L0 = float(run.loss[0, i])
    ratio = float(run.loss[int(run.steps[i]), i] / L0) if L0 > 0 else float("nan")
    es = float(run.eta_sharpness[i])
    if np.isfinite(es) and es >= 2.0:
        return (
            f"settled after {int(run.steps[i])} steps but not stable there (eta*lambda_max = {es:.3g} >= 2): "
            f"a longer run decides whether it leaves"
        )
    if run.wandering is not None and run.wandering[i]:
        k = int(run.steps[i])
        seg = run.loss[max(0, k - 1000) : k + 1, i] / L0
        return (
            f"after {k} steps its loss still rises and falls (between {seg.min():.2g} and {seg.max():.2g} of its "
            f"start over the last {seg.size - 1} steps): neither settled nor periodic, so a longer run promises "
            f"no decision"
        )
    need = int(run.needed[i])
    where = f"after {int(run.steps[i])} steps (cap {run.max_steps}) its loss is at {ratio:.2g} of its start"
    if need > 0:
        return where + f"; raise n_steps to about {_round_up(need)}"
    return where + " and not falling geometrically; no step count is in sight"


def _round_up(n: int) -> int:
    """``n`` rounded up to two significant digits (a step count for a reader)."""
    if n < 100:
        return int(n)
    e = 10 ** (len(str(int(n))) - 2)
    return int(math.ceil(n / e) * e)


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
        inner[: diff.size] += diff
        inner[: e.size] += e
        e = np.convolve(np.array([a, 1.0]), inner)
    f = P.polysub(np.eye(N + 1)[N], e)
    f[0] -= rho**2
    roots = P.polyroots(f)
    real = roots[np.abs(np.imag(roots)) <= 1e-9 * max(1.0, np.max(np.abs(roots)))].real
    tstar = max(0.0, float(np.max(real))) if real.size else 0.0
    return float(np.sqrt(tstar + (N - 1) * delta))


def hessian_bound(depth: int, K: float | np.ndarray, x_norm: float, res_norm: float | np.ndarray) -> float | np.ndarray:
    """Bound on ``||Hess L^N||`` where every ``||W_j||_2 <= K`` and ``||(WX - Y)X^T||_F <= res_norm`` [D].

    The second derivative in a unit direction ``V`` is
    ``||sum_j A_j V_j B_j X||_F^2 + 2 <E, sum_{i<j} A_j V_j W_{j-1..i+1} V_i B_i>``; Cauchy-Schwarz
    gives ``<= N K^{2N-2} ||X||^2 + (N-1) K^{N-2} res_norm`` (cf. the structure of (3.16)).
    """
    N = int(depth)
    K = np.asarray(K, dtype=float)
    out = N * K ** (2 * N - 2) * x_norm**2 + (N - 1) * K ** (N - 2) * np.asarray(res_norm, dtype=float)
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
    return StepBound(
        eta=float(min(eta_s, eta_b)),
        eta_balance=float(eta_b),
        eta_smooth=float(eta_s),
        delta=float(delta),
        K=float(K),
        beta=float(beta(eta_s)),
    )


def best_step_bound(
    prob: LinearProblem, depth: int, L0: float, alpha: float = 0.0, deltas: np.ndarray | None = None
) -> StepBound:
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
    f = lambda d: _step_bound(int(depth), L0, float(d), alpha, x_norm, rho_bar)
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
def schedule(n_steps: int, c: float | np.ndarray, k0: float | np.ndarray, gamma: float | np.ndarray) -> np.ndarray:
    """Decreasing steps ``eta_k = c / (k + k0)^gamma``, k = 0..n_steps-1, shape ``(n_steps, S)``
    for ``S`` schedules (the form of (5.2) is [M]; its exact constants are [U])."""
    k = np.arange(n_steps, dtype=float)[:, None]
    c, k0, gamma = (np.atleast_1d(np.asarray(v, dtype=float))[None, :] for v in (c, k0, gamma))
    return c / (k + k0) ** gamma


def schedule_constant(
    eta_bar: float | np.ndarray, k0: float | np.ndarray, gamma: float | np.ndarray
) -> float | np.ndarray:
    """Largest ``c`` with ``c / (k + k0)^gamma <= eta_bar`` for all ``k >= 0``: ``c = eta_bar k0^gamma``.

    Our sufficient condition in place of (5.3) [D]: the schedule decreases, so its largest step is
    ``eta_0``; :func:`step_bound` only needs ``max_k eta_k <= eta_bar``. With ``gamma <= 1`` the
    steps also sum to infinity.
    """
    out = np.asarray(eta_bar, dtype=float) * np.asarray(k0, dtype=float) ** np.asarray(gamma, dtype=float)
    return float(out) if np.ndim(out) == 0 else out


def schedule_steps_for(total: float, c: float, k0: float, gamma: float) -> float:
    """Steps ``K`` after which the schedule ``c / (k + k0)^gamma`` has made the total step ``total``,
    by the integral ``int_0^K c (k + k0)^-gamma dk`` (``inf`` when that overflows).

    With the same start, small steps follow gradient flow in the time ``sum_k eta_k``, so ``K`` for
    ``total = K_0 * eta_bar`` (the constant step's count ``K_0``) estimates the count a decreasing
    schedule needs to reach the same loss.
    """
    try:
        if gamma == 1.0:
            return float(k0 * math.expm1(total / c))
        return float((total * (1.0 - gamma) / c + k0 ** (1.0 - gamma)) ** (1.0 / (1.0 - gamma)) - k0)
    except OverflowError:
        return math.inf


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

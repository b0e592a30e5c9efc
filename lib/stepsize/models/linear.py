"""Deep linear networks ``W_L ... W_1`` with the squared loss, batched over independent runs.

A network is a list ``Ws = [W_1, ..., W_L]`` of arrays of shape ``(B, d_j, d_{j-1})``: ``B``
independent runs (initialisations, step sizes, seeds) advance in one array computation.

The data enter only through their second moments, so one code serves every paper:

    loss(W) = 1/2 ||Y - W_L ... W_1 X||_F^2
            = 1/2 tr(P Sxx P^T) - <P, Syx> + 1/2 ||Y||_F^2,   P = W_L ... W_1,
    Sxx = X X^T,  Syx = Y X^T.

Nar & Sastry (2018), eq. (2) with whitened data ``(1/N) sum x_i x_i^T = I`` is
``Sxx = I, Syx = R``: ``loss = 1/2 ||R - P||_F^2`` (see :func:`whitened`). Nguegnang, Rauhut &
Terstiege use the general form (their L^N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Weights = list[np.ndarray]


@dataclass(frozen=True)
class LinearProblem:
    """Second moments of the data: ``Sxx = X X^T`` (d_0, d_0), ``Syx = Y X^T`` (d_L, d_0),
    ``yy = ||Y||_F^2`` (so that the loss is the true residual)."""

    Sxx: np.ndarray
    Syx: np.ndarray
    yy: float

    @property
    def d_in(self) -> int:
        return int(self.Sxx.shape[0])

    @property
    def d_out(self) -> int:
        return int(self.Syx.shape[0])


def whitened(R: np.ndarray) -> LinearProblem:
    """Nar & Sastry's whitened problem: ``loss = 1/2 ||R - W_L ... W_1||_F^2`` (eq. (2))."""
    R = np.asarray(R, dtype=float)
    return LinearProblem(Sxx=np.eye(R.shape[1]), Syx=R, yy=float(np.sum(R**2)))


def from_data(X: np.ndarray, Y: np.ndarray) -> LinearProblem:
    """Problem ``1/2 ||Y - W X||_F^2`` for data ``X`` (d_x, m) and targets ``Y`` (d_y, m)."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    return LinearProblem(Sxx=X @ X.T, Syx=Y @ X.T, yy=float(np.sum(Y**2)))


def _eye(B: int, d: int) -> np.ndarray:
    return np.broadcast_to(np.eye(d), (B, d, d))


def _chain(Ws: Weights, hi: int, lo: int, B: int, d: int) -> np.ndarray:
    """``W_hi ... W_lo`` (1-based, inclusive); the identity of size ``d`` when ``hi < lo``."""
    if hi < lo:
        return _eye(B, d)
    out = Ws[lo - 1]
    for j in range(lo + 1, hi + 1):
        out = Ws[j - 1] @ out
    return out


def _prefix_suffix(Ws: Weights) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``below[j] = W_{j-1} ... W_1`` and ``above[j] = W_L ... W_{j+1}`` for j = 1..L (index j-1)."""
    L, B = len(Ws), Ws[0].shape[0]
    below = [_eye(B, Ws[0].shape[2])]
    for j in range(1, L):
        below.append(Ws[j - 1] @ below[-1])
    above = [_eye(B, Ws[-1].shape[1])]
    for j in range(L - 1, 0, -1):
        above.insert(0, above[0] @ Ws[j])
    return below, above


def product(Ws: Weights) -> np.ndarray:
    """End-to-end matrix ``P = W_L ... W_1``, shape ``(B, d_L, d_0)``."""
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    return P


def loss(Ws: Weights, prob: LinearProblem) -> np.ndarray:
    """``1/2 ||Y - P X||_F^2`` per run, shape ``(B,)`` (clipped at 0 against rounding).

    ``P Sxx`` first (batched BLAS), then two-operand contractions: several times faster than one
    three-operand ``einsum``, equal to rounding (tested).
    """
    P = product(Ws)
    quad = np.einsum("bij,bij->b", P @ prob.Sxx, P)
    lin = np.einsum("bij,ij->b", P, prob.Syx)
    return np.maximum(0.5 * quad - lin + 0.5 * prob.yy, 0.0)


def residual(Ws: Weights, prob: LinearProblem) -> np.ndarray:
    """Gradient of the loss with respect to the product: ``E = P Sxx - Syx``, ``(B, d_L, d_0)``."""
    return product(Ws) @ prob.Sxx - prob.Syx


def gradients(Ws: Weights, prob: LinearProblem) -> Weights:
    """``grad_{W_j} loss = (W_L ... W_{j+1})^T E (W_{j-1} ... W_1)^T`` for every layer j.

    Nguegnang et al. (3.1); for whitened data ``E = P - R`` (Nar & Sastry, Sec. 2).
    """
    below, above = _prefix_suffix(Ws)
    E = (Ws[-1] @ below[-1]) @ prob.Sxx - prob.Syx  # P = W_L (W_{L-1} ... W_1)
    return [np.swapaxes(above[j], 1, 2) @ E @ np.swapaxes(below[j], 1, 2) for j in range(len(Ws))]


def gd_step(Ws: Weights, prob: LinearProblem, delta: float | np.ndarray) -> Weights:
    """One GD step ``W_j <- W_j - delta grad_j`` for all layers at once.

    ``delta`` is a number or an array of shape ``(B,)`` (one step size per run).
    """
    d = np.asarray(delta, dtype=float).reshape(-1, 1, 1) if np.ndim(delta) else float(delta)
    return [W - d * G for W, G in zip(Ws, gradients(Ws, prob))]


def hvp(Ws: Weights, prob: LinearProblem, Vs: Weights) -> Weights:
    """Exact Hessian-vector product ``H[V]`` of the loss, per layer, batched.

    With ``A_j = W_L ... W_{j+1}``, ``B_j = W_{j-1} ... W_1``, ``E = P Sxx - Syx`` and
    ``dP = sum_k A_k V_k B_k``:
    ``H[V]_j = dA_j^T E B_j^T + A_j^T (dP Sxx) B_j^T + A_j^T E dB_j^T``, where
    ``dA_j = sum_{k>j} A_k V_k (W_{k-1} ... W_{j+1})`` and ``dB_j = sum_{k<j} (W_{j-1} ... W_{k+1}) V_k B_k``,
    accumulated by the recursions ``dB_{j+1} = W_j dB_j + V_j B_j`` and ``dA_{j-1} = dA_j W_j + A_j V_j``
    (``O(L)`` products per call).
    """
    L = len(Ws)
    below, above = _prefix_suffix(Ws)
    E = product(Ws) @ prob.Sxx - prob.Syx
    dP = sum(above[k] @ Vs[k] @ below[k] for k in range(L))
    dE = dP @ prob.Sxx
    T = lambda M: np.swapaxes(M, 1, 2)
    dB = [np.zeros_like(below[0])]  # dB_1 = 0
    for j in range(1, L):  # dB_{j+1} = W_j dB_j + V_j B_j
        dB.append(Ws[j - 1] @ dB[-1] + Vs[j - 1] @ below[j - 1])
    dA = [np.zeros_like(above[L - 1])]  # dA_L = 0
    for j in range(L, 1, -1):  # dA_{j-1} = dA_j W_j + A_j V_j
        dA.insert(0, dA[0] @ Ws[j - 1] + above[j - 1] @ Vs[j - 1])
    return [T(dA[j]) @ E @ T(below[j]) + T(above[j]) @ dE @ T(below[j]) + T(above[j]) @ E @ T(dB[j]) for j in range(L)]


def pack(Ws: Weights) -> np.ndarray:
    """Flatten a batch of networks to vectors, shape ``(B, n_params)``."""
    return np.concatenate([W.reshape(W.shape[0], -1) for W in Ws], axis=1)


def unpack(x: np.ndarray, shapes: list[tuple[int, int]]) -> Weights:
    """Inverse of :func:`pack` for layer shapes ``[(d_1, d_0), ..., (d_L, d_{L-1})]``."""
    out, i = [], 0
    for m, n in shapes:
        out.append(x[:, i : i + m * n].reshape(x.shape[0], m, n))
        i += m * n
    return out


def shapes_of(Ws: Weights) -> list[tuple[int, int]]:
    """Layer shapes ``(d_j, d_{j-1})`` of a batch of networks."""
    return [tuple(W.shape[1:]) for W in Ws]


def n_params(Ws: Weights) -> int:
    """Number of parameters ``sum_j d_j d_{j-1}`` of one network of the batch."""
    return int(sum(m * n for m, n in shapes_of(Ws)))


def dense_hessian(Ws: Weights, prob: LinearProblem, max_batch: int = 4096) -> np.ndarray:
    """The full Hessian, ``(B, n, n)``, from :func:`hvp` on every basis vector (small sizes only).

    The basis directions of all ``B`` networks go through batched :func:`hvp` calls of at most
    ``max_batch`` (network, direction) pairs each (memory stays bounded for large batches).
    """
    shapes = shapes_of(Ws)
    B = Ws[0].shape[0]
    n = n_params(Ws)
    H = np.empty((B, n, n))
    chunk = max(1, min(n, max_batch // max(B, 1)))
    eye = np.eye(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        k = hi - lo
        rep = [np.repeat(W, k, axis=0) for W in Ws]  # (B k, ...): run b, direction lo + i
        E = np.tile(eye[lo:hi], (B, 1))  # row b k + i = e_{lo + i}
        cols = pack(hvp(rep, prob, unpack(E, shapes))).reshape(B, k, n)  # cols[b, i] = H_b e_{lo + i}
        H[:, :, lo:hi] = np.swapaxes(cols, 1, 2)
    return H


def hessian_lambda_max(
    Ws: Weights,
    prob: LinearProblem,
    n_iter: int | None = None,
    seed: int = 0,
    *,
    dense_below: int = 400,
    rtol: float = 1e-10,
) -> np.ndarray:
    """Largest Hessian eigenvalue ``lambda_max(H)`` per run, by a routine that checks its convergence.

    Up to ``dense_below`` parameters: ``eigvalsh`` of :func:`dense_hessian` (exact to rounding).
    Beyond: Lanczos (``scipy.sparse.linalg.eigsh``) on the exact :func:`hvp`, one run at a time,
    with its residual verified (:func:`stepsize.sharpness.lambda_max_hvp`); it raises
    :class:`stepsize.sharpness.NotConverged` when it cannot certify the eigenvalue.
    At a global minimum the Hessian is positive semidefinite, so this is the eigenvalue that sets
    the GD stability limit ``2 / lambda_max`` there. ``n_iter`` is accepted for compatibility and
    ignored (no fixed iteration count is trusted); ``seed`` fixes the Lanczos start vector.
    Runs with non-finite weights give NaN.
    """
    from ..sharpness import lambda_max_dense, lambda_max_hvp

    B = Ws[0].shape[0]
    n = n_params(Ws)
    out = np.full(B, np.nan)
    ok = np.all(np.isfinite(pack(Ws)), axis=1)
    if not ok.any():
        return out
    good = [W[ok] for W in Ws]
    if n <= dense_below:
        with np.errstate(over="ignore", invalid="ignore"):
            H = dense_hessian(good, prob)
        fin = np.all(np.isfinite(H), axis=(1, 2))
        vals = np.full(H.shape[0], np.nan)
        if fin.any():
            vals[fin] = lambda_max_dense(H[fin], symmetric_tol=1e-6)
        out[ok] = vals
        return out
    shapes = shapes_of(Ws)
    idx = np.flatnonzero(ok)
    for b in idx:
        one = [W[b : b + 1] for W in Ws]
        op = lambda v, one=one: pack(hvp(one, prob, unpack(v[None], shapes)))[0]
        out[b] = lambda_max_hvp(op, n, rtol=rtol, seed=seed)
    return out


# --- Constructors (Nar & Sastry Sec. 2) ---
# Solutions of W_L ... W_1 = R (balanced, rescaled, random), random initialisations, and a batched
# GD runner that classifies each run as a global optimum, something else, or diverged.


def _random_orthogonal(rng: np.random.Generator, B: int, k: int) -> np.ndarray:
    """``B`` Haar-random orthogonal ``k x k`` matrices (QR of a Gaussian matrix, signs fixed)."""
    Q, Rr = np.linalg.qr(rng.standard_normal((B, k, k)))
    return Q * np.sign(np.diagonal(Rr, axis1=1, axis2=2))[:, None, :]


def balanced_solution(R: np.ndarray, depth: int, B: int = 1, rng: np.random.Generator | None = None) -> Weights:
    """A balanced factorisation ``W_L ... W_1 = R``: every layer has the singular values ``S^{1/L}``.

    With the thin SVD ``R = U S V^T`` (``k = min(m, n)`` singular values) and orthogonal ``Q_j``
    (identities, or Haar-random per run when ``rng`` is given):
    ``W_1 = Q_1 S^{1/L} V^T``, ``W_j = Q_j S^{1/L} Q_{j-1}^T``, ``W_L = U S^{1/L} Q_{L-1}^T``.
    Then ``W_{j+1}^T W_{j+1} = W_j W_j^T``; these solutions attain Corollary 1 (Nar & Sastry eq. (4)).
    Hidden widths are ``k``. Returns ``B`` copies, shapes ``(B, d_j, d_{j-1})``.
    """
    R = np.asarray(R, dtype=float)
    if depth < 1:
        raise ValueError("depth must be >= 1")
    U, s, Vt = np.linalg.svd(R, full_matrices=False)
    k = s.size
    S = np.diag(s ** (1.0 / depth))
    if rng is None:
        Q = [np.broadcast_to(np.eye(k), (B, k, k)) for _ in range(depth - 1)]
    else:
        Q = [_random_orthogonal(rng, B, k) for _ in range(depth - 1)]
    if depth == 1:
        return [np.broadcast_to(R, (B,) + R.shape).copy()]
    Ws = [Q[0] @ (S @ Vt)]
    for j in range(1, depth - 1):
        Ws.append(Q[j] @ S @ np.swapaxes(Q[j - 1], 1, 2))
    Ws.append((U @ S) @ np.swapaxes(Q[-1], 1, 2))
    return [np.ascontiguousarray(np.broadcast_to(W, (B,) + W.shape[-2:])) for W in Ws]


def rescaled(Ws: Weights, c: np.ndarray) -> Weights:
    """The solution ``(c_1 W_1, ..., c_L W_L)`` with ``prod_j c_j = 1`` (same product, Nar & Sastry Sec. 2).

    ``c`` has shape ``(L,)`` (one rescaling for all runs) or ``(B, L)`` (one per run).
    """
    c = np.asarray(c, dtype=float)
    if c.shape[-1] != len(Ws):
        raise ValueError("need one factor per layer")
    if not np.allclose(np.prod(c, axis=-1), 1.0, rtol=1e-9):
        raise ValueError("the factors must multiply to 1")
    cb = np.broadcast_to(c, (Ws[0].shape[0], len(Ws)))
    return [cb[:, j, None, None] * W for j, W in enumerate(Ws)]


def opposite_scaling(depth: int, c: float | np.ndarray) -> np.ndarray:
    """Rescaling factors ``(c, 1/c, 1, ..., 1)``: layer 1 amplified, layer 2 attenuated.

    ``c`` may be an array (one rescaling per run): the result then has shape ``(len(c), L)``.
    """
    if depth < 2:
        raise ValueError("depth must be >= 2")
    scalar = np.ndim(c) == 0
    c = np.atleast_1d(np.asarray(c, dtype=float))
    out = np.ones((c.size, depth))
    out[:, 0] = c
    out[:, 1] = 1.0 / c
    return out[0] if scalar else out


def random_solution(R: np.ndarray, depth: int, B: int, rng: np.random.Generator, scale: float = 1.0) -> Weights:
    """Random solutions of ``W_L ... W_1 = R`` (square ``R``): ``W_2, ..., W_L`` Gaussian with
    entries ``N(0, scale^2 / n)``, and ``W_1 = (W_L ... W_2)^{-1} R``.
    """
    R = np.asarray(R, dtype=float)
    n = R.shape[0]
    if R.shape != (n, n) or depth < 2:
        raise ValueError("need a square R and depth >= 2")
    upper = [rng.standard_normal((B, n, n)) * (scale / np.sqrt(n)) for _ in range(depth - 1)]
    top = product(upper)
    W1 = np.linalg.solve(top, np.broadcast_to(R, (B, n, n)))
    return [W1] + upper


def random_init(rng: np.random.Generator, B: int, dims: tuple[int, ...] | list[int], scale: float = 1.0) -> Weights:
    """``B`` Gaussian initialisations for layer widths ``dims = (d_0, ..., d_L)``:
    ``W_j`` has entries ``N(0, scale^2 / d_{j-1})`` (so ``E||W_j x||^2 = scale^2 ||x||^2``).
    """
    return [rng.standard_normal((B, dims[j + 1], dims[j])) * (scale / np.sqrt(dims[j])) for j in range(len(dims) - 1)]


def layer_shapes(dims: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Layer shapes ``[(d_1, d_0), ..., (d_L, d_{L-1})]`` for widths ``(d_0, ..., d_L)``."""
    return [(int(dims[j + 1]), int(dims[j])) for j in range(len(dims) - 1)]


class Outcome:
    """Codes of :class:`LinearRuns.outcome`."""

    GLOBAL = 0  # converged (settled and eta * lambda_max < 2) with loss <= optimum + tol
    OTHER = 1  # converged elsewhere, periodic, or undecided after the budget
    DIVERGED = 2  # left the blowup ball or overflowed
    NAMES = ("global optimum", "other", "diverged")


@dataclass(frozen=True)
class LinearRuns:
    """Classified GD runs on a deep linear network (one entry per run).

    ``outcome``: :class:`Outcome` codes; ``loss``: final loss (``inf`` if diverged);
    ``final``: the last weights (NaN for diverged runs); ``fates``: the underlying
    :class:`stepsize.dynamics.Fates` (decided by :func:`stepsize.dynamics.decide_fates`, with
    ``fates.eta_sharpness`` = ``delta * lambda_max(H)`` at every run that settled);
    ``settled``: the run stayed put over the trailing window (period 1), before the stability
    test, so ``settled & ~converged`` are transients at points GD cannot hold.
    """

    outcome: np.ndarray
    loss: np.ndarray
    final: Weights
    fates: object
    settled: np.ndarray | None = None

    def share(self, code: int) -> float:
        """Share of the runs with this outcome code."""
        return float(np.mean(self.outcome == code))

    @property
    def eta_sharpness(self) -> np.ndarray:
        """``delta * lambda_max(H)`` where each settled run stopped (NaN for the others)."""
        return self.fates.eta_sharpness


def _eta_sharpness(final: Weights, prob: LinearProblem, d: np.ndarray, sel: np.ndarray, seed: int = 0) -> np.ndarray:
    """``d * lambda_max(H)`` at the selected runs (NaN elsewhere, and where Lanczos did not converge)."""
    from ..sharpness import NotConverged

    out = np.full(sel.shape[0], np.nan)
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return out
    sub = [W[idx] for W in final]
    try:
        lam = hessian_lambda_max(sub, prob, seed=seed)
    except NotConverged:  # the large-model route: decide run by run, unknown stays NaN (UNDECIDED)
        lam = np.full(idx.size, np.nan)
        for i in range(idx.size):
            try:
                lam[i] = hessian_lambda_max([W[i : i + 1] for W in sub], prob, seed=seed)[0]
            except NotConverged:
                pass
    out[idx] = d[idx] * lam
    return out


def _cycle_multiplier(
    final: Weights, other: Weights, prob: LinearProblem, d: np.ndarray, sel: np.ndarray, dense_below: int = 400
) -> np.ndarray:
    """Largest ``|eig D(G^2)|`` of 2-cycles ``{x, G(x)}``: ``D(G^2) = (I - d H(G x))(I - d H(x))``, exact.

    NaN where not selected or the model is too large for the dense Hessian.
    """
    out = np.full(sel.shape[0], np.nan)
    idx = np.flatnonzero(sel)
    n = n_params(final)
    if idx.size == 0 or n > dense_below:
        return out
    with np.errstate(over="ignore", invalid="ignore"):
        H0 = dense_hessian([W[idx] for W in final], prob)
        H1 = dense_hessian([W[idx] for W in other], prob)
    eye = np.eye(n)
    dd = d[idx, None, None]
    M = (eye - dd * H1) @ (eye - dd * H0)
    fin = np.all(np.isfinite(M), axis=(1, 2))
    vals = np.full(idx.size, np.nan)
    if fin.any():
        vals[fin] = np.max(np.abs(np.linalg.eigvals(M[fin])), axis=1)
    out[idx] = vals
    return out


def run_gd(
    Ws: Weights,
    prob: LinearProblem,
    delta: float | np.ndarray,
    n_steps: int,
    *,
    optimum_loss: float = 0.0,
    tol_loss: float = 1e-10,
    tol_step: float = 1e-9,
    blowup: float = 1e6,
    check_every: int = 250,
) -> LinearRuns:
    """Run GD ``W_j <- W_j - delta grad_j`` from every network in the batch and classify the runs.

    ``delta`` is a number or one step size per run, shape ``(B,)``. The fate of each run is the
    book's one rule, :func:`stepsize.dynamics.decide_fates`: *settled* = period 1 over the trailing
    window (relative tolerance ``tol_step``); ``CONVERGED`` = settled **and**
    ``delta * lambda_max(H) < 2`` at the point where it stopped (exact Hessian,
    :func:`hessian_lambda_max`); a 2-cycle is ``PERIODIC`` when the multipliers of
    ``(I - delta H(x_1))(I - delta H(x_0))`` lie in the unit disc (or cannot be computed);
    divergence = leaving the ball of radius ``blowup``; everything else ``UNDECIDED``.
    Then ``GLOBAL`` = converged with ``loss <= optimum_loss + tol_loss``; ``DIVERGED``; else ``OTHER``.

    Early stop: every ``check_every`` steps, if every run has either diverged or moves by less than
    ``tol_step / 10`` (relative) per step, the remaining budget is skipped (such runs would be
    classified the same way after it). ``check_every=0`` always runs the full budget.

    See also :func:`stepsize.balanced.run_gd`, the other runner over the same network code: it takes
    step-size schedules and records the loss, balancedness and drift at every step (Nguegnang et al.),
    where this one records nothing per step and classifies fixed points and 2-cycles (Nar & Sastry).
    """
    from dataclasses import replace

    from ..dynamics import Fate, classify, decide_fates, iterate

    shapes = shapes_of(Ws)
    B = Ws[0].shape[0]
    d = np.broadcast_to(np.asarray(delta, dtype=float), (B,)).astype(float)
    step = lambda x: pack(gd_step(unpack(x, shapes), prob, delta))
    x = pack(Ws)
    done = 0
    chunk = check_every if check_every > 0 else n_steps
    while done < n_steps:
        k = min(chunk, n_steps - done)
        x, _ = iterate(step, x, k, blowup=blowup)  # diverged runs are NaN from then on
        done += k
        if check_every > 0 and done < n_steps:
            with np.errstate(over="ignore", invalid="ignore"):
                gap = np.linalg.norm(step(x) - x, axis=1) / (1.0 + np.linalg.norm(x, axis=1))
            if np.all(np.isnan(gap) | (gap <= 0.1 * tol_step)):
                break
    # the settled test alone (no finite-difference Jacobian) ...
    raw = classify(step, x, 0, max_period=2, tol=tol_step, blowup=blowup, stability_max_dim=0)
    final = unpack(raw.final, shapes)
    diverged = raw.mask(Fate.DIVERGED)
    settled = raw.period == 1
    # ... then the one rule, with the exact Hessian where each run stopped
    es = _eta_sharpness(final, prob, d, settled)
    cyc = raw.period == 2
    with np.errstate(over="ignore", invalid="ignore"):
        other = unpack(step(raw.final), shapes) if cyc.any() else final
    mu = _cycle_multiplier(final, other, prob, d, cyc)
    kind = decide_fates(raw.period, diverged, es, mu)
    keep = (kind == int(Fate.CONVERGED)) | (kind == int(Fate.PERIODIC))
    period = np.where(keep, raw.period, 0)
    center = np.where(keep[:, None], raw.orbit_center, np.nan)
    amplitude = np.where(keep, raw.amplitude, np.nan)
    fates = replace(
        raw, kind=kind, period=period, orbit_center=center, amplitude=amplitude, eta_sharpness=es, multiplier=mu
    )
    with np.errstate(invalid="ignore", over="ignore"):
        lo = loss(final, prob)
    lo = np.where(diverged | ~np.isfinite(lo), np.inf, lo)
    outcome = np.full(lo.shape, Outcome.OTHER, dtype=np.int8)
    outcome[fates.mask(Fate.CONVERGED) & (lo <= optimum_loss + tol_loss)] = Outcome.GLOBAL
    outcome[diverged] = Outcome.DIVERGED
    return LinearRuns(outcome=outcome, loss=lo, final=final, fates=fates, settled=settled & ~diverged)


def scaled_step(delta: float | np.ndarray, rho: float | np.ndarray, depth: int) -> float | np.ndarray:
    """Step size that makes GD on ``1/2 ||R0 - W_L ... W_1||^2`` an exact rescaled copy of GD on
    ``1/2 ||rho R0 - W_L ... W_1||^2`` with step ``delta``: ``delta * rho^{2(L-1)/L}``.

    With ``W_j = rho^{1/L} W'_j`` the gradient in ``W'_j`` picks up ``rho^{2 - 1/L}`` and the update of
    ``W_j`` is ``rho^{1/L}`` times that of ``W'_j`` exactly when the step is rescaled this way
    (the scaling symmetry behind Corollary 1's dependence on ``rho``).
    """
    return np.asarray(delta, dtype=float) * np.asarray(rho, dtype=float) ** (2.0 * (depth - 1) / depth)

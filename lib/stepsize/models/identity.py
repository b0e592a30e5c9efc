"""Identity (and diagonal) initialisation of deep linear networks: Nar & Sastry, Section 3.

Theorem 2 (R symmetric positive definite, ``X_j[0] = I``), Lemma 3 (its scalar recursion),
Theorem 3 (R symmetric with negative eigenvalues) and Lemma 4 (one negative eigenvalue). The
loss is the whitened ``1/2 ||R - X_L ... X_1||_F^2`` (:func:`stepsize.models.linear.whitened`).

With ``X_j[0] = I`` every iterate is a polynomial in ``R``: all layers stay equal and diagonal
in R's eigenbasis, and each eigenvalue ``r`` of ``R`` is followed by the scalar recursion

    x[k+1] = x[k] + delta (r - x[k]^L) x[k]^{L-1},   x[0] = 1                         (Lemma 3)

(:func:`scalar_recursion`). The formulas are restated (tags [D]/[M]) in ``shared/paper-math.md``.
"""

from __future__ import annotations

import numpy as np

from .linear import Weights


# ---------------------------------------------------------------------------------------------
# Lemma 3 and Theorem 2: R symmetric positive definite
# ---------------------------------------------------------------------------------------------
def lemma3_g(x: np.ndarray | float, r: np.ndarray | float, depth: int) -> np.ndarray | float:
    """The contraction function of Lemma 3: ``g(x) = x^{L-1} sum_{i=0}^{L-1} x^i r^{(L-1-i)/L}``.

    With ``a = r^{1/L}``, ``r - x^L = -(x - a) sum_i x^i a^{L-1-i}``, so one step of
    :func:`scalar_recursion` is ``x' - a = (1 - delta g(x)) (x - a)``. ``g`` increases for ``x > 0``.
    """
    L = int(depth)
    x = np.asarray(x, dtype=float)
    a = np.asarray(r, dtype=float) ** (1.0 / L)
    s = sum(x**i * a ** (L - 1 - i) for i in range(L))
    out = x ** (L - 1) * s
    return float(out) if out.ndim == 0 else out


def lemma3_step_condition(depth: int, r: np.ndarray | float, x0: float = 1.0) -> np.ndarray | float:
    """Largest step for which Lemma 3's recursion from ``x0`` contracts monotonically to ``r^{1/L}``.

    ``delta <= 1 / g(max{x0, r^{1/L}})`` (Lemma 3, condition (9): ``delta g(x) <= 1`` between the
    start and the limit). For ``x0 = 1``:
    ``min{1 / (L r^{2(L-1)/L}), 1 / sum_{i=0}^{L-1} r^{i/L}}``.
    """
    r = np.asarray(r, dtype=float)
    if np.any(r <= 0) or x0 <= 0:
        raise ValueError("need r > 0 and x0 > 0")
    top = np.maximum(x0, r ** (1.0 / depth))
    out = 1.0 / lemma3_g(top, r, depth)
    return float(out) if np.ndim(out) == 0 else out


def lemma3_epsilon(delta: np.ndarray | float, depth: int, r: np.ndarray | float, x0: float = 1.0) -> np.ndarray | float:
    """Lemma 3's contraction margin ``eps = delta g(min{x0, r^{1/L}})``.

    Under :func:`lemma3_step_condition`, ``|x[k] - r^{1/L}| <= (1 - eps)^k |x0 - r^{1/L}|``, and each
    single step contracts the error by a factor in ``[0, 1 - eps]``.
    """
    r = np.asarray(r, dtype=float)
    low = np.minimum(x0, r ** (1.0 / depth))
    out = np.asarray(delta, dtype=float) * lemma3_g(low, r, depth)
    return float(out) if np.ndim(out) == 0 else out


def theorem2_step_condition(depth: int | np.ndarray, rho: float | np.ndarray) -> float | np.ndarray:
    """Theorem 2's step condition: ``delta <= 1 / (L max{1, rho}^{2(L-1)/L})``, ``rho = rho(R)``.

    Sufficient for every eigenvalue ``r in (0, rho]`` of R (Lemma 3's condition decreases in ``r``
    and ``g(max{1, r^{1/L}}) <= L max{1, r}^{2(L-1)/L}``). For ``rho >= 1`` it is half of
    Corollary 1's ``2 / (L rho^{2(L-1)/L})``.
    """
    L = np.asarray(depth, dtype=float)
    m = np.maximum(1.0, np.asarray(rho, dtype=float))
    if np.any(L < 1):
        raise ValueError("need depth >= 1")
    out = 1.0 / (L * m ** (2.0 * (L - 1.0) / L))
    return float(out) if out.ndim == 0 else out


def theorem2_rate(delta: float | np.ndarray, depth: int, eigenvalues: np.ndarray) -> float | np.ndarray:
    """Guaranteed per-step contraction factor ``1 - eps`` of Theorem 2 (worst eigenvalue).

    ``eps = min_i delta g(min{1, r_i^{1/L}})`` over the eigenvalues ``r_i > 0`` of R (Lemma 3).
    """
    eps = lemma3_epsilon(np.asarray(delta, dtype=float)[..., None], depth, np.asarray(eigenvalues, dtype=float))
    out = 1.0 - np.min(eps, axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def asymptotic_rate(delta: float | np.ndarray, depth: int, eigenvalues: np.ndarray) -> float | np.ndarray:
    """Local rate of the eigenbasis recursion at the limit: ``max_i |1 - delta L r_i^{2(L-1)/L}|``.

    The derivative of Lemma 3's map at ``x = r^{1/L}`` is ``1 - delta g(r^{1/L}) = 1 - delta L r^{2(L-1)/L}``.
    """
    r = np.asarray(eigenvalues, dtype=float)
    d = np.asarray(delta, dtype=float)[..., None]
    out = np.max(np.abs(1.0 - d * depth * r ** (2.0 * (depth - 1) / depth)), axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def scalar_recursion(
    r: np.ndarray, depth: int, delta: np.ndarray | float, n_steps: int, x0: np.ndarray | float = 1.0
) -> np.ndarray:
    """Iterates of ``x <- x + delta (r - x^L) x^{L-1}`` (Lemmas 3 and 4), broadcast over arrays.

    ``r``, ``delta`` and ``x0`` broadcast together; returns shape ``(n_steps + 1, *broadcast)``.
    Overflow is left to IEEE arithmetic (inf/nan mark divergence); callers classify it.
    """
    r, d, x = np.broadcast_arrays(np.asarray(r, float), np.asarray(delta, float), np.asarray(x0, float))
    x = x.copy()
    out = np.empty((n_steps + 1,) + x.shape)
    out[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps):
            x = x + d * (r - x**depth) * x ** (depth - 1)
            out[k + 1] = x
    return out


# ---------------------------------------------------------------------------------------------
# Theorem 3 and Lemma 4: R symmetric with negative eigenvalues
# ---------------------------------------------------------------------------------------------
def lemma4_threshold(r: float | np.ndarray) -> float | np.ndarray:
    """Lemma 4: for ``r < 0`` and ``x[0] = 1``, ``delta < 1 / (1 + |r|)`` gives ``0 < x[k+1] < x[k]``, ``x -> 0``.

    The update is ``x' = x (1 - delta (|r| + x^L) x^{L-2})`` and ``(|r| + x^L) x^{L-2} <= 1 + |r|`` on ``(0, 1]``.
    """
    out = 1.0 / (1.0 + np.abs(np.asarray(r, dtype=float)))
    return float(out) if out.ndim == 0 else out


def psd_part(R: np.ndarray) -> np.ndarray:
    """``R_+ = sum_{lambda_i > 0} lambda_i u_i u_i^T``: the Frobenius-nearest PSD matrix to symmetric R.

    Theorem 3's limit of ``X_L ... X_1`` under identity initialisation. Works on ``(..., n, n)``.
    """
    R = np.asarray(R, dtype=float)
    S = 0.5 * (R + np.swapaxes(R, -1, -2))
    lam, U = np.linalg.eigh(S)
    return (U * np.maximum(lam, 0.0)[..., None, :]) @ np.swapaxes(U, -1, -2)


def symmetric_with_spectrum(eigenvalues: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric matrix ``R = Q diag(eigenvalues) Q^T`` with Haar-random orthogonal ``Q``.

    Returns ``(R, Q)``; the columns of ``Q`` are the eigenvectors in the order given.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    A = rng.standard_normal((lam.size, lam.size))
    Q, T = np.linalg.qr(A)
    Q = Q * np.sign(np.diag(T))  # Haar measure
    R = (Q * lam) @ Q.T
    return 0.5 * (R + R.T), Q


def eigenbasis_product(Q: np.ndarray, x: np.ndarray, depth: int) -> np.ndarray:
    """``Q diag(x^L) Q^T``: the end-to-end matrix of equal layers ``X_j = Q diag(x) Q^T``.

    ``x`` has shape ``(..., n)``; returns ``(..., n, n)``.
    """
    return (Q * np.asarray(x, dtype=float)[..., None, :] ** depth) @ Q.T


# ---------------------------------------------------------------------------------------------
# Initialisations and solutions
# ---------------------------------------------------------------------------------------------
def identity_init(depth: int, dim: int, batch: int = 1) -> Weights:
    """``X_j[0] = I`` for every layer, as a batch of ``batch`` identical networks."""
    return [np.tile(np.eye(dim), (batch, 1, 1)) for _ in range(depth)]


def diagonal_init(diagonals: np.ndarray) -> Weights:
    """Diagonal layers ``X_j[0] = diag(diagonals[:, j, :])`` from an array of shape ``(B, L, n)``."""
    D = np.asarray(diagonals, dtype=float)
    if D.ndim != 3:
        raise ValueError("diagonals must have shape (batch, depth, dim)")
    eye = np.eye(D.shape[2])
    return [D[:, j, :, None] * eye for j in range(D.shape[1])]


def layer_spread(Ws: Weights) -> np.ndarray:
    """``max_j ||X_j - X_1||_F`` per run: zero exactly on the invariant set of equal layers."""
    return np.max(np.stack([np.linalg.norm(W - Ws[0], axis=(1, 2)) for W in Ws]), axis=0)


def diagonal_solution_lambda_max(S: np.ndarray) -> np.ndarray:
    """Exact ``lambda_max`` of the Hessian of ``1/2 ||R - X_L ... X_1||_F^2`` at a diagonal global minimum.

    ``S`` has shape ``(..., L, n)``: ``X_j = diag(S[j])`` with ``prod_j S[j] = diag(R)``. At a
    global minimum the Hessian is the Gauss-Newton form ``||sum_j A_j V_j B_j||_F^2`` with diagonal
    ``A_j = X_L ... X_{j+1}``, ``B_j = X_{j-1} ... X_1``; it splits over the entries ``(a, b)``, so
    ``lambda_max = max_{a,b} sum_j (A_j)_{aa}^2 (B_j)_{bb}^2``. Nar & Sastry's Theorem 1 bound uses
    only ``a = b =`` the top direction (a lower bound on this).
    """
    S = np.asarray(S, dtype=float)
    L = S.shape[-2]
    ones = np.ones(S.shape[:-2] + (S.shape[-1],))
    above, below = [], []
    for j in range(L):
        above.append(np.prod(S[..., j + 1 :, :], axis=-2) if j + 1 < L else ones)
        below.append(np.prod(S[..., :j, :], axis=-2) if j > 0 else ones)
    tot = sum(above[j][..., :, None] ** 2 * below[j][..., None, :] ** 2 for j in range(L))
    return np.max(tot, axis=(-2, -1))


def rescaled_top_solution(eigenvalues: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Diagonal solutions ``X_j = diag(r^{1/L})`` with the top entry multiplied by ``scales[..., j]``.

    ``eigenvalues`` (n,) positive, largest first; ``scales`` (..., L) with ``prod_j scales = 1``
    (the rescaling symmetry, so the product stays ``diag(eigenvalues)``). Returns ``(..., L, n)``.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    c = np.asarray(scales, dtype=float)
    L = c.shape[-1]
    S = np.broadcast_to(lam ** (1.0 / L), c.shape[:-1] + (L, lam.size)).copy()
    S[..., :, 0] *= c
    return S


# ---------------------------------------------------------------------------------------------
# Measuring rates
# ---------------------------------------------------------------------------------------------
def contraction_factors(errors: np.ndarray, floor: float) -> np.ndarray:
    """One-step ratios ``e[k+1] / e[k]`` along axis 0, NaN where ``e[k+1] <= floor`` (rounding level).

    ``errors`` has shape ``(n_steps + 1, ...)``. Lemma 3 bounds every finite ratio by ``1 - eps``.
    """
    e = np.asarray(errors, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = e[1:] / e[:-1]
    return np.where((e[1:] > floor) & np.isfinite(ratio), ratio, np.nan)


def tail_rate(errors: np.ndarray, floor: float, window: int = 50) -> np.ndarray:
    """Observed linear rate near the limit: ``(e[k] / e[k - window])^{1/window}`` at the last ``k``
    with ``e[k] > floor`` (NaN if the run never gets ``window`` steps above the floor or diverged).

    ``errors`` has shape ``(n_steps + 1, B)``; returns ``(B,)``.
    """
    e = np.asarray(errors, dtype=float)
    above = (e > floor) & np.isfinite(e)
    out = np.full(e.shape[1], np.nan)
    for b in range(e.shape[1]):  # B is small; the runs themselves were batched
        idx = np.flatnonzero(above[:, b])
        if idx.size == 0:
            continue
        k = int(idx[-1])
        if k >= window and np.all(above[k - window : k + 1, b]) and k < e.shape[0] - 1:
            out[b] = (e[k, b] / e[k - window, b]) ** (1.0 / window)
    return out


def is_converging(errors: np.ndarray, floor: float, window: int = 100) -> np.ndarray:
    """Classify runs from their error histories ``(n_steps + 1, B)``: converged or converging linearly.

    True when the last error is finite and either ``<= floor`` (reached the target up to rounding), or the
    error fell strictly at each of the last ``window`` steps and is below ``1e-3`` times the initial error
    (a linear-rate run that the step budget cut short).
    """
    e = np.asarray(errors, dtype=float)
    last = e[-1]
    finite = np.all(np.isfinite(e[-window - 1 :]), axis=0)
    with np.errstate(invalid="ignore"):
        falling = np.all(np.diff(e[-window - 1 :], axis=0) < 0, axis=0) & (last < 1e-3 * e[0])
        return finite & ((last <= floor) | falling)


def fates_from_history(
    errors: np.ndarray, Ws: Weights, prob, delta: float | np.ndarray, floor: float, window: int = 16
) -> np.ndarray:
    """The book's one fate rule (:func:`stepsize.dynamics.decide_fates`) for runs with a recorded error history.

    ``errors`` is ``(n_steps + 1, B)``, ``Ws`` the final weights. A run has *settled* when its error
    stayed ``<= floor`` over the last ``window`` steps; it is CONVERGED only if, in addition,
    ``delta * lambda_max(H) < 2`` at its final weights (:func:`stepsize.models.linear.hessian_lambda_max`,
    self-checking). A run whose error is not finite is DIVERGED; any other run, however steadily its
    error falls, is UNDECIDED (unlike :func:`is_converging`, which also counts falling runs).
    """
    from ..dynamics import decide_fates
    from . import linear

    e = np.asarray(errors, dtype=float)
    B = e.shape[1]
    diverged = ~np.isfinite(e[-1])
    with np.errstate(invalid="ignore"):
        settled = np.all(e[-window:] <= floor, axis=0) & ~diverged
    period = np.where(settled, 1, 0)
    es = np.full(B, np.nan)
    if settled.any():
        lam = linear.hessian_lambda_max([W[settled] for W in Ws], prob)
        d = np.broadcast_to(np.asarray(delta, dtype=float), (B,))[settled]
        es[settled] = d * lam
    return decide_fates(period, diverged, es)


def hessian_eigenvalues(Ws: Weights, prob) -> np.ndarray:
    """All eigenvalues (ascending) of the Hessian of the loss at the first network of the batch.

    The dense Hessian comes from :func:`stepsize.models.linear.dense_hessian` (so keep
    ``sum_j d_j d_{j-1}`` below a few hundred); it is symmetrised against rounding.
    """
    from . import linear

    H = linear.dense_hessian([W[:1] for W in Ws], prob)[0]
    return np.linalg.eigvalsh(0.5 * (H + H.T))


def fit_growth_rate(values: np.ndarray, low: float, high: float) -> float:
    """Per-step growth factor ``exp(slope)`` of ``log values[k]`` fitted over the steps where
    ``low < values[k] < high`` (NaN if fewer than 10 such steps)."""
    v = np.asarray(values, dtype=float)
    k = np.flatnonzero((v > low) & (v < high) & np.isfinite(v))
    if k.size < 10:
        return float("nan")
    slope = np.polyfit(k, np.log(v[k]), 1)[0]
    return float(np.exp(slope))


def theorem3_saddle_curvature(eigenvalues: np.ndarray, depth: int) -> float:
    """Most negative Hessian curvature at Theorem 3's limit ``X_j = Q diag(x) Q^T``, ``x_p = lambda_p^{1/L}``
    on the positive eigenvalues and ``x_n = 0`` on the negative ones (our derivation, [D]).

    ``L >= 3``: perturb entry ``(n, p)`` of ``X_L`` and ``(p, n)`` of ``X_1`` (eigenbasis). The loss restricted
    to these two coordinates has Hessian ``[[x_p^{2(L-1)}, |l_n| x_p^{L-2}], [|l_n| x_p^{L-2}, x_p^{2(L-1)}]]``,
    whose small eigenvalue is ``lambda_p^{(L-2)/L} (lambda_p - |lambda_n|)``; the value returned is
    ``min(0, min over pairs)``, negative iff some negative eigenvalue is larger in magnitude than some
    positive one (all other directions have curvature >= 0 to second order).
    ``L = 2``: entries ``(n, n)`` of both layers give the block ``[[0, |l_n|], [|l_n|, 0]]``, so ``-max|lambda_n|``.
    The unit tests compare both cases with the dense Hessian. ``+inf`` if R has no eigenvalue of one sign.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    p, n = lam[lam > 0], -lam[lam < 0]
    if p.size == 0 or n.size == 0:
        return float("inf")
    if depth == 2:
        return float(-np.max(n))
    block = np.min(p[:, None] ** ((depth - 2.0) / depth) * (p[:, None] - n[None, :]))
    return float(min(0.0, block))

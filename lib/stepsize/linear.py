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
    """``1/2 ||Y - P X||_F^2`` per run, shape ``(B,)`` (clipped at 0 against rounding)."""
    P = product(Ws)
    quad = np.einsum("bij,jk,bik->b", P, prob.Sxx, P)
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
    E = product(Ws) @ prob.Sxx - prob.Syx
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
    ``dA_j = sum_{k>j} A_k V_k (W_{k-1} ... W_{j+1})`` and ``dB_j = sum_{k<j} (W_{j-1} ... W_{k+1}) V_k B_k``.
    """
    L, B = len(Ws), Ws[0].shape[0]
    below, above = _prefix_suffix(Ws)
    E = product(Ws) @ prob.Sxx - prob.Syx
    dP = sum(above[k] @ Vs[k] @ below[k] for k in range(L))
    dE = dP @ prob.Sxx
    T = lambda M: np.swapaxes(M, 1, 2)  # noqa: E731
    out = []
    for j in range(1, L + 1):
        dA = np.zeros_like(above[j - 1])
        for k in range(j + 1, L + 1):
            dA = dA + above[k - 1] @ Vs[k - 1] @ _chain(Ws, k - 1, j + 1, B, Ws[j - 1].shape[1])
        dB = np.zeros_like(below[j - 1])
        for k in range(1, j):
            dB = dB + _chain(Ws, j - 1, k + 1, B, Ws[k - 1].shape[1]) @ Vs[k - 1] @ below[k - 1]
        out.append(T(dA) @ E @ T(below[j - 1]) + T(above[j - 1]) @ dE @ T(below[j - 1])
                   + T(above[j - 1]) @ E @ T(dB))
    return out


def pack(Ws: Weights) -> np.ndarray:
    """Flatten a batch of networks to vectors, shape ``(B, n_params)``."""
    return np.concatenate([W.reshape(W.shape[0], -1) for W in Ws], axis=1)


def unpack(x: np.ndarray, shapes: list[tuple[int, int]]) -> Weights:
    """Inverse of :func:`pack` for layer shapes ``[(d_1, d_0), ..., (d_L, d_{L-1})]``."""
    out, i = [], 0
    for (m, n) in shapes:
        out.append(x[:, i:i + m * n].reshape(x.shape[0], m, n))
        i += m * n
    return out


def shapes_of(Ws: Weights) -> list[tuple[int, int]]:
    """Layer shapes ``(d_j, d_{j-1})`` of a batch of networks."""
    return [tuple(W.shape[1:]) for W in Ws]


def hessian_lambda_max(Ws: Weights, prob: LinearProblem, n_iter: int = 200, seed: int = 0) -> np.ndarray:
    """Largest-magnitude Hessian eigenvalue per run, by power iteration on :func:`hvp`.

    At a global minimum the Hessian is positive semidefinite, so this is ``lambda_max``; the
    GD stability limit there is ``2 / lambda_max``. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    shapes = shapes_of(Ws)
    B = Ws[0].shape[0]
    v = rng.standard_normal((B, sum(m * n for m, n in shapes)))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    lam = np.zeros(B)
    for _ in range(n_iter):
        hv = pack(hvp(Ws, prob, unpack(v, shapes)))
        lam = np.einsum("bi,bi->b", v, hv)
        nrm = np.linalg.norm(hv, axis=1, keepdims=True)
        v = np.where(nrm > 0, hv / np.where(nrm > 0, nrm, 1.0), v)
    return lam


def dense_hessian(Ws: Weights, prob: LinearProblem) -> np.ndarray:
    """The full Hessian, ``(B, n, n)``, column by column from :func:`hvp` (small sizes only)."""
    shapes = shapes_of(Ws)
    B = Ws[0].shape[0]
    n = sum(m * k for m, k in shapes)
    H = np.empty((B, n, n))
    for i in range(n):
        e = np.zeros((B, n))
        e[:, i] = 1.0
        H[:, :, i] = pack(hvp(Ws, prob, unpack(e, shapes)))
    return H

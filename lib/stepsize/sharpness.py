"""Sharpness: the largest Hessian eigenvalue, by routines that check their own convergence.

The stability of gradient descent at a minimum is decided by ``eta * lambda_max(H)`` against 2
(Nar & Sastry 2018, Sec. 2; Crăciun & Ghoshdastidar, Def. of M_WS; Nguegnang et al., Thm 2.5).
No routine here runs a fixed number of iterations and trusts the result:

* :func:`lambda_max_dense` -- ``numpy.linalg.eigvalsh`` of a (batch of) symmetric matrices
  (direct, exact to rounding);
* :func:`lambda_max_hvp` -- ``scipy.sparse.linalg.eigsh`` (implicitly restarted Lanczos, ARPACK)
  on a ``LinearOperator`` of Hessian-vector products; the eigenpair is then verified by its
  residual ``||H v - lambda v|| <= rtol * max(|lambda|, atol)`` and :class:`NotConverged` is raised
  when ARPACK or that check fails;
* :func:`lambda_max` -- the dense route for small problems, the Lanczos route otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class NotConverged(RuntimeError):
    """An eigenvalue routine did not reach its tolerance; the message says how far it got."""


def lambda_max_dense(H: np.ndarray, *, symmetric_tol: float = 1e-8) -> np.ndarray:
    """``lambda_max`` of a symmetric matrix ``(n, n)`` or a batch ``(B, n, n)``, by ``eigvalsh``.

    The matrix is symmetrised first; a relative asymmetry above ``symmetric_tol`` is an error
    (a Hessian assembled wrongly), not something to round away.
    """
    H = np.asarray(H, dtype=float)
    scale = np.max(np.abs(H)) if H.size else 0.0
    asym = np.max(np.abs(H - np.swapaxes(H, -1, -2))) if H.size else 0.0
    if asym > symmetric_tol * max(scale, 1e-300):
        raise ValueError(f"lambda_max_dense: matrix is not symmetric (relative asymmetry {asym / scale:.2e})")
    S = 0.5 * (H + np.swapaxes(H, -1, -2))
    return np.linalg.eigvalsh(S)[..., -1]


def top_eigenpair_hvp(
    hvp: Callable[[np.ndarray], np.ndarray],
    dim: int,
    *,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    maxiter: int | None = None,
    seed: int = 0,
    v0: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """The largest (algebraic) eigenvalue of the symmetric operator ``v -> hvp(v)`` on R^dim, and its
    unit eigenvector.

    Lanczos (``eigsh(which="LA")``) from ``v0`` when given (a warm start, e.g. the previous top
    eigenvector along a training run), else from a fixed start vector (``default_rng(seed)``), then
    the residual check of the module doc. Raises :class:`NotConverged` if either fails.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    if dim < 1:
        raise ValueError("lambda_max_hvp: dim must be >= 1")
    if dim <= 2:  # ARPACK needs dim > k + 1: assemble the tiny matrix instead
        H = np.column_stack([hvp(e) for e in np.eye(dim)])
        lam = float(lambda_max_dense(H, symmetric_tol=1e-6))
        w, V = np.linalg.eigh(0.5 * (H + H.T))
        return lam, V[:, -1]
    op = LinearOperator((dim, dim), matvec=lambda v: np.asarray(hvp(np.ravel(v)), dtype=float), dtype=float)
    start = v0 if v0 is not None else np.random.default_rng(seed).standard_normal(dim)
    try:
        w, V = eigsh(op, k=1, which="LA", tol=rtol * 1e-2, v0=start, maxiter=maxiter or 50 * dim + 1000)
    except ArpackNoConvergence as e:
        raise NotConverged(f"Lanczos (eigsh) did not converge on a {dim}-dimensional Hessian: {e}") from None
    lam, v = float(w[-1]), V[:, -1]
    res = float(np.linalg.norm(hvp(v) - lam * v))
    if res > rtol * max(abs(lam), atol) * 10 + atol:
        raise NotConverged(f"Lanczos eigenpair not verified: residual {res:.2e} at lambda {lam:.6g}")
    return lam, v


def lambda_max_hvp(hvp: Callable[[np.ndarray], np.ndarray], dim: int, **kw) -> float:
    """The eigenvalue of :func:`top_eigenpair_hvp` alone (same arguments, same checks)."""
    return top_eigenpair_hvp(hvp, dim, **kw)[0]


def lambda_max(hvp: Callable[[np.ndarray], np.ndarray], dim: int, *, dense_below: int = 400, **kw) -> float:
    """``lambda_max`` of the operator: dense ``eigvalsh`` when ``dim <= dense_below``, else Lanczos."""
    if dim <= dense_below:
        H = np.column_stack([hvp(e) for e in np.eye(dim)])
        return float(lambda_max_dense(H, symmetric_tol=1e-6))
    return lambda_max_hvp(hvp, dim, **kw)


def top_eigenpair_lanczos(
    hvp: Callable[[np.ndarray], np.ndarray],
    v0: np.ndarray,
    *,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    maxiter: int = 100,
    stop: float | None = None,
) -> tuple[float, np.ndarray]:
    """The top eigenpair of the symmetric operator ``v -> hvp(v)`` by Lanczos warm-started from ``v0``,
    stopped as soon as it has converged.

    After ``j`` steps of Lanczos from ``q_1 = v0 / ||v0||`` (with full reorthogonalisation), the
    tridiagonal ``T_j = Q_j^T H Q_j`` has a top eigenpair ``(theta, s)``; the Ritz pair
    ``(theta, y = Q_j s)`` has residual ``||H y - theta y|| = beta_{j+1} |s_j|`` (Golub & Van Loan,
    *Matrix Computations*, Sec. 10.1). The iteration stops when that is at most
    ``stop max(|theta|, atol)`` (default ``stop = 1e-2 rtol``, the tolerance :func:`top_eigenpair_hvp`
    hands to ARPACK; any ``stop <= rtol`` leaves the check below passed with room), checked after every
    product: it needs fewer products than ARPACK, which builds a Krylov space of 20 vectors before
    its first test and then restarts, most of all from a start close to the answer (the previous top
    eigenvector along a training run). The pair is then verified by its true
    residual exactly as in :func:`top_eigenpair_hvp`. Raises :class:`NotConverged` when ``maxiter``
    steps do not reach the tolerance or that check fails.
    """
    q = np.array(v0, dtype=float).ravel()
    dim = q.size
    nrm = float(np.linalg.norm(q))
    if dim < 1 or not np.isfinite(nrm) or nrm == 0.0:
        raise ValueError("top_eigenpair_lanczos: v0 must be a finite non-zero vector")
    m = max(1, min(dim, int(maxiter)))
    stop_at = 1e-2 * rtol if stop is None else float(stop)
    Q = np.empty((m, dim))
    Q[0] = q / nrm
    alpha: list[float] = []
    beta: list[float] = []
    for j in range(m):
        w = np.asarray(hvp(Q[j]), dtype=float).ravel()
        alpha.append(float(Q[j] @ w))
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(np.linalg.norm(w))
        evals, S = np.linalg.eigh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
        theta, s = float(evals[-1]), S[:, -1]
        if b * abs(s[-1]) <= stop_at * max(abs(theta), atol) or j + 1 == dim:
            v = Q[: j + 1].T @ s
            v = v / np.linalg.norm(v)
            res = float(np.linalg.norm(np.asarray(hvp(v), dtype=float).ravel() - theta * v))
            if res > rtol * max(abs(theta), atol) * 10 + atol:
                raise NotConverged(f"Lanczos eigenpair not verified: residual {res:.2e} at lambda {theta:.6g}")
            return theta, v
        if j + 1 < m:
            beta.append(b)
            Q[j + 1] = w / b
    raise NotConverged(f"warm-started Lanczos did not converge in {m} steps on a {dim}-dimensional operator")

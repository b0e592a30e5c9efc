"""Closed-form quantities and step-size bounds, one function per statement.

References are to Nar & Sastry (2018) unless stated; the derivations are in
``shared/paper-math.md``.
"""

from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------------------------------------
# Section 1, Example 1: f(x) = (2/3)|x|^{3/2}
# ---------------------------------------------------------------------------------------------
def example1_orbit_amplitude(delta: float | np.ndarray) -> float | np.ndarray:
    """Amplitude of the 2-cycle ``{+delta^2/4, -delta^2/4}`` of GD on Example 1.

    ``x = delta^2/4`` maps to ``delta^2/4 - delta * (delta/2) = -delta^2/4`` and back.
    """
    out = np.asarray(delta, dtype=float) ** 2 / 4.0
    return float(out) if out.ndim == 0 else out


def example1_orbit_loss(delta: float) -> float:
    """Loss on the 2-cycle of Example 1: ``f(delta^2/4) = delta^3 / 12``."""
    return float(delta) ** 3 / 12.0


def example1_exceptional_coefficients(n: int) -> np.ndarray:
    """Coefficients ``a_1, ..., a_n`` of the exceptional set ``S = {0} U {+-a_k delta^2}``.

    The initial points that reach the minimiser 0 exactly: ``a_1 = 1`` (one step to 0) and
    ``a_{k+1} = ((1 + sqrt(1 + 4 a_k)) / 2)^2``, the unique preimage of ``a_k`` in the scaled map
    ``u -> u - sqrt(u)`` (so ``a_{k+1} - sqrt(a_{k+1}) = a_k``). ``a_2 = (3 + sqrt 5)/2``.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    a = np.empty(n)
    a[0] = 1.0
    for k in range(1, n):
        a[k] = ((1.0 + math.sqrt(1.0 + 4.0 * a[k - 1])) / 2.0) ** 2
    return a


# ---------------------------------------------------------------------------------------------
# Section 1, Example 2 and the general local stability condition
# ---------------------------------------------------------------------------------------------
def stability_threshold(curvature: float | np.ndarray) -> float | np.ndarray:
    """Largest step for which a minimum with second derivative (largest Hessian eigenvalue)
    ``curvature`` can be Lyapunov stable under GD: ``2 / curvature``.

    The linearisation of ``x -> x - delta f'(x)`` at the minimum has multiplier
    ``1 - delta f''(x*)``, inside the unit circle iff ``delta < 2 / f''(x*)``.
    """
    c = np.asarray(curvature, dtype=float)
    if np.any(c <= 0):
        raise ValueError("curvature must be > 0")
    out = 2.0 / c
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------
# Section 1, Example 3: f(x) = x^p / p
# ---------------------------------------------------------------------------------------------
def example3_critical_radius(delta: float, p: int) -> float:
    """Critical initial radius of GD on ``x^p / p``: ``(2 / delta)^{1 / (p - 2)}``.

    ``|x0| < r`` gives ``|1 - delta x^{p-2}| < 1`` at every later iterate, so ``x -> 0``;
    ``|x0| > r`` diverges; ``+-r`` is a 2-cycle (``r - delta r^{p-1} = -r``).
    """
    if delta <= 0 or p <= 2:
        raise ValueError("need delta > 0 and p > 2")
    return (2.0 / delta) ** (1.0 / (p - 2))


# ---------------------------------------------------------------------------------------------
# Section 2, deep linear networks (whitened loss 1/2 ||R - W_L ... W_1||_F^2)
# ---------------------------------------------------------------------------------------------
def corollary1_bound(depth: int | np.ndarray, rho: float | np.ndarray) -> float | np.ndarray:
    """Nar & Sastry, Corollary 1 (eq. (4)): GD can converge to a global optimum only if
    ``delta <= 2 / (L * rho^{2(L-1)/L})``, ``rho = sigma_max(R)``; attained at balanced solutions.
    """
    L = np.asarray(depth, dtype=float)
    r = np.asarray(rho, dtype=float)
    if np.any(L < 1) or np.any(r <= 0):
        raise ValueError("need depth >= 1 and rho > 0")
    out = 2.0 / (L * r ** (2.0 * (L - 1.0) / L))
    return float(out) if out.ndim == 0 else out


# --- Theorem 1 and Corollary 2 ---
def theorem1_curvature(Ws: list[np.ndarray]) -> np.ndarray:
    """Denominator of Nar & Sastry's Theorem 1, eq. (3), per run (shape ``(B,)``):
    ``sum_{j=1}^L ||p_{j+1}||^2 ||q_{j-1}||^2`` with ``p_j^T = u^T W_L ... W_j``,
    ``q_j = W_j ... W_1 v``, ``p_{L+1} = u``, ``q_0 = v``, and ``(u, v)`` the top singular pair of the
    product ``W_L ... W_1``. A lower bound on the Hessian's ``lambda_max`` at a solution (Lemma 2).

    ``Ws = [W_1, ..., W_L]``, each of shape ``(B, d_j, d_{j-1})``.
    """
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    U, _, Vt = np.linalg.svd(P)
    u, v = U[:, :, 0], Vt[:, 0, :]  # (B, d_L), (B, d_0)
    L = len(Ws)
    q = [v]  # q_0, ..., q_{L-1}
    for j in range(L - 1):
        q.append(np.einsum("bij,bj->bi", Ws[j], q[-1]))
    p = [u]  # p_{L+1}, p_L, ..., p_2
    for j in range(L - 1, 0, -1):
        p.append(np.einsum("bi,bij->bj", p[-1], Ws[j]))
    p = p[::-1]  # p[j-1] = p_{j+1}, j = 1..L
    return sum(np.sum(p[j] ** 2, axis=1) * np.sum(q[j] ** 2, axis=1) for j in range(L))


def theorem1_bound(Ws: list[np.ndarray]) -> np.ndarray:
    """Nar & Sastry, Theorem 1 (eq. (3)): GD (random initialisation) can converge to the solution
    ``Ws`` only if ``delta <= 2 / sum_j ||p_{j+1}||^2 ||q_{j-1}||^2`` (see :func:`theorem1_curvature`).

    Since the denominator is at most ``lambda_max`` of the Hessian, the bound is never smaller than
    the local stability limit ``2 / lambda_max``; it equals it at balanced solutions.
    """
    return 2.0 / theorem1_curvature(Ws)


def corollary2_certificate(depth: int | np.ndarray, delta: float | np.ndarray) -> float | np.ndarray:
    """Nar & Sastry, Corollary 2: if GD with step ``delta`` converged (random initialisation) to
    ``R_hat = W_L ... W_1``, then ``sigma_max(R_hat) <= (2 / (L delta))^{L / (2L - 2)}``
    (eq. (4) solved for ``rho``). Needs ``L >= 2`` (for ``L = 1`` there is no constraint).
    """
    L = np.asarray(depth, dtype=float)
    d = np.asarray(delta, dtype=float)
    if np.any(L < 2) or np.any(d <= 0):
        raise ValueError("need depth >= 2 and delta > 0")
    out = (2.0 / (L * d)) ** (L / (2.0 * L - 2.0))
    return float(out) if out.ndim == 0 else out


def corollary1_max_depth(delta: float, rho: float, max_depth: int = 1000) -> int:
    """Largest depth ``L <= max_depth`` with ``delta <= 2 / (L rho^{2(L-1)/L})`` (Corollary 1),
    i.e. the deepest network GD with step ``delta`` can still fit ``R`` with ``sigma_max(R) = rho``;
    0 if none. For ``rho >= 1/2`` the bound decreases in ``L`` from ``L = 1`` on (``b(1) = 2``,
    ``b(2) = 1/rho``, and ``d ln b / dL = -(L + 2 ln rho) / L^2``), so every shallower depth also fits;
    for ``rho < 1/2`` it first grows, up to about ``L = max{2, 2 ln(1/rho)}``, and falls after.
    """
    Ls = np.arange(1, max_depth + 1)
    ok = delta <= corollary1_bound(Ls, rho)
    return int(Ls[ok].max()) if ok.any() else 0

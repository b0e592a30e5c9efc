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

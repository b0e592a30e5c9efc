"""The toy loss of Crăciun & Ghoshdastidar (2024), Example 1: ``L(x, y) = 1/2 (1 - x y)^2``.

Everything the chapters need about it: the loss, its gradient and Hessian, the curve of global
minima ``xy = 1``, the set of weakly stable minima ``M_WS(eta)`` with its end points and arc
length, and a fast, vectorised map of where gradient descent started on a dense grid of points
ends up (the "trapping region" of Fig. 2).

The formulas are derived in ``shared/paper-math.md`` (tag [D]); the paper's own text lost them.

* ``grad L = -(1 - xy) (y, x)``;
* ``H_L = [[y^2, 2xy - 1], [2xy - 1, x^2]]``; on ``xy = 1`` its eigenvalues are ``0`` (tangent)
  and ``x^2 + y^2`` (normal), so ``DG = I - eta H`` has eigenvalues ``1`` and ``1 - eta (x^2 + y^2)``;
* ``M_WS(eta) = {(x, 1/x) : x^2 + x^-2 <= 2 / eta}``, empty exactly when ``eta > 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dynamics import Fate

ArrayLike = float | np.ndarray


# ---------------------------------------------------------------------------------------------
# The loss and its derivatives
# ---------------------------------------------------------------------------------------------
def loss(x: ArrayLike, y: ArrayLike) -> ArrayLike:
    """``L(x, y) = 1/2 (1 - x y)^2`` (Crăciun & Ghoshdastidar, Example 1)."""
    return 0.5 * (1.0 - x * y) ** 2


def grad(x: ArrayLike, y: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """``grad L = ((xy - 1) y, (xy - 1) x)``, returned as the pair ``(dL/dx, dL/dy)``."""
    r = x * y - 1.0
    return r * y, r * x


def grad_xy(z: np.ndarray) -> np.ndarray:
    """:func:`grad` on points stacked as ``z[..., 0] = x``, ``z[..., 1] = y`` (for ``dynamics.gd_map``)."""
    gx, gy = grad(z[..., 0], z[..., 1])
    return np.stack([gx, gy], axis=-1)


def hessian(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """``H_L(x, y) = [[y^2, 2xy - 1], [2xy - 1, x^2]]``, shape ``(..., 2, 2)``."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    off = 2.0 * x * y - 1.0
    return np.stack([np.stack([y**2, off], -1), np.stack([off, x**2], -1)], -2)


def sharpness_on_minima(x: ArrayLike) -> ArrayLike:
    """``lambda_max(H_L)`` at the minimum ``(x, 1/x)``: ``x^2 + x^-2`` (the other eigenvalue is 0)."""
    x = np.asarray(x, dtype=float)
    return x**2 + x**-2.0


# ---------------------------------------------------------------------------------------------
# Weakly stable minima M_WS(eta) = {(x, 1/x) : x^2 + x^-2 <= 2/eta}
# ---------------------------------------------------------------------------------------------
#: The critical learning rate of the toy: ``2 / min_{xy=1} (x^2 + y^2) = 2 / 2``.
CRITICAL_ETA = 1.0


def mws_endpoints(eta: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """End points ``a <= |x| <= 1/a`` of ``M_WS(eta)`` on each branch of ``xy = 1``.

    ``x^2 + x^-2 <= S`` with ``S = 2/eta`` holds for ``a^2 <= x^2 <= a^-2``, where
    ``a^2 = (S - sqrt(S^2 - 4)) / 2``. NaN where ``eta > 1`` (``M_WS`` empty).
    """
    eta = np.asarray(eta, dtype=float)
    if np.any(eta <= 0):
        raise ValueError("eta must be > 0")
    S = 2.0 / eta
    with np.errstate(invalid="ignore"):
        a2 = np.where(S >= 2.0, (S - np.sqrt(np.maximum(S * S - 4.0, 0.0))) / 2.0, np.nan)
        a = np.sqrt(a2)
    lo, hi = a, 1.0 / a
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def mws_empty(eta: ArrayLike) -> ArrayLike:
    """``True`` where ``M_WS(eta)`` is empty, i.e. ``eta > 1``."""
    out = np.asarray(eta, dtype=float) > CRITICAL_ETA
    return bool(out) if out.ndim == 0 else out


_GL_U, _GL_W = np.polynomial.legendre.leggauss(96)


def minima_arc_length(smax: ArrayLike, branches: int = 2) -> ArrayLike:
    """Arc length of the minima with sharpness at most ``smax``: ``{(x, 1/x) : x^2 + x^-2 <= smax}``.

    ``branches * int_a^{1/a} sqrt(1 + x^-4) dx`` with ``a^2 = (smax - sqrt(smax^2 - 4)) / 2`` (0 when
    ``smax < 2``), by 96-point Gauss-Legendre quadrature in ``u = log x``, where the integrand
    ``e^u sqrt(1 + e^{-4u})`` is smooth and even. ``branches = 2`` counts both curves ``x > 0``
    and ``x < 0``.
    """
    if branches not in (1, 2):
        raise ValueError("branches must be 1 or 2")
    S = np.asarray(smax, dtype=float)
    s1 = np.atleast_1d(S)
    with np.errstate(invalid="ignore"):
        a2 = np.where(s1 >= 2.0, (s1 - np.sqrt(np.maximum(s1 * s1 - 4.0, 0.0))) / 2.0, 1.0)
    h = np.maximum(-0.5 * np.log(a2), 0.0)  # u in [-h, h]
    u = h[:, None] * _GL_U[None, :]
    f = np.exp(u) * np.sqrt(1.0 + np.exp(-4.0 * u))
    out = branches * h * (f @ _GL_W)
    return float(out[0]) if S.ndim == 0 else out


def mws_length(eta: ArrayLike, branches: int = 2) -> ArrayLike:
    """Arc length of ``M_WS(eta)`` (Crăciun & Ghoshdastidar, Fig. 2): :func:`minima_arc_length` at
    ``smax = 2 / eta``; 0 when ``eta >= 1``. The paper normalises it by its value at ``eta = 0.1``.
    """
    eta = np.asarray(eta, dtype=float)
    if np.any(eta <= 0):
        raise ValueError("eta must be > 0")
    return minima_arc_length(2.0 / eta, branches)


def sharpness_cutoff_for_length(length: float, branches: int = 2) -> float:
    """The ``smax`` at which :func:`minima_arc_length` equals ``length`` (bisection on ``log smax``)."""
    if length <= 0:
        raise ValueError("length must be > 0")
    lo, hi = 2.0, 4.0
    while minima_arc_length(hi, branches) < length:
        hi *= 2.0
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if minima_arc_length(mid, branches) < length:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def mws_curve(eta: float, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, 1/x)`` of ``M_WS(eta)`` on both branches (NaN-separated; empty if ``eta > 1``)."""
    a, b = mws_endpoints(eta)
    if not math.isfinite(a):
        return np.empty(0), np.empty(0)
    xs = np.geomspace(a, b, n)
    x = np.concatenate([xs, [np.nan], -xs])
    return x, 1.0 / x


# ---------------------------------------------------------------------------------------------
# Fates of many GD runs at once (the trapping-region map of Fig. 2)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyFates:
    """Where each GD run on the toy loss ended (one entry per initial point).

    ``kind``: :class:`stepsize.dynamics.Fate` codes (``CONVERGED`` = gradient norm below ``tol``,
    ``PERIODIC`` = a cycle of period ``2..max_period``, ``DIVERGED``, ``UNDECIDED``);
    ``period``: 1 for converged, ``p`` for a cycle, 0 otherwise; ``steps``: the step at which the
    run was classified (a multiple of ``check_every``, or ``n_steps``); ``x``, ``y``: last iterate
    (NaN if diverged).
    """

    kind: np.ndarray
    period: np.ndarray
    steps: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tol: float

    @property
    def at_minimum(self) -> np.ndarray:
        """Converged to a global minimum: ``CONVERGED`` and ``|1 - xy| < tol``."""
        with np.errstate(invalid="ignore"):
            return (self.kind == int(Fate.CONVERGED)) & (np.abs(1.0 - self.x * self.y) < self.tol)

    @property
    def sharpness(self) -> np.ndarray:
        """``x^2 + y^2`` at the last iterate (``lambda_max`` of the Hessian there, if a minimum)."""
        return self.x**2 + self.y**2

    def fraction(self, kind: Fate) -> float:
        return float(np.mean(self.kind == int(kind)))

    @property
    def fraction_at_minimum(self) -> float:
        """The paper's trapping-region proxy: share of runs that converged to a minimum."""
        return float(np.mean(self.at_minimum))


def fates(x0: ArrayLike, y0: ArrayLike, eta: ArrayLike, n_steps: int, *, tol: float = 1e-6,
          cycle_tol: float = 1e-10, blowup: float = 1e6, check_every: int = 16, max_period: int = 4,
          chunk: int = 1 << 16) -> ToyFates:
    """Run GD ``(x, y) <- (x, y) - eta grad L`` from every initial point and classify each run.

    Vectorised: all points advance together with in-place operations on float arrays. Every
    ``check_every`` steps the runs are checked and finished ones are dropped from the active set
    (so converged and diverged runs cost nothing afterwards):

    * ``CONVERGED`` when ``|grad L| < tol`` (use :attr:`ToyFates.at_minimum` for ``|1 - xy| < tol``);
    * ``PERIODIC`` with period ``p in 2..max_period`` when, over the last ``max_period`` steps of
      the block, the smallest ``q >= 1`` with ``|z_{k+q} - z_k| <= cycle_tol (1 + |z_k|)`` is ``p``;
    * ``DIVERGED`` when ``x^2 + y^2 > blowup^2`` or an iterate overflowed (no warnings: local errstate);
    * ``UNDECIDED`` when still running after ``n_steps``.

    The work runs in stages of growing length (``4 check_every``, then 4 times longer each time);
    within a stage the active runs advance in slices of ``chunk`` points (bounded temporaries), and
    between stages the survivors of all slices are pooled, so a handful of slow runs never keep
    many small arrays (and the per-call cost of numpy) alive.

    ``eta`` is a number or one step size per point. :func:`fate_plain` is the same algorithm,
    one point at a time, with bit-for-bit the same iterates.
    """
    x0, y0, eta = np.broadcast_arrays(np.asarray(x0, dtype=float), np.asarray(y0, dtype=float),
                                      np.asarray(eta, dtype=float))
    shape = x0.shape
    x0, y0, eta = x0.ravel(), y0.ravel(), eta.ravel()
    if np.any(~(eta > 0)):
        raise ValueError("eta must be > 0")
    if n_steps < 0 or check_every < 1 or max_period < 1 or chunk < 1:
        raise ValueError("need n_steps >= 0, check_every >= 1, max_period >= 1, chunk >= 1")
    n = x0.size
    out = _ToyOut(kind=np.full(n, int(Fate.UNDECIDED), dtype=np.int8), period=np.zeros(n, dtype=np.int64),
                  steps=np.full(n, n_steps, dtype=np.int64), x=x0.copy(), y=y0.copy())
    crit = (tol * tol, cycle_tol * cycle_tol, blowup * blowup, check_every, max_period)
    idx = np.arange(n)
    k, stage = 0, 4 * check_every
    while k < n_steps and idx.size:
        k_end = min(n_steps, k + stage)  # a multiple of check_every unless it is n_steps
        alive = [_run_blocks(idx[s:s + chunk], out, eta, k, k_end, crit) for s in range(0, idx.size, chunk)]
        idx = np.concatenate(alive)
        k, stage = k_end, 4 * stage
    bad = out.kind == int(Fate.DIVERGED)
    out.x[bad] = np.nan
    out.y[bad] = np.nan
    return ToyFates(kind=out.kind.reshape(shape), period=out.period.reshape(shape),
                    steps=out.steps.reshape(shape), x=out.x.reshape(shape), y=out.y.reshape(shape), tol=tol)


@dataclass(frozen=True)
class _ToyOut:
    """The per-point results :func:`fates` fills in (``x``, ``y`` hold the current iterate)."""

    kind: np.ndarray
    period: np.ndarray
    steps: np.ndarray
    x: np.ndarray
    y: np.ndarray


def _run_blocks(idx: np.ndarray, out: _ToyOut, eta: np.ndarray, k: int, k_end: int,
                crit: tuple[float, float, float, int, int]) -> np.ndarray:
    """Advance the points ``idx`` from step ``k`` to ``k_end`` in blocks of ``check_every`` steps,
    classify after each block, write finished points (and all iterates) to ``out``; return the
    indices still running."""
    tol2, ctol2, lim2, check_every, max_period = crit
    x = out.x[idx]  # fancy indexing: copies
    y = out.y[idx]
    e = eta[idx]
    t = np.empty(idx.size)
    u = np.empty(idx.size)
    v = np.empty(idx.size)
    back = np.empty(idx.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        while k < k_end and idx.size:
            nb = min(check_every, k_end - k)
            pw = min(max_period, nb) if max_period >= 2 else 0  # steps watched for a cycle
            hit = np.zeros(idx.size, dtype=np.int8)
            for j in range(nb):
                if pw and j == nb - pw:
                    xs, ys = x.copy(), y.copy()
                    sc = 1.0 + np.sqrt(xs * xs + ys * ys)
                    ref = ctol2 * (sc * sc)
                np.multiply(x, y, out=t)
                t -= 1.0
                t *= e
                np.multiply(t, y, out=u)
                t *= x
                x -= u
                y -= t
                if pw and j >= nb - pw:  # |z - z_s|^2 <= ref, in preallocated buffers
                    q = j - (nb - pw) + 1
                    np.subtract(x, xs, out=u)
                    u *= u
                    np.subtract(y, ys, out=v)
                    v *= v
                    u += v
                    np.less_equal(u, ref, out=back)
                    if q > 1:
                        back &= hit == 0
                    hit[back] = q
            k += nb
            nrm2 = x * x + y * y
            r = x * y - 1.0
            bad = ~(nrm2 <= lim2)  # NaN/inf count as diverged
            conv = (r * r * nrm2 < tol2) & ~bad
            cyc = (hit >= 2) & ~conv & ~bad
            done = bad | conv | cyc
            if done.any():
                di = idx[done]
                out.kind[di] = np.where(bad[done], int(Fate.DIVERGED),
                                        np.where(conv[done], int(Fate.CONVERGED), int(Fate.PERIODIC)))
                out.period[di] = np.where(conv[done], 1, np.where(cyc[done], hit[done], 0))
                out.steps[di] = k
                out.x[di] = x[done]
                out.y[di] = y[done]
                keep = ~done
                idx, x, y, e = idx[keep], x[keep], y[keep], e[keep]
                t, u, v, back = t[: idx.size], u[: idx.size], v[: idx.size], back[: idx.size]
    out.x[idx] = x
    out.y[idx] = y
    return idx


def fate_plain(x0: float, y0: float, eta: float, n_steps: int, *, tol: float = 1e-6,
               cycle_tol: float = 1e-10, blowup: float = 1e6, check_every: int = 16,
               max_period: int = 4) -> tuple[int, int, int, float, float]:
    """Reference implementation of :func:`fates` for ONE initial point, in plain Python floats.

    Same step ``t = eta (xy - 1); (x, y) <- (x - t y, y - t x)``, same checks at the same steps,
    so it returns exactly what :func:`fates` gives for that point:
    ``(kind, period, steps, x, y)`` with ``kind`` a :class:`stepsize.dynamics.Fate` code.
    Meant for tests and as the baseline of the benchmark (it is slow on purpose: no numpy).
    """
    x, y, e = float(x0), float(y0), float(eta)
    if not e > 0:
        raise ValueError("eta must be > 0")
    tol2, ctol2, lim2 = tol * tol, cycle_tol * cycle_tol, blowup * blowup
    k = 0
    while k < n_steps:
        nb = min(check_every, n_steps - k)
        pw = min(max_period, nb) if max_period >= 2 else 0
        hit = 0
        xs = ys = ref = 0.0
        for j in range(nb):
            if pw and j == nb - pw:
                xs, ys = x, y
                sc = 1.0 + math.sqrt(xs * xs + ys * ys)
                ref = ctol2 * (sc * sc)
            t = (x * y - 1.0) * e  # float * and - give inf/nan on overflow (``**`` would raise)
            x, y = x - t * y, y - t * x
            if pw and j >= nb - pw and hit == 0:
                q = j - (nb - pw) + 1
                dx, dy = x - xs, y - ys
                if dx * dx + dy * dy <= ref:
                    hit = q
        k += nb
        nrm2 = x * x + y * y
        if not nrm2 <= lim2:
            return int(Fate.DIVERGED), 0, k, math.nan, math.nan
        r = x * y - 1.0
        if r * r * nrm2 < tol2:
            return int(Fate.CONVERGED), 1, k, x, y
        if hit >= 2:
            return int(Fate.PERIODIC), hit, k, x, y
    return int(Fate.UNDECIDED), 0, n_steps, x, y

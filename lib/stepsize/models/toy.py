"""The toy loss of Crăciun & Ghoshdastidar (2024), Example 1: ``L(x, y) = 1/2 (1 - x y)^2``.

Everything the chapters need about it: the loss, its gradient and Hessian, the curve of global
minima ``xy = 1``, the set of weakly stable minima ``M_WS(eta)`` with its end points and arc
length, and a fast, vectorised map of where gradient descent started on a dense grid of points
ends up (the "trapping region" of Fig. 2).

The formulas are our derivation (checked by the unit tests); the paper's surviving text lost them.

* ``grad L = -(1 - xy) (y, x)``;
* ``H_L = [[y^2, 2xy - 1], [2xy - 1, x^2]]``; on ``xy = 1`` its eigenvalues are ``0`` (tangent)
  and ``x^2 + y^2`` (normal), so ``DG = I - eta H`` has eigenvalues ``1`` and ``1 - eta (x^2 + y^2)``;
* ``M_WS(eta) = {(x, 1/x) : x^2 + x^-2 <= 2 / eta}``, empty exactly when ``eta > 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dynamics import Fate, decide_fates

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


#: Candidate definitions of "the length of M_WS" (the paper's own is not known): name ->
#: (sharpness cutoff as a function of eta, number of branches). The first is ours, :func:`mws_length`.
MWS_LENGTH_CANDIDATES = {
    "both branches, sharpness ≤ 2/η (ours)": (lambda e: 2.0 / e, 2),
    "one branch, sharpness ≤ 2/η": (lambda e: 2.0 / e, 1),
    "both branches, sharpness ≤ 1/η": (lambda e: 1.0 / e, 2),
    "both branches, sharpness ≤ 4/η": (lambda e: 4.0 / e, 2),
    "both branches, sharpness ≤ 1/η²": (lambda e: 1.0 / e**2, 2),
    "both branches, sharpness ≤ 2/η²": (lambda e: 2.0 / e**2, 2),
}


def mws_length_candidates(eta: ArrayLike) -> dict[str, ArrayLike]:
    """The length of the minima under each definition of :data:`MWS_LENGTH_CANDIDATES`, at ``eta``."""
    eta = np.asarray(eta, dtype=float)
    if np.any(eta <= 0):
        raise ValueError("eta must be > 0")
    return {name: minima_arc_length(cut(eta), b) for name, (cut, b) in MWS_LENGTH_CANDIDATES.items()}


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


def steps_to_settle(eta: float, tol: float = 1e-6, scale: float = 4.0) -> int:
    """A step budget within which GD on the toy loss brings runs to rest at a minimum (to ``tol``).

    Near the flattest minima ``(+-1, +-1)`` the residual is multiplied by ``1 - 2 eta`` per step
    (the transverse eigenvalue of ``DG``), so it shrinks by ``tol / scale`` after
    ``ln(scale / tol) / eps`` steps with ``eps = 1 - |1 - 2 eta| = 2 min(eta, 1 - eta)``; twice
    that, for the approach to the curve. Our estimate, meant for "raise n_steps to about ...".
    """
    if not 0 < eta < CRITICAL_ETA:
        raise ValueError("steps_to_settle: needs 0 < eta < 1 (no minimum holds GD otherwise)")
    eps = 2.0 * min(eta, 1.0 - eta)
    return math.ceil(2.0 * math.log(scale / tol) / eps)


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

    ``kind``: :class:`stepsize.dynamics.Fate` codes, decided by the book's one rule
    (:func:`stepsize.dynamics.decide_fates`): ``CONVERGED`` = settled (gradient norm below ``tol``)
    **and** ``eta * lambda_max(H) < 2`` there; ``PERIODIC`` = a cycle of period ``2..max_period``
    whose multipliers lie in the unit disc; ``DIVERGED``; ``UNDECIDED`` otherwise (still moving,
    or settled where GD cannot stay);
    ``period``: 1 for converged, ``p`` for a cycle, 0 otherwise; ``steps``: the step at which the
    run was classified (a multiple of ``check_every``, or ``n_steps``); ``x``, ``y``: last iterate
    (NaN if diverged); ``settled``: the gradient test alone passed (before the stability test);
    ``eta_sharpness``: ``eta * lambda_max(H)`` at settled runs (NaN elsewhere);
    ``multiplier``: largest ``|eig D(G^p)|`` along each cycle found (NaN elsewhere).
    """

    kind: np.ndarray
    period: np.ndarray
    steps: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tol: float
    settled: np.ndarray | None = None
    eta_sharpness: np.ndarray | None = None
    multiplier: np.ndarray | None = None

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


def fates(
    x0: ArrayLike,
    y0: ArrayLike,
    eta: ArrayLike,
    n_steps: int,
    *,
    tol: float = 1e-6,
    cycle_tol: float = 1e-10,
    blowup: float = 1e6,
    check_every: int = 16,
    max_period: int = 4,
    chunk: int = 1 << 16,
) -> ToyFates:
    """Run GD ``(x, y) <- (x, y) - eta grad L`` from every initial point and classify each run.

    Vectorised: all points advance together with in-place operations on float arrays. Every
    ``check_every`` steps the runs are checked and finished ones are dropped from the active set
    (so converged and diverged runs cost nothing afterwards):

    * settled when ``|grad L| < tol``; a cycle of period ``p in 2..max_period`` when, over the last
      ``max_period`` steps of the block, the smallest ``q >= 1`` with
      ``|z_{k+q} - z_k| <= cycle_tol (1 + |z_k|)`` is ``p``;
    * ``DIVERGED`` when ``x^2 + y^2 > blowup^2`` or an iterate overflowed (no warnings: local errstate);
    * ``UNDECIDED`` when still running after ``n_steps``.

    The fates then follow the book's one rule (:func:`stepsize.dynamics.decide_fates`): a settled
    run is ``CONVERGED`` only when ``eta * lambda_max(H_L) < 2`` where it stopped (closed form,
    :func:`lambda_max_closed_form`), a cycle is ``PERIODIC`` only when its multipliers (eigenvalues
    of the product of ``DG`` along it) lie in the unit disc; otherwise ``UNDECIDED``.
    (Use :attr:`ToyFates.at_minimum` for "converged to a minimum", ``|1 - xy| < tol``.)

    The work runs in stages of growing length (``4 check_every``, then 4 times longer each time);
    within a stage the active runs advance in slices of ``chunk`` points (bounded temporaries), and
    between stages the survivors of all slices are pooled, so a handful of slow runs never keep
    many small arrays (and the per-call cost of numpy) alive.

    ``eta`` is a number or one step size per point. :func:`fate_plain` is the same algorithm,
    one point at a time, with bit-for-bit the same iterates.
    """
    x0, y0, eta = np.broadcast_arrays(
        np.asarray(x0, dtype=float), np.asarray(y0, dtype=float), np.asarray(eta, dtype=float)
    )
    shape = x0.shape
    x0, y0, eta = x0.ravel(), y0.ravel(), eta.ravel()
    if np.any(~(eta > 0)):
        raise ValueError("eta must be > 0")
    if n_steps < 0 or check_every < 1 or max_period < 1 or chunk < 1:
        raise ValueError("need n_steps >= 0, check_every >= 1, max_period >= 1, chunk >= 1")
    n = x0.size
    out = _ToyOut(
        kind=np.full(n, int(Fate.UNDECIDED), dtype=np.int8),
        period=np.zeros(n, dtype=np.int64),
        steps=np.full(n, n_steps, dtype=np.int64),
        x=x0.copy(),
        y=y0.copy(),
        es=np.full(n, np.nan),
        mu=np.full(n, np.nan),
    )
    crit = (tol * tol, cycle_tol * cycle_tol, blowup * blowup, check_every, max_period)
    idx = np.arange(n)
    k, stage = 0, 4 * check_every
    while k < n_steps and idx.size:
        k_end = min(n_steps, k + stage)  # a multiple of check_every unless it is n_steps
        alive = [_run_blocks(idx[s : s + chunk], out, eta, k, k_end, crit) for s in range(0, idx.size, chunk)]
        idx = np.concatenate(alive)
        k, stage = k_end, 4 * stage
    bad = out.kind == int(Fate.DIVERGED)
    out.x[bad] = np.nan
    out.y[bad] = np.nan
    kind, period = _decide(out.period, bad, out.es, out.mu)
    return ToyFates(
        kind=kind.reshape(shape),
        period=period.reshape(shape),
        steps=out.steps.reshape(shape),
        x=out.x.reshape(shape),
        y=out.y.reshape(shape),
        tol=tol,
        settled=(out.period == 1).reshape(shape),
        eta_sharpness=out.es.reshape(shape),
        multiplier=out.mu.reshape(shape),
    )


def lambda_max_closed_form(x: ArrayLike, y: ArrayLike) -> ArrayLike:
    """``lambda_max`` of ``H_L(x, y) = [[y^2, b], [b, x^2]]``, ``b = 2xy - 1``, in closed form:
    ``(x^2 + y^2)/2 + sqrt(((y^2 - x^2)/2)^2 + b^2)`` (the larger root of the 2x2 characteristic
    polynomial; ``x^2 + y^2`` on the minima ``xy = 1``)."""
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        x, y = float(x), float(y)
        h, b = 0.5 * (y * y - x * x), 2.0 * x * y - 1.0
        return 0.5 * (x * x + y * y) + math.sqrt(h * h + b * b)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, c = y * y, x * x
    b = x * y
    b *= 2.0
    b -= 1.0
    b *= b
    h = a - c
    h *= 0.5
    h *= h
    h += b
    np.sqrt(h, out=h)
    a += c
    a *= 0.5
    a += h
    return a


def _eta_sharpness(x: np.ndarray, y: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``e * lambda_max(H_L(x, y))`` per run (the stability number of a settled run)."""
    out = lambda_max_closed_form(x, y)
    out *= e
    return out


def _cycle_multiplier(x: np.ndarray, y: np.ndarray, e: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Largest ``|eig D(G^p)|`` of the cycles through ``(x, y)`` of period ``p``: the product of
    ``DG = I - e H_L`` at the ``p`` orbit points, its eigenvalues from trace and determinant."""
    m11, m12, m21, m22 = np.ones_like(x), np.zeros_like(x), np.zeros_like(x), np.ones_like(x)
    cx, cy = x.copy(), y.copy()
    for j in range(int(p.max()) if p.size else 0):
        on = j < p  # this orbit still has a point to multiply in
        b = -e * (2.0 * cx * cy - 1.0)
        a, d = 1.0 - e * cy * cy, 1.0 - e * cx * cx  # DG = [[a, b], [b, d]]
        n11, n12 = a * m11 + b * m21, a * m12 + b * m22
        n21, n22 = b * m11 + d * m21, b * m12 + d * m22
        m11, m12 = np.where(on, n11, m11), np.where(on, n12, m12)
        m21, m22 = np.where(on, n21, m21), np.where(on, n22, m22)
        t = (cx * cy - 1.0) * e
        cx, cy = cx - t * cy, cy - t * cx
    tr, det = m11 + m22, m11 * m22 - m12 * m21
    disc = 0.25 * tr * tr - det
    return np.where(disc >= 0, 0.5 * np.abs(tr) + np.sqrt(np.maximum(disc, 0.0)), np.sqrt(np.abs(det)))


def _decide(period: np.ndarray, diverged: np.ndarray, es: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one fate rule (:func:`stepsize.dynamics.decide_fates`) on the toy's runs; returns
    ``(kind, period)`` with period 0 where the fate is undecided or the run diverged."""
    kind = decide_fates(period, diverged, es, mu)
    period = np.where((kind == int(Fate.UNDECIDED)) | diverged, 0, period)
    return kind, period


@dataclass(frozen=True)
class _ToyOut:
    """The per-point results :func:`fates` fills in (``x``, ``y`` hold the current iterate;
    ``es``, ``mu``: ``eta * lambda_max`` at settled runs, multiplier of cycles)."""

    kind: np.ndarray
    period: np.ndarray
    steps: np.ndarray
    x: np.ndarray
    y: np.ndarray
    es: np.ndarray
    mu: np.ndarray


def _run_blocks(
    idx: np.ndarray, out: _ToyOut, eta: np.ndarray, k: int, k_end: int, crit: tuple[float, float, float, int, int]
) -> np.ndarray:
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
                out.kind[di] = np.where(
                    bad[done], int(Fate.DIVERGED), np.where(conv[done], int(Fate.CONVERGED), int(Fate.PERIODIC))
                )
                out.period[di] = np.where(conv[done], 1, np.where(cyc[done], hit[done], 0))
                out.steps[di] = k
                out.x[di] = x[done]
                out.y[di] = y[done]
                if conv.any():  # eta * lambda_max where the run settled, on the small slice
                    out.es[idx[conv]] = _eta_sharpness(x[conv], y[conv], e[conv])
                if cyc.any():
                    out.mu[idx[cyc]] = _cycle_multiplier(x[cyc], y[cyc], e[cyc], hit[cyc])
                keep = ~done
                idx, x, y, e = idx[keep], x[keep], y[keep], e[keep]
                t, u, v, back = t[: idx.size], u[: idx.size], v[: idx.size], back[: idx.size]
    out.x[idx] = x
    out.y[idx] = y
    return idx


def fate_plain(
    x0: float,
    y0: float,
    eta: float,
    n_steps: int,
    *,
    tol: float = 1e-6,
    cycle_tol: float = 1e-10,
    blowup: float = 1e6,
    check_every: int = 16,
    max_period: int = 4,
) -> tuple[int, int, int, float, float]:
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
            return _decide_one(1, k, x, y, e)
        if hit >= 2:
            return _decide_one(hit, k, x, y, e)
    return int(Fate.UNDECIDED), 0, n_steps, x, y


def _decide_one(period: int, k: int, x: float, y: float, e: float) -> tuple[int, int, int, float, float]:
    """The fate rule for one run of :func:`fate_plain` (same arithmetic as :func:`fates`, on
    one-element arrays)."""
    X, Y, E = np.array([x]), np.array([y]), np.array([e])
    nan = np.array([np.nan])
    if period == 1:
        es, mu = _eta_sharpness(X, Y, E), nan
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            es, mu = nan, _cycle_multiplier(X, Y, E, np.array([period]))
    kind, per = _decide(np.array([period]), np.array([False]), es, mu)
    return int(kind[0]), int(per[0]), k, x, y

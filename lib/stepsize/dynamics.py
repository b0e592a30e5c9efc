"""Gradient descent as a discrete-time dynamical system.

Every function here works on a *batch* of independent runs at once: the state is an array whose
first axis indexes the runs (``(n,)`` for scalar problems, ``(n, d)`` for vector problems). One
array computation advances all runs by one step; there is no Python loop over runs.

The fate of each run is classified after a step budget (Nar & Sastry 2018, Sec. 1, distinguish
exactly these outcomes):

* ``CONVERGED``  -- the iterates settle on a fixed point (a period-1 orbit);
* ``PERIODIC``   -- the iterates settle on a periodic orbit of period ``2 <= p <= max_period``;
* ``DIVERGED``   -- an iterate left the ball of radius ``blowup`` or overflowed (caught here,
  recorded with the step at which it happened, never a warning);
* ``UNDECIDED``  -- none of the above within the budget (slow convergence, chaos, long periods).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

import numpy as np

StepMap = Callable[[np.ndarray], np.ndarray]


class Fate(IntEnum):
    """Outcome of one run."""

    CONVERGED = 0
    PERIODIC = 1
    DIVERGED = 2
    UNDECIDED = 3


def gd_map(grad: Callable[[np.ndarray], np.ndarray], delta: float | np.ndarray) -> StepMap:
    """Return the gradient-descent map ``G(x) = x - delta * grad(x)``.

    ``delta`` may be an array broadcastable against the state, e.g. shape ``(n,)`` for scalar
    problems or ``(n, 1)`` for vector problems, to run many step sizes in one computation.
    """
    delta = np.asarray(delta, dtype=float)
    if np.any(~np.isfinite(delta)) or np.any(delta <= 0):
        raise ValueError("delta: every step size must be a finite number > 0")

    def step(x: np.ndarray) -> np.ndarray:
        return x - delta * grad(x)

    return step


def _norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm over all axes but the first (absolute value for scalar runs)."""
    if x.ndim == 1:
        return np.abs(x)
    return np.sqrt(np.sum(x.reshape(x.shape[0], -1) ** 2, axis=1))


def _advance(step: StepMap, x: np.ndarray, blowup: float) -> tuple[np.ndarray, np.ndarray]:
    """One step for every run; runs that overflow or leave the ``blowup`` ball become NaN.

    Overflow is expected here (a diverging run) and is classified right away, so the floating
    point warnings of this one step are silenced locally, not globally.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        x = step(x)
        bad = ~(_norm(x) <= blowup)  # NaN compares False, so NaN and inf count as bad
    if bad.any():
        x = np.array(x, dtype=float, copy=True)
        x[bad] = np.nan
    return x, bad


def trajectory(step: StepMap, x0: np.ndarray, n_steps: int, *, blowup: float = 1e12) -> np.ndarray:
    """All iterates ``x[0], ..., x[n_steps]`` of every run, shape ``(n_steps + 1, *x0.shape)``.

    A run that diverges is NaN from the step where it left the ``blowup`` ball on.
    Meant for plotting a few runs; use :func:`classify` for many.
    """
    x = np.array(x0, dtype=float)
    out = np.empty((n_steps + 1,) + x.shape)
    out[0] = x
    for k in range(n_steps):
        x, _ = _advance(step, x, blowup)
        out[k + 1] = x
    return out


def iterate(step: StepMap, x0: np.ndarray, n_steps: int, *, blowup: float = 1e12) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``step`` ``n_steps`` times to every run.

    Returns
    -------
    x : array like ``x0``
        The last iterate (NaN for runs that diverged).
    diverged_at : int array, shape ``(n,)``
        The step at which each run diverged, ``-1`` if it did not.
    """
    x = np.array(x0, dtype=float)
    diverged_at = np.full(x.shape[0], -1, dtype=np.int64)
    for k in range(n_steps):
        x, bad = _advance(step, x, blowup)
        new = bad & (diverged_at < 0)
        diverged_at[new] = k + 1
    return x, diverged_at


@dataclass(frozen=True)
class Fates:
    """The classified outcome of a batch of runs (one entry per run).

    Attributes
    ----------
    kind : int array (values of :class:`Fate`)
    period : int array -- 1 for a fixed point, ``p`` for a period-``p`` orbit, 0 otherwise
    final : array -- the last iterate (NaN if diverged)
    orbit_center : array -- mean of the last ``period`` iterates (the fixed point itself if converged)
    amplitude : float array -- largest distance of an orbit point from ``orbit_center``
        (0 for a fixed point, NaN when there is no orbit)
    diverged_at : int array -- step at which the run diverged, -1 otherwise
    """

    kind: np.ndarray
    period: np.ndarray
    final: np.ndarray
    orbit_center: np.ndarray
    amplitude: np.ndarray
    diverged_at: np.ndarray

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def mask(self, kind: Fate) -> np.ndarray:
        """Boolean mask of the runs with this fate."""
        return self.kind == int(kind)

    def fraction(self, kind: Fate) -> float:
        """Share of runs with this fate, a plain float in [0, 1]."""
        return float(np.mean(self.mask(kind))) if len(self) else float("nan")

    def counts(self) -> dict[str, int]:
        """Number of runs per fate, keyed by the fate's lower-case name."""
        return {f.name.lower(): int(np.sum(self.mask(f))) for f in Fate}


def classify(
    step: StepMap,
    x0: np.ndarray,
    n_steps: int,
    *,
    max_period: int = 8,
    tol: float = 1e-9,
    blowup: float = 1e12,
) -> Fates:
    """Run ``n_steps`` steps from every initial point, then classify each run's fate.

    After the budget, ``2 * max_period`` more steps are recorded. A run has period ``p`` when
    ``|x[k + p] - x[k]| <= tol * (1 + |x[k]|)`` for every recorded ``k``; the smallest such ``p``
    is its period (``p = 1``: converged to a fixed point). Runs that left the ``blowup`` ball
    are ``DIVERGED``; the rest are ``UNDECIDED``.

    Parameters
    ----------
    step : the map ``x -> G(x)``, vectorised over the first axis (see :func:`gd_map`).
    x0 : initial points, shape ``(n,)`` or ``(n, d)``.
    n_steps : steps before the classification window.
    max_period : longest period looked for.
    tol : relative tolerance of the periodicity test.
    blowup : radius beyond which a run counts as diverged.
    """
    if n_steps < 0 or max_period < 1:
        raise ValueError("n_steps must be >= 0 and max_period >= 1")
    x, diverged_at = iterate(step, x0, n_steps, blowup=blowup)
    window = 2 * max_period
    tail = np.empty((window + 1,) + x.shape)
    tail[0] = x
    for k in range(window):
        x, bad = _advance(step, x, blowup)
        diverged_at[bad & (diverged_at < 0)] = n_steps + k + 1
        tail[k + 1] = x

    n = x.shape[0]
    diverged = diverged_at >= 0
    period = np.zeros(n, dtype=np.int64)
    flat = tail.reshape(window + 1, n, -1)
    scale = 1.0 + np.sqrt(np.sum(flat**2, axis=2))  # (window + 1, n)
    for p in range(1, max_period + 1):
        gap = np.sqrt(np.sum((flat[p:] - flat[:-p]) ** 2, axis=2))  # (window + 1 - p, n)
        ok = np.all(gap <= tol * scale[:-p], axis=0) & ~diverged & (period == 0)
        period[ok] = p

    kind = np.full(n, int(Fate.UNDECIDED), dtype=np.int8)
    kind[period == 1] = int(Fate.CONVERGED)
    kind[period >= 2] = int(Fate.PERIODIC)
    kind[diverged] = int(Fate.DIVERGED)
    period[diverged] = 0

    center = np.full_like(x, np.nan)
    amplitude = np.full(n, np.nan)
    for p in np.unique(period[period > 0]):
        sel = period == p
        orbit = tail[-p:, sel]  # (p, m, ...)
        c = orbit.mean(axis=0)
        center[sel] = c
        dev = (orbit - c).reshape(p, orbit.shape[1], -1)
        amplitude[sel] = np.sqrt(np.sum(dev**2, axis=2)).max(axis=0)
    return Fates(kind=kind, period=period, final=tail[-1], orbit_center=center, amplitude=amplitude, diverged_at=diverged_at)


def nearest_fixed_point(fates: Fates, candidates: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Index of the candidate fixed point each converged run ended at, ``-1`` for none.

    A run is assigned candidate ``i`` when it ``CONVERGED`` and its limit lies within ``atol`` of
    ``candidates[i]`` (Euclidean distance; ``candidates`` has shape ``(m,)`` or ``(m, d)``).
    """
    cand = np.asarray(candidates, dtype=float).reshape(len(candidates), -1)
    lim = np.asarray(fates.orbit_center, dtype=float).reshape(len(fates), -1)
    dist = np.sqrt(((lim[:, None, :] - cand[None, :, :]) ** 2).sum(axis=2))  # (n, m)
    idx = np.argmin(np.where(np.isnan(dist), np.inf, dist), axis=1)
    ok = fates.mask(Fate.CONVERGED) & (np.take_along_axis(dist, idx[:, None], axis=1)[:, 0] <= atol)
    return np.where(ok, idx, -1)

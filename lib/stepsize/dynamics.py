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

One rule decides these fates for every model of the book (:func:`decide_fates`): a run is
``CONVERGED`` only when its iterates stayed put over a trailing window **and** it is linearly
stable where it stopped, ``eta * lambda_max(H) < 2`` (for the GD map ``G = id - eta grad L`` that
is ``lambda_min(DG) > -1``). A run that looks flat but sits where GD cannot stay is a transient:
``UNDECIDED``. A periodic orbit counts as ``PERIODIC`` only when its multipliers (eigenvalues of
``D(G^p)`` along the orbit) lie in the closed unit disc up to ``multiplier_tol``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

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
    eta_sharpness : float array -- ``eta * lambda_max(H)`` at the limit of each run that settled on
        a fixed point (``1 - lambda_min(DG)``), NaN otherwise or when not computed
    multiplier : float array -- largest modulus of the orbit's multipliers (``|eig D(G^p)|``) for
        runs that settled on an orbit, NaN otherwise or when not computed
    """

    kind: np.ndarray
    period: np.ndarray
    final: np.ndarray
    orbit_center: np.ndarray
    amplitude: np.ndarray
    diverged_at: np.ndarray
    eta_sharpness: np.ndarray | None = None
    multiplier: np.ndarray | None = None

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


#: ``eta * lambda_max`` must be below this for a fixed point to be linearly stable.
STABILITY_LIMIT = 2.0


def decide_fates(
    period: np.ndarray,
    diverged: np.ndarray,
    eta_sharpness: np.ndarray | None,
    multiplier: np.ndarray | None = None,
    *,
    multiplier_tol: float = 1e-6,
) -> np.ndarray:
    """The one fate rule of the book, for every model; returns ``kind`` (values of :class:`Fate`).

    Parameters
    ----------
    period : int array -- 1 where the run's iterates stayed put over its trailing window, ``p >= 2``
        where they repeated with period ``p``, 0 otherwise (see :func:`settled_period`).
    diverged : bool array -- the run overflowed or left its ball.
    eta_sharpness : float array or None -- ``eta * lambda_max(H)`` where the run stopped (NaN or
        None: not known). A settled run is ``CONVERGED`` only when this is ``< 2``; otherwise it is
        ``UNDECIDED`` (unknown stability decides nothing).
    multiplier : float array or None -- the largest modulus of the orbit's multipliers for
        ``period >= 2`` (NaN or None: not known; such an orbit stays ``PERIODIC``, the old test).
    """
    period = np.asarray(period)
    n = period.shape[0]
    diverged = np.asarray(diverged, dtype=bool)
    es = np.full(n, np.nan) if eta_sharpness is None else np.asarray(eta_sharpness, dtype=float)
    kind = np.full(n, int(Fate.UNDECIDED), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        stable = es < STABILITY_LIMIT  # NaN compares False: unknown is not stable
    kind[(period == 1) & stable] = int(Fate.CONVERGED)
    cyc = period >= 2
    if multiplier is not None:
        mu = np.asarray(multiplier, dtype=float)
        with np.errstate(invalid="ignore"):
            cyc &= ~(mu > 1.0 + multiplier_tol)
    kind[cyc] = int(Fate.PERIODIC)
    kind[diverged] = int(Fate.DIVERGED)
    return kind


def settled_period(tail: np.ndarray, tol: float, max_period: int, diverged: np.ndarray) -> np.ndarray:
    """Smallest ``p <= max_period`` with ``|x[k + p] - x[k]| <= tol * (1 + |x[k]|)`` over the window.

    ``tail`` holds the trailing iterates, shape ``(w + 1, n, ...)``; 0 where no ``p`` fits or the
    run diverged.
    """
    n = tail.shape[1]
    flat = tail.reshape(tail.shape[0], n, -1)
    scale = 1.0 + np.sqrt(np.sum(flat**2, axis=2))
    period = np.zeros(n, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for p in range(1, max_period + 1):
            gap = np.sqrt(np.sum((flat[p:] - flat[:-p]) ** 2, axis=2))
            ok = np.all(gap <= tol * scale[:-p], axis=0) & ~diverged & (period == 0)
            period[ok] = p
    return period


def jacobian_fd(step: StepMap, x: np.ndarray, rel_h: float = 1e-6) -> np.ndarray:
    """``DG(x)`` of every run by central differences, shape ``(n, d, d)`` (``(n, 1, 1)`` for scalars).

    The whole batch is stepped at once (the map may carry one step size per run); runs that are
    NaN give NaN rows. Costs ``2 d`` steps: meant for small ``d``.
    """
    x = np.asarray(x, dtype=float)
    scalar = x.ndim == 1
    X = x[:, None] if scalar else x.reshape(x.shape[0], -1)
    n, d = X.shape
    h = rel_h * (1.0 + np.abs(X))
    J = np.empty((n, d, d))
    with np.errstate(all="ignore"):
        for i in range(d):
            e = np.zeros_like(X)
            e[:, i] = h[:, i]
            up, dn = X + e, X - e
            gp = step(up[:, 0] if scalar else up.reshape(x.shape))
            gm = step(dn[:, 0] if scalar else dn.reshape(x.shape))
            J[:, :, i] = (np.reshape(gp, (n, d)) - np.reshape(gm, (n, d))) / (2.0 * h[:, i : i + 1])
    return J


def _stability(step: StepMap, tail: np.ndarray, period: np.ndarray, max_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``eta * lambda_max`` at settled fixed points and the largest multiplier of settled orbits."""
    n = tail.shape[1]
    es, mu = np.full(n, np.nan), np.full(n, np.nan)
    d = int(np.prod(tail.shape[2:])) if tail.ndim > 2 else 1
    if d > max_dim or not np.any(period > 0):
        return es, mu
    pmax = int(period.max())
    Js = [jacobian_fd(step, tail[-1 - j]) for j in range(pmax)]  # DG at the last pmax iterates
    fixed = period == 1
    if fixed.any():
        J = Js[0][fixed]
        S = 0.5 * (J + np.swapaxes(J, 1, 2))  # DG = I - eta H is symmetric
        es[fixed] = 1.0 - np.linalg.eigvalsh(S)[:, 0]
    for p in np.unique(period[period >= 2]):
        sel = period == p
        M = Js[0][sel]
        for j in range(1, int(p)):
            M = M @ Js[j][sel]
        mu[sel] = np.max(np.abs(np.linalg.eigvals(M)), axis=1)
    return es, mu


def classify(
    step: StepMap,
    x0: np.ndarray,
    n_steps: int,
    *,
    max_period: int = 8,
    tol: float = 1e-9,
    blowup: float = 1e12,
    stability_max_dim: int = 32,
) -> Fates:
    """Run ``n_steps`` steps from every initial point, then classify each run's fate.

    After the budget, ``2 * max_period`` more steps are recorded. A run has period ``p`` when
    ``|x[k + p] - x[k]| <= tol * (1 + |x[k]|)`` for every recorded ``k``; the smallest such ``p``
    is its period (:func:`settled_period`). Runs that left the ``blowup`` ball are ``DIVERGED``.
    The fate then follows the one rule of :func:`decide_fates`: for states of at most
    ``stability_max_dim`` numbers, ``DG`` is computed by central differences (:func:`jacobian_fd`)
    and a settled fixed point is ``CONVERGED`` only when ``eta * lambda_max = 1 - lambda_min(DG) < 2``,
    a settled orbit ``PERIODIC`` only when its multipliers lie in the unit disc. Larger states are
    left to their model's runner, which knows its Hessian (:mod:`stepsize.sharpness`).

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

    diverged = diverged_at >= 0
    period = settled_period(tail, tol, max_period, diverged)
    d = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    if d <= stability_max_dim:
        es, mu = _stability(step, tail, period, stability_max_dim)
        kind = decide_fates(period, diverged, es, mu)
    else:  # no Hessian here: the settled test alone, for the model's runner to refine
        es, mu = np.full(len(period), np.nan), np.full(len(period), np.nan)
        kind = decide_fates(period, diverged, np.where(period == 1, 0.0, np.nan), None)
    period = np.where(kind == int(Fate.UNDECIDED), 0, period)
    period[diverged] = 0

    center = np.full_like(x, np.nan)
    amplitude = np.full(x.shape[0], np.nan)
    for p in np.unique(period[period > 0]):
        sel = period == p
        orbit = tail[-p:, sel]  # (p, m, ...)
        c = orbit.mean(axis=0)
        center[sel] = c
        dev = (orbit - c).reshape(p, orbit.shape[1], -1)
        amplitude[sel] = np.sqrt(np.sum(dev**2, axis=2)).max(axis=0)
    return Fates(
        kind=kind,
        period=period,
        final=tail[-1],
        orbit_center=center,
        amplitude=amplitude,
        diverged_at=diverged_at,
        eta_sharpness=es,
        multiplier=mu,
    )


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

"""Long batched runs of the Figure-2 ReLU network and the fate of each run, with its evidence.

:func:`run_checkpoints` trains every instance at every step size in one batched computation
(:func:`stepsize.models.relu.train`, chunked so that memory stays small) and keeps, at each checkpoint
``c``, the parameters and two gaps of the estimate ``f_k`` on the grid:

* the **odd/even gap** ``g1(c) = max_i |f_c - f_{c-1}|`` (the visible oscillation of Figure 2);
* the **distance to period 2** ``g2(c) = max_i |f_c - f_{c-2}|``.

:func:`classify` turns them into one fate per run and checkpoint, ending in the book's one rule
:func:`stepsize.dynamics.decide_fates`:

1. a run is *settled* (period 1) when its odd/even gap is at most ``settle * max|y|`` and did not
   grow over the last decade of steps; ``decide_fates`` then calls it converged (a fixed point)
   only if ``delta * lambda_max(H) < 2`` at its parameters (exact Hessian, ``eigvalsh``);
2. a run whose gap is visible (``g1 > visible * max|y|``) or whose motion is 2-periodic
   (``g2 < g1 / 10``) is handed to :func:`stepsize.models.relu_orbit.solve_orbit` (period 2) from its
   parameters; a verified cycle within ``near`` of the run is period 2, and ``decide_fates`` calls
   it periodic only if its largest multiplier (on the quotient) is at most 1;
3. everything else is undecided. We call an undecided run **drifting** when its odd/even gap is
   visible and its distance to period 2 fell by less than ``drift_fall`` over the last decade (it
   neither settles nor locks onto a cycle); the rest stay **undecided** (a longer run would decide).

Outcomes: "fixed point", "2-cycle", "drifting", "undecided", "diverged".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..dynamics import Fate, decide_fates
from ..sharpness import lambda_max_dense
from .relu import Instance, hessian, pack, train, unpack
from .relu_orbit import degeneracies, kink_distance, pattern, solve_orbit

OUTCOMES = ("fixed point", "2-cycle", "drifting", "undecided", "diverged")


def checkpoints_for(n_steps: int, per_decade: int = 5, extra: tuple[int, ...] = (20001,)) -> np.ndarray:
    """Checkpoints: ``per_decade + 1`` log-spaced steps over the last decade ``[n/10, n]`` of every
    budget in ``extra`` (those below ``n_steps``) and of ``n_steps`` itself; each has its decade."""
    budgets = sorted({int(n_steps)} | {int(e) for e in extra if 10 <= e < n_steps})
    pts = set()
    for n in budgets:
        pts |= {round(c) for c in np.geomspace(max(n / 10, 3), n, per_decade + 1)}
    out = []
    for c in sorted(pts):  # consecutive checkpoints at least 3 steps apart (gaps need 3 steps)
        if not out or c - out[-1] >= 3:
            out.append(c)
        elif c in budgets:
            out[-1] = c
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class Runs:
    """Runs of :func:`run_checkpoints`; instance ``s`` at ``deltas[d]`` is row ``(s, d)``.

    ``steps`` (C,): checkpoints; ``gap1, gap2, loss`` (S, D, C); ``theta`` (S, D, C, 2m);
    ``f_last`` (S, D, N): the estimate at the last checkpoint and ``f_prev`` one step earlier;
    ``diverged`` (S, D, C).
    """

    instances: Instance
    deltas: np.ndarray
    steps: np.ndarray
    gap1: np.ndarray
    gap2: np.ndarray
    loss: np.ndarray
    theta: np.ndarray
    f_last: np.ndarray
    f_prev: np.ndarray
    diverged: np.ndarray

    def at(self, n: int) -> int:
        """Index of checkpoint ``n`` (must be one)."""
        hit = np.flatnonzero(self.steps == n)
        if not hit.size:
            raise ValueError(f"{n} is not a checkpoint")
        return int(hit[0])


def run_checkpoints(inst: Instance, deltas, steps, *, chunk: int = 4000) -> Runs:
    """Train every instance at every step size from its own start, all rows in one batch.

    ``steps``: increasing checkpoints (e.g. :func:`checkpoints_for`), each >= 3. A run that blows
    up is marked diverged and restarted from zeros (its later values are meaningless and masked).
    """
    deltas = np.atleast_1d(np.asarray(deltas, dtype=float))
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0 or steps[0] < 3 or np.any(np.diff(steps) < 3):
        raise ValueError("steps: increasing checkpoints, each >= 3 and at least 3 apart")
    S, D, C = inst.seeds.size, deltas.size, steps.size
    m = inst.w0.shape[1]

    def rep(a):
        return np.repeat(a, D, axis=0)

    y, b, d = rep(inst.y), rep(inst.b), np.tile(deltas, S)
    w, v = rep(inst.w0), rep(inst.v0)
    g1, g2, L = (np.full((S * D, C), np.nan) for _ in range(3))
    th = np.full((S * D, C, 2 * m), np.nan)
    dv = np.zeros((S * D, C), dtype=bool)
    bad = np.zeros(S * D, dtype=bool)
    done = 0
    f_last = f_prev = None
    for ci, c in enumerate(steps):
        while done < c:
            n = int(min(chunk, c - done))
            if c - done - n < 3 and c - done > n:  # keep the last piece at least 3 steps
                n = int(c - done - 3)
            t = train((w, v), inst.x, y, b, d, n)
            done += n
            w, v = t.w, t.v
            bad |= t.diverged
            w[bad], v[bad] = 0.0, 0.0
        # the last piece ended exactly at c (n >= 3), so t's final gaps are those at step c
        g1[:, ci], g2[:, ci], L[:, ci] = t.gap1[:, -1], t.gap2[:, -1], t.loss[:, -1]
        th[:, ci] = pack(w, v)
        dv[:, ci] = bad
        f_last, f_prev = t.f_last, t.f_prev
    for a in (g1, g2, L):
        a[dv] = np.nan
    th[dv] = np.nan
    N = inst.x.size
    return Runs(
        inst,
        deltas,
        steps,
        g1.reshape(S, D, C),
        g2.reshape(S, D, C),
        L.reshape(S, D, C),
        th.reshape(S, D, C, 2 * m),
        f_last.reshape(S, D, N),
        f_prev.reshape(S, D, N),
        dv.reshape(S, D, C),
    )


@dataclass(frozen=True)
class Classified:
    """Fates at one checkpoint, arrays of shape (S, D).

    ``outcome`` (object): one of :data:`OUTCOMES`; ``kind``: the :class:`~stepsize.dynamics.Fate`
    from ``decide_fates``; ``gap1, gap2``: at the checkpoint; ``fall1, fall2``: their ratio to the
    value one decade of steps earlier (< 1: falling); ``residual``: true-map residual of the
    verified solution (NaN if none); ``multiplier``: largest multiplier of a verified 2-cycle;
    ``eta_sharpness``: ``delta * lambda_max`` at a verified fixed point; ``n_removed``: directions
    removed by the quotient; ``kink_distance``; ``distance``: run to solution; ``solution``
    (S, D, 2m): the verified fixed point or first cycle point (NaN if none); ``reason``: why the
    solve did not verify ("" if it did); ``first_step``, ``sigma_min``: the 2-cycle solve's first
    Newton step length and smallest kept singular value (NaN where no solve ran).
    """

    step: int
    outcome: np.ndarray
    kind: np.ndarray
    gap1: np.ndarray
    gap2: np.ndarray
    fall1: np.ndarray
    fall2: np.ndarray
    residual: np.ndarray
    multiplier: np.ndarray
    eta_sharpness: np.ndarray
    n_removed: np.ndarray
    kink_distance: np.ndarray
    distance: np.ndarray
    separation: np.ndarray
    solution: np.ndarray
    reason: np.ndarray
    first_step: np.ndarray
    sigma_min: np.ndarray

    def share_mask(self, outcome: str, d: int) -> np.ndarray:
        """Boolean (S,): instances with this outcome at step size ``d``."""
        return self.outcome[:, d] == outcome


def classify(
    runs: Runs, step: int, *, visible: float = 1e-3, settle: float = 1e-4, near: float = 0.05, drift_fall: float = 0.1
) -> Classified:
    """The fate of every run at checkpoint ``step`` (rules in the module docstring).

    The Hessians, eigenvalues and orbit solves run with one BLAS thread (``threadpoolctl``): their
    matrices are small, so this is faster, and the numbers no longer depend on how many threads the
    machine offers.
    """
    ci = runs.at(step)
    lo = int(np.argmin(np.abs(runs.steps - step / 10)))  # the checkpoint one decade earlier
    lo = min(lo, ci)
    S, D = runs.gap1.shape[:2]
    m2 = runs.theta.shape[-1]
    inst = runs.instances
    g1, g2 = runs.gap1[:, :, ci], runs.gap2[:, :, ci]
    with np.errstate(invalid="ignore", divide="ignore"):
        fall1 = g1 / runs.gap1[:, :, lo]
        fall2 = g2 / runs.gap2[:, :, lo]
    diverged = runs.diverged[:, :, ci]
    period = np.zeros((S, D), dtype=np.int64)
    es, mu, res, kd, dist, sep, fst, smin = (np.full((S, D), np.nan) for _ in range(8))
    nrem = np.zeros((S, D), dtype=np.int64)
    sol = np.full((S, D, m2), np.nan)
    reason = np.full((S, D), "", dtype=object)
    # the per-run linear algebra is small (2m x 2m, N x 2m): one BLAS thread is faster than two, and
    # on a shared machine many times faster (threads of small products otherwise wait on each other)
    with threadpool_limits(limits=1, user_api="blas"):
        for s in range(S):
            scale = float(np.max(np.abs(inst.y[s])))
            for d in range(D):
                if diverged[s, d]:
                    continue
                th = runs.theta[s, d, ci]
                delta = float(runs.deltas[d])
                tscale = 1.0 + float(np.max(np.abs(th)))
                if g1[s, d] <= settle * scale and (fall1[s, d] <= 1.0 or g1[s, d] == 0.0):
                    # settled: the estimate stayed put and its steps did not grow over the decade
                    period[s, d] = 1
                    w, v = unpack(th)
                    es[s, d] = delta * float(lambda_max_dense(hessian(w, v, inst.b[s], inst.x, inst.y[s])))
                    Dp = pattern(th, inst.b[s], inst.x)
                    Q = degeneracies([th], [Dp], inst.b[s], remove_merged=True)
                    nrem[s, d] = Q.n_removed
                    alive = Dp.any(axis=0)
                    kd[s, d] = kink_distance([th], inst.b[s], inst.x, alive)
                    sol[s, d] = th
                    if not es[s, d] < 2.0:
                        reason[s, d] = (
                            f"settled, but delta * lambda_max = {es[s, d]:.4g} is not below 2: "
                            f"GD cannot stay there (a transient)"
                        )
                    continue
                if g1[s, d] > visible * scale or g2[s, d] < 0.1 * g1[s, d]:
                    o = solve_orbit(th, inst.b[s], inst.x, inst.y[s], delta, 2)
                    fst[s, d], smin[s, d] = o.first_step, o.sigma_min
                    if not o.verified:
                        reason[s, d] = f"no verified 2-cycle: {o.reason}"
                    elif o.distance > near * tscale:
                        reason[s, d] = f"the verified 2-cycle lies {o.distance:.2g} away from the run"
                    else:
                        period[s, d] = 2
                        res[s, d], kd[s, d], dist[s, d] = o.residual, o.kink_distance, o.distance
                        sep[s, d], nrem[s, d] = o.separation, o.n_removed
                        sol[s, d] = o.points[0]
                        mu[s, d] = o.max_multiplier
                else:
                    reason[s, d] = "neither settled nor oscillating visibly"
    kind = decide_fates(period.ravel(), diverged.ravel(), es.ravel(), mu.ravel()).reshape(S, D)
    outcome = np.full((S, D), "undecided", dtype=object)
    outcome[kind == int(Fate.CONVERGED)] = "fixed point"
    outcome[kind == int(Fate.PERIODIC)] = "2-cycle"
    outcome[kind == int(Fate.DIVERGED)] = "diverged"
    scale = np.abs(inst.y).max(axis=1)[:, None]
    with np.errstate(invalid="ignore"):
        drifting = (kind == int(Fate.UNDECIDED)) & (g1 > visible * scale) & ~(fall2 <= drift_fall) & (period == 0)
    outcome[drifting] = "drifting"
    return Classified(
        int(step), outcome, kind, g1, g2, fall1, fall2, res, mu, es, nrem, kd, dist, sep, sol, reason, fst, smin
    )


def legacy_labels(
    runs: Runs, step: int, *, visible: float = 1e-3, cycle: float = 1e-3, fit: float = 1e-3
) -> np.ndarray:
    """The earlier eye-test labels of :func:`stepsize.models.relu.classify_training` at a checkpoint, (S, D).

    Kept for the glued shares that were defined by them ("period-2" is 2-periodic to the eye, not
    a verified orbit).
    """
    ci = runs.at(step)
    y = runs.instances.y
    scale = np.abs(y).max(axis=1)[:, None]
    g1, g2, L = runs.gap1[:, :, ci], runs.gap2[:, :, ci], runs.loss[:, :, ci]
    fitL = fit * np.sum(y**2, axis=1)[:, None]
    with np.errstate(invalid="ignore"):
        still = g1 < visible * scale
        out = np.where(
            still, np.where(L <= fitL, "converged", "higher-loss"), np.where(g2 <= cycle * g1, "period-2", "irregular")
        )
    return np.where(runs.diverged[:, :, ci], "diverged", out).astype(object)


@dataclass(frozen=True)
class Contrast:
    """A small network with a verified attracting 2-cycle, found by :func:`search_true_cycle`.

    ``seed``: the instance found (None if none within the cap); ``n_tried``; ``orbit``: its
    :class:`~stepsize.models.relu_orbit.OrbitSolve`; ``delta``; ``instance``; ``gap1, gap2``: the run's
    odd/even gap and distance to period 2 at every step; ``outcomes``: the outcome of each tried seed.
    """

    seed: int | None
    n_tried: int
    orbit: object
    delta: float
    instance: Instance | None
    gap1: np.ndarray
    gap2: np.ndarray
    outcomes: tuple[str, ...]


def search_true_cycle(
    seed: int,
    *,
    width: int = 4,
    n_points: int = 50,
    factor: float = 1.02,
    n_steps: int = 1500,
    batch: int = 8,
    cap: int = 64,
) -> Contrast:
    """Search seeds ``seed, seed + 1, ...`` for a small network whose GD run ends on a verified,
    attracting 2-cycle (``decide_fates`` says periodic).

    Each candidate fits its own target exactly at ``theta* = (w*, v*)``; the step is ``factor``
    times the stability limit ``2 / lambda_max`` of that fit, and the run starts at ``theta*`` plus
    ``1e-3`` along the top eigenvector (a period-doubling). Candidates run ``batch`` at a time in one
    :func:`~stepsize.models.relu.train` call; the first verified attracting cycle is returned.
    """
    from .relu import gauss_newton, make_instances
    from .relu import unpack as _unpack

    outcomes: list[str] = []
    for start in range(seed, seed + cap, batch):
        seeds = np.arange(start, min(start + batch, seed + cap))
        inst = make_instances(seeds, width=width, n_points=n_points)
        th0, deltas = [], []
        for k in range(seeds.size):
            H = gauss_newton(inst.w_target[k], inst.v_target[k], inst.b[k], inst.x)
            lam, U = np.linalg.eigh(H)
            deltas.append(factor * 2.0 / lam[-1])
            th0.append(pack(inst.w_target[k], inst.v_target[k]) + 1e-3 * U[:, -1])
        th0 = np.array(th0)
        t = train(_unpack(th0), inst.x, inst.y, inst.b, np.array(deltas), n_steps, record=True)
        for k in range(seeds.size):
            if t.diverged[k]:
                outcomes.append("diverged")
                continue
            th = pack(t.w[k], t.v[k])
            o = solve_orbit(th, inst.b[k], inst.x, inst.y[k], deltas[k], 2)
            period = np.array([2 if o.verified else 0])
            kind = decide_fates(period, np.array([False]), None, np.array([o.max_multiplier]))[0]
            ok = kind == int(Fate.PERIODIC) and period[0] == 2
            outcomes.append("2-cycle" if ok else "no verified cycle")
            if ok:
                return Contrast(
                    int(seeds[k]),
                    len(outcomes),
                    o,
                    float(deltas[k]),
                    inst.row(k),
                    t.gap1[k],
                    t.gap2[k],
                    tuple(outcomes),
                )
    return Contrast(None, len(outcomes), None, float("nan"), None, np.zeros(0), np.zeros(0), tuple(outcomes))


def switch_by_bisection(
    inst: Instance,
    lo: np.ndarray,
    hi: np.ndarray,
    n_steps: int,
    *,
    rounds: int = 2,
    points: int = 7,
    visible: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per instance, search (geometrically) on ``delta`` in ``[lo, hi]`` for the step where the final
    odd/even gap after ``n_steps`` steps becomes visible (``> visible * max|y|``, or divergence).

    Each round runs every instance at ``points`` interior steps of its bracket, spaced evenly in
    ``log delta``, all in one batched :func:`~stepsize.models.relu.train` call (``points = 1`` is plain
    bisection; 7 points shrink the bracket 8-fold per round, like three halvings); the first round
    also runs both ends. The new bracket is the first visible step and the point before it. Returns
    ``(lo, hi, valid)``: ``valid`` where the start bracket was one (invisible at ``lo``, visible at
    ``hi``); the switch lies between the final ``lo`` and ``hi`` (relative width
    ``(hi/lo)^((points+1)^-rounds)`` of the start). The fate need not be monotone in ``delta``, so this
    is *a* switch inside the starting bracket: the first one the search meets.
    """
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    S = lo.size
    scale = np.abs(inst.y).max(axis=1)
    valid = np.ones(S, dtype=bool)
    for r in range(rounds):
        frac = np.arange(1, points + 1) / (points + 1)
        if r == 0:
            frac = np.concatenate([[0.0], frac, [1.0]])
        K = frac.size
        grid_d = lo[:, None] * (hi / lo)[:, None] ** frac[None, :]  # (S, K)
        t = train(
            (np.repeat(inst.w0, K, 0), np.repeat(inst.v0, K, 0)),
            inst.x,
            np.repeat(inst.y, K, 0),
            np.repeat(inst.b, K, 0),
            grid_d.ravel(),
            n_steps,
        )
        osc = (t.diverged | (t.gap1[:, -1] > visible * np.repeat(scale, K))).reshape(S, K)
        if r == 0:
            valid = ~osc[:, 0] & osc[:, -1]
        anyv = osc.any(axis=1)
        first = np.argmax(osc, axis=1)  # the first visible point
        rows = np.arange(S)
        new_hi = np.where(anyv, grid_d[rows, first], hi)
        new_lo = np.where(anyv, np.where(first > 0, grid_d[rows, np.maximum(first - 1, 0)], lo), grid_d[:, -1])
        lo, hi = new_lo, new_hi
    return lo, hi, valid

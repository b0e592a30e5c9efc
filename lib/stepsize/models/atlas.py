"""The step-size atlas: what a one-dimensional GD map does beyond the stability threshold.

For a loss ``f`` the GD map is ``G_eta(x) = x - eta f'(x)`` with ``G_eta'(x) = 1 - eta f''(x)``. A
minimum ``x*`` is a linearly stable fixed point while ``eta f''(x*) < 2`` (Nar & Sastry 2018,
Sec. 2). Past ``2 / f''(x*)`` the fixed point flips: its multiplier crosses ``-1`` and a 2-cycle
is born, which flips in turn, and so on (a period-doubling cascade whose gaps shrink by
Feigenbaum's constant 4.6692...), up to an accumulation point beyond which chaotic step sizes
(positive Lyapunov exponent) fill a set of positive measure.

Everything here is vectorised over step sizes and initial points, and every iterative routine
checks its own convergence: :func:`cycle_newton` raises :class:`~stepsize.sharpness.NotConverged`
when Newton does not reach its tolerance, :func:`flip_point` when the bisection bracket does
not close.

The double well ``f(x) = x^4/4 - x^2/2`` (minima ``+-1`` with ``f'' = 2``) is the canonical case;
its GD map ``G(x) = (1 + eta) x - eta x^3`` is odd, so attractors come in mirror pairs. Closed forms
derived here (and tested): the fixed point ``1`` flips at ``eta = 1``; the 2-cycle born there has
``x + y = sqrt(1 + 3/eta)``, ``x y = 1/eta`` and multiplier ``9 - 2 (1 + eta)^2``, so it flips at
``eta = sqrt(5) - 1``; the critical value ``G(x_c)``, ``x_c = sqrt((1 + eta) / (3 eta))``, exceeds the
symmetric 2-cycle ``+-sqrt((2 + eta)/eta)`` (the edge of the basin of bounded orbits) exactly when
``4 (1 + eta)^3 > 27 (2 + eta)``, i.e. for ``eta > 2``: beyond it almost every point diverges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import parallel
from ..sharpness import NotConverged
from .losses import ScalarLoss

Family = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x, parameter) -> value

FEIGENBAUM_DELTA = 4.669201609102990


def double_well() -> ScalarLoss:
    """``f(x) = x^4/4 - x^2/2``: ``f' = x^3 - x``, ``f'' = 3x^2 - 1``; minima ``+-1`` with ``f'' = 2``.

    ``f'`` is evaluated as ``(x x - 1) x``: numpy's ``x**3`` calls ``pow`` for every element of a
    negative base, about 30 times slower, and the attractor of the atlas spends most of its time
    there. The two agree to a few units in the last place (tested), not bit for bit.
    """
    return ScalarLoss(
        "double well",
        f=lambda x: x**4 / 4 - x**2 / 2,
        df=lambda x: (x * x - 1.0) * x,
        d2f=lambda x: 3 * x**2 - 1,
        minima=(-1.0, 1.0),
    )


def gd_family(loss: ScalarLoss) -> tuple[Family, Family]:
    """The GD map ``G(x, eta) = x - eta f'(x)`` of ``loss`` and its derivative ``1 - eta f''(x)``."""
    return (lambda x, eta: x - eta * loss.df(x)), (lambda x, eta: 1.0 - eta * loss.d2f(x))


def logistic_family() -> tuple[Family, Family]:
    """The logistic map ``x -> r x (1 - x)`` and its derivative (a test case with known answers)."""
    return (lambda x, r: r * x * (1 - x)), (lambda x, r: r * (1 - 2 * x))


# --- closed forms of the double well (module docstring) ---


def double_well_flip_1() -> float:
    """``eta`` where the minimum ``1`` loses stability: ``2 / f''(1) = 1``."""
    return 1.0


def double_well_flip_2() -> float:
    """``eta`` where the 2-cycle born at ``eta = 1`` flips: ``9 - 2(1 + eta)^2 = -1``, ``eta = sqrt(5) - 1``."""
    return float(np.sqrt(5.0) - 1.0)


def double_well_two_cycle(eta: float) -> np.ndarray:
    """The asymmetric 2-cycle ``{x, y}`` for ``eta > 1``: roots of ``t^2 - s t + p`` with ``s = sqrt(1 + 3/eta)``, ``p = 1/eta``."""
    s, p = np.sqrt(1.0 + 3.0 / eta), 1.0 / eta
    r = np.sqrt(s * s - 4 * p)
    return np.array([(s - r) / 2, (s + r) / 2])


def double_well_divergence() -> float:
    """``eta`` beyond which almost every orbit diverges: the root ``u = 3`` of ``4u^3 - 27u - 27``, ``eta = u - 1 = 2``."""
    return 2.0


# --- orbits of a map family ---


@dataclass(frozen=True)
class Attractor:
    """Iterates recorded after a transient: ``points[i, j, k]`` is step ``k`` of point ``j`` at parameter ``i``.

    Diverged runs are NaN. ``lyapunov[i, j]`` is the mean of ``log |G'|`` along the recorded steps
    (NaN for diverged runs). ``points`` holds the last ``keep`` recorded steps (all of them unless
    :func:`attractor` was asked to keep fewer).
    """

    params: np.ndarray
    points: np.ndarray
    lyapunov: np.ndarray
    diverged: np.ndarray


def default_workers() -> int:
    """Worker threads of :func:`attractor` when not given (:func:`stepsize.parallel.default_workers`)."""
    return parallel.default_workers()


def attractor(
    G: Family,
    dG: Family,
    params: np.ndarray,
    x0: np.ndarray,
    n_transient: int,
    n_record: int,
    blowup: float = 1e6,
    *,
    keep: int | None = None,
    chunk: int = 4096,
    workers: int | None = None,
    max_period: int = 32,
) -> Attractor:
    """Iterate every initial point at every parameter, ``n_transient`` steps and then ``n_record`` recorded ones.

    Lyapunov exponent per run: ``(1/n) sum_k log |G'(x_k)|`` over the ``n_record`` recorded steps
    (Strogatz, *Nonlinear Dynamics and Chaos*, Sec. 10.5). A run whose ``|x|`` exceeds ``blowup``
    is diverged (NaN from there on). ``keep`` (default ``n_record``) is how many of the last
    recorded iterates are returned in ``points``; all ``n_record`` enter the exponent.

    The runs are split into chunks of ``chunk`` runs, each taken through all its steps at once (it
    stays in cache), ``workers`` chunks at a time (threads; default :func:`default_workers`). Inside
    a chunk a run leaves the batch once it has diverged, or once its iterates repeat exactly,
    ``x_k = x_{k-p}`` bit for bit for some ``p < max_period`` (checked every ``max_period`` steps):
    the map is deterministic, so from there on the run is that cycle, and its remaining recorded
    iterates and exponent terms are read off the cycle (the terms still added one at a time, in
    order). The result is therefore bit for bit that of iterating every run to the end, whatever
    the chunk size, the number of workers or the thread timing (``tests/test_atlas.py`` checks it
    against the plain loop).
    """
    params = np.asarray(params, dtype=float)
    x0 = np.asarray(x0, dtype=float)
    n_transient, n_record = int(n_transient), int(n_record)
    keep = n_record if keep is None else max(0, min(int(keep), n_record))
    if chunk < 1 or max_period < 2:
        raise ValueError("attractor: need chunk >= 1 and max_period >= 2")
    P = np.repeat(params, x0.size)
    x = np.tile(x0, params.size)
    N = x.size
    rec = np.empty((keep, N))
    logsum = np.zeros(N)
    bad = np.zeros(N, dtype=bool)
    starts = range(0, N, chunk)

    def job(s: int) -> None:
        e = min(s + chunk, N)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _attractor_chunk(
                G, dG, P[s:e], x[s:e], n_transient, n_record, blowup, max_period, rec[:, s:e], logsum[s:e], bad[s:e]
            )

    n_workers = default_workers() if workers is None else max(1, int(workers))
    run, close = parallel.pool(1 if len(starts) == 1 else n_workers)
    try:
        run(job, starts)
    finally:
        close()
    lyap = np.where(bad, np.nan, logsum / max(n_record, 1))
    shape = (params.size, x0.size)
    return Attractor(
        params=params,
        points=rec.T.reshape(shape + (keep,)),
        lyapunov=lyap.reshape(shape),
        diverged=bad.reshape(shape),
    )


def _log_terms(dG: Family, x: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``log |G'(x)|``, with ``log 0`` (and NaN) read as ``log 1e-300``: the exponent's terms.

    Equals ``np.log(np.where(d > 0, d, 1e-300))`` for ``d = |G'(x)|`` bit for bit; the replacement
    is skipped when no ``d`` is below ``1e-300`` (the usual case), one reduction instead of three
    elementwise passes.
    """
    d = np.abs(dG(x, P))
    if not d.min(initial=np.inf) >= 1e-300:  # some d is 0, tiny or NaN
        d[~(d > 0)] = 1e-300
    return np.log(d, out=d)


def _attractor_chunk(
    G: Family,
    dG: Family,
    P: np.ndarray,
    x: np.ndarray,
    n_transient: int,
    n_record: int,
    blowup: float,
    H: int,
    rec: np.ndarray,
    logsum: np.ndarray,
    bad: np.ndarray,
) -> None:
    """:func:`attractor` on one chunk of runs, writing into its views ``rec``, ``logsum`` and ``bad``.

    State ``x_k`` after ``k`` steps; recorded step ``r`` (``0 <= r < n_record``) adds the term at
    ``x_{n_transient + r}`` and records ``x_{n_transient + r + 1}``. ``hist[k % H]`` holds ``x_k``;
    ``amax`` the largest ``|x_k|`` so far (NaN once a run overflowed), so that a run is diverged
    exactly when some ``|x_k| <= blowup`` failed. Every ``H`` steps the diverged runs and those
    whose iterates repeat (``x_k = x_{k-p}``, ``0 < p < H``) leave the batch.
    """
    n_steps = n_transient + n_record
    first_kept = n_record - rec.shape[0]  # the recorded step held in rec[0]
    idx = np.arange(x.size)  # chunk positions of the runs still in the batch
    xa, Pa = x.copy(), P.copy()
    la = np.zeros(x.size)
    amax = np.zeros(x.size)
    hist = np.empty((H, x.size))
    full = True  # idx is still arange: plain slices instead of scatters
    for k in range(1, n_steps + 1):
        r = k - n_transient - 1
        if r >= 0:
            la += _log_terms(dG, xa, Pa)
        xa = G(xa, Pa)
        np.maximum(amax, np.abs(xa), out=amax)  # propagates NaN
        if r >= first_kept:
            if full:
                rec[r - first_kept] = xa
            else:
                rec[r - first_kept, idx] = xa
        hist[k % H] = xa
        if k % H or k == n_steps:
            continue
        out = ~(amax <= blowup)
        period = np.zeros(xa.size, dtype=np.int64)
        for p in range(H - 1, 0, -1):  # descending, so that the least period is the one kept
            period[hist[(k - p) % H] == xa] = p
        settled = (period > 0) & ~out
        leave = settled | out
        if not leave.any():
            continue
        if settled.any():
            _finish_cycles(
                dG,
                hist[:, settled],
                Pa[settled],
                la[settled],
                period[settled],
                idx[settled],
                k,
                n_transient,
                n_record,
                first_kept,
                rec,
                logsum,
            )
        bad[idx[out]] = True
        stay = ~leave
        idx, xa, Pa, la, amax, hist = idx[stay], xa[stay], Pa[stay], la[stay], amax[stay], hist[:, stay]
        full = False
        if idx.size == 0:
            break
    logsum[idx] = la
    bad[idx] |= ~(amax <= blowup)
    rec[:, bad] = np.nan


def _finish_cycles(
    dG: Family,
    hist: np.ndarray,
    P: np.ndarray,
    la: np.ndarray,
    period: np.ndarray,
    idx: np.ndarray,
    k: int,
    n_transient: int,
    n_record: int,
    first_kept: int,
    rec: np.ndarray,
    logsum: np.ndarray,
) -> None:
    """Complete the runs that repeat with ``period`` from step ``k`` on: ``x_m = x_{k - ((k - m) mod p)}``."""
    H = hist.shape[0]
    cols = np.arange(idx.size)
    terms = _log_terms(dG, hist, P[None, :])
    for r in range(max(0, k - n_transient), n_record):  # the remaining terms, one at a time, in order
        la += terms[(k - (k - n_transient - r) % period) % H, cols]
    logsum[idx] = la
    for r in range(max(first_kept, k - n_transient), n_record):
        rec[r - first_kept, idx] = hist[(k - (k - n_transient - r - 1) % period) % H, cols]


def orbit(G: Family, x: float, a: float, period: int) -> np.ndarray:
    """``x, G(x), ..., G^{period-1}(x)`` at parameter ``a``."""
    out = np.empty(period)
    for k in range(period):
        out[k] = x
        x = float(G(np.float64(x), a))
    return out


def multiplier(dG: Family, points: np.ndarray, a: float) -> float:
    """The cycle's multiplier ``(G^p)'(x) = prod_k G'(x_k)`` over its points."""
    return float(np.prod(dG(np.asarray(points, dtype=float), a)))


def cycle_newton(
    G: Family, dG: Family, x: float, a: float, period: int, *, tol: float = 1e-13, max_iter: int = 60
) -> np.ndarray:
    """A ``period``-cycle through a point near ``x``: Newton on ``F(x) = G^p(x) - x``.

    ``F'(x) = prod_k G'(x_k) - 1``. Converged when ``|F(x)| <= tol (1 + |x|)``; raises
    :class:`NotConverged` otherwise (with the residual it reached). Returns the cycle's points.
    """
    r = np.inf
    for _ in range(max_iter):
        pts = orbit(G, x, a, period)
        gp = float(G(np.float64(pts[-1]), a))
        r = gp - x
        if abs(r) <= tol * (1 + abs(x)):
            return pts
        dF = multiplier(dG, pts, a) - 1.0
        if dF == 0 or not np.isfinite(dF):
            break
        x = x - r / dF
        if not np.isfinite(x):
            break
    raise NotConverged(f"Newton on the {period}-cycle at parameter {a:.12g} stopped at residual {abs(r):.2e}")


def flip_point(
    G: Family, dG: Family, x: float, a_lo: float, a_hi: float, period: int, *, tol: float = 1e-12
) -> tuple[float, np.ndarray]:
    """The parameter in ``[a_lo, a_hi]`` where the ``period``-cycle through ``x`` flips (multiplier ``-1``).

    Bisection on ``multiplier + 1``, continuing the cycle by :func:`cycle_newton` from the
    previous solution; requires multiplier ``> -1`` at ``a_lo`` and ``< -1`` at ``a_hi``. Stops
    when the bracket is below ``tol`` (raises :class:`NotConverged` if it cannot close).
    Returns the flip parameter and the cycle there.
    """
    pts_lo = cycle_newton(G, dG, x, a_lo, period)
    pts_hi = cycle_newton(G, dG, pts_lo[0], a_hi, period)
    m_lo, m_hi = multiplier(dG, pts_lo, a_lo) + 1, multiplier(dG, pts_hi, a_hi) + 1
    if not (m_lo > 0 > m_hi):
        raise NotConverged(
            f"flip_point: no sign change of multiplier + 1 in [{a_lo:.12g}, {a_hi:.12g}] ({m_lo:.3g}, {m_hi:.3g})"
        )
    for _ in range(200):
        if a_hi - a_lo <= tol:
            break
        mid = 0.5 * (a_lo + a_hi)
        pts = cycle_newton(G, dG, pts_lo[0], mid, period)
        if multiplier(dG, pts, mid) + 1 > 0:
            a_lo, pts_lo = mid, pts
        else:
            a_hi = mid
    else:
        raise NotConverged("flip_point: bisection did not close")
    return 0.5 * (a_lo + a_hi), pts_lo


def _settle(G: Family, x: float, a: float, n: int) -> float:
    for _ in range(n):
        x = float(G(np.float64(x), a))
    return x


def _is_proper(G: Family, pts: np.ndarray, a: float, period: int) -> bool:
    """True when the cycle's least period is ``period`` (not a divisor: ``G^{p/2}(x) != x``)."""
    if period == 1:
        return True
    return abs(_settle(G, float(pts[0]), a, period // 2) - pts[0]) > 1e-8 * (1 + abs(pts[0]))


def cascade(
    G: Family,
    dG: Family,
    x_fixed: float,
    a_first_guess: tuple[float, float],
    n_flips: int,
    *,
    tol: float = 1e-12,
    first_gap: float | None = None,
) -> np.ndarray:
    """The parameters ``a_1 < a_2 < ...`` where the ``1, 2, 4, ...``-cycle loses stability.

    ``a_first_guess`` brackets the first flip of the fixed point continued from ``x_fixed``. Each
    new ``2p``-cycle is found just past the flip of the ``p``-cycle, by iterating from a point
    pushed off the old cycle (it attracts there) and polishing with Newton; it is then continued
    in small parameter steps (iterating from the previous solution, then Newton, checking that its
    least period stays ``2p``) until its multiplier falls below ``-1``, and the flip is bisected
    (:func:`flip_point`). ``first_gap`` guesses ``a_2 - a_1`` (default ``a_1 / 4``); later gaps are
    guessed from the last one divided by Feigenbaum's constant. Raises
    :class:`~stepsize.sharpness.NotConverged` when a step fails.
    """
    a_lo, a_hi = a_first_guess
    a, pts = flip_point(G, dG, x_fixed, a_lo, a_hi, 1, tol=tol)
    flips = [a]
    gap = first_gap if first_gap is not None else abs(a) / 4
    period = 1
    for _ in range(n_flips - 1):
        period *= 2
        guess = gap if len(flips) == 1 else gap / FEIGENBAUM_DELTA
        h = guess / 16
        a_cur = a + 0.25 * h
        x = _settle(G, float(pts[0]) + 1e-3, a_cur, 20000)
        cyc = cycle_newton(G, dG, x, a_cur, period)
        if not _is_proper(G, cyc, a_cur, period):
            raise NotConverged(f"cascade: found no new {period}-cycle past {a:.12g}")
        lo, c_lo = a_cur, cyc
        for _ in range(400):
            nxt = lo + h
            # predictor: the cycle attracts until it flips, so iterate from the last cycle point
            c = cycle_newton(G, dG, _settle(G, float(c_lo[0]), nxt, 50 * period + 500), nxt, period)
            if not _is_proper(G, c, nxt, period):
                raise NotConverged(f"cascade: the {period}-cycle collapsed at {nxt:.12g}")
            if multiplier(dG, c, nxt) < -1:
                break
            lo, c_lo = nxt, c
        else:
            raise NotConverged(f"cascade: the {period}-cycle did not flip within 400 steps past {a:.12g}")
        a_new, pts = flip_point(G, dG, float(c_lo[0]), lo, nxt, period, tol=tol)
        gap = a_new - a
        a = a_new
        flips.append(a)
    return np.array(flips)


def feigenbaum_ratios(flips: np.ndarray) -> np.ndarray:
    """``(a_k - a_{k-1}) / (a_{k+1} - a_k)`` for successive flips: tends to 4.6692... (universality)."""
    g = np.diff(np.asarray(flips, dtype=float))
    return g[:-1] / g[1:]


def accumulation_estimate(flips: np.ndarray) -> float:
    """The cascade's limit from its last two gaps, assuming geometric decay at Feigenbaum's rate.

    ``a_inf ~ a_n + (a_n - a_{n-1}) / (delta - 1)`` with ``delta = 4.6692...``.
    """
    f = np.asarray(flips, dtype=float)
    return float(f[-1] + (f[-1] - f[-2]) / (FEIGENBAUM_DELTA - 1.0))


def median_exponent(att: Attractor) -> np.ndarray:
    """The median Lyapunov exponent over the bounded runs at each parameter (NaN where all diverged)."""
    lyap = np.where(att.diverged, np.nan, att.lyapunov)
    out = np.full(att.params.size, np.nan)
    some = ~att.diverged.all(axis=1)
    out[some] = np.nanmedian(lyap[some], axis=1)
    return out


def _bin_index(edges: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The bin of each ``v`` in ``[edges[0], edges[-1]]`` as :func:`numpy.histogramdd` assigns it.

    ``edges[b] <= v < edges[b + 1]``, and ``v = edges[-1]`` in the last bin. Guessed from the
    uniform spacing, corrected by one comparison each way, and checked; values the guess misses are
    placed by :func:`numpy.searchsorted` (what ``histogramdd`` itself calls).
    """
    n = edges.size - 1
    lo, hi = float(edges[0]), float(edges[-1])
    g = ((v - lo) * (n / (hi - lo))).astype(np.intp)
    np.clip(g, 0, n - 1, out=g)
    g -= v < edges[g]
    np.clip(g, 0, n - 1, out=g)
    g += (v >= edges[g + 1]) & (g < n - 1)
    wrong = ~((edges[g] <= v) & ((v < edges[g + 1]) | ((g == n - 1) & (v == hi))))
    if wrong.any():
        g[wrong] = np.minimum(np.searchsorted(edges, v[wrong], side="right") - 1, n - 1)
    return g


def density(
    params: np.ndarray, points: np.ndarray, bins: tuple[int, int], block: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bifurcation diagram as a 2-D histogram of (parameter, iterate) over the finite iterates.

    ``points[i, ...]`` are iterates at ``params[i]``. Returns ``(H, param_edges, x_edges)``, equal to
    ``np.histogram2d(E[ok], points[ok], bins)`` with ``E`` the parameter of each iterate and ``ok``
    the finite ones (the same edges, from the data's range, and the same counts), computed
    ``block`` parameters at a time instead of forming the pairs (at the paper's size, 10^8 of them).
    """
    params = np.asarray(params, dtype=float)
    X = np.asarray(points, dtype=float).reshape(params.size, -1)
    nb_p, nb_x = (int(b) for b in bins)
    if nb_p < 1 or nb_x < 1:
        raise ValueError("density: bins must be positive")
    has = np.zeros(params.size, dtype=bool)
    x_lo, x_hi = np.inf, -np.inf
    for s in range(0, params.size, block):
        B = X[s : s + block]
        f = np.isfinite(B)
        has[s : s + block] = f.any(axis=1)
        x_lo = min(x_lo, float(np.min(B, where=f, initial=np.inf)))
        x_hi = max(x_hi, float(np.max(B, where=f, initial=-np.inf)))

    def outer(lo: float, hi: float) -> tuple[float, float]:  # numpy's _get_outer_edges without a range
        if lo > hi:  # no finite value at all
            return 0.0, 1.0
        return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)

    p_edges = np.linspace(
        *outer(float(params[has].min(initial=np.inf)), float(params[has].max(initial=-np.inf))), nb_p + 1
    )
    x_edges = np.linspace(*outer(x_lo, x_hi), nb_x + 1)
    counts = np.zeros(nb_p * nb_x, dtype=np.intp)
    if has.any():
        p_bin = _bin_index(p_edges, np.where(has, params, p_edges[0]))
        for s in range(0, params.size, block):
            B = X[s : s + block]
            f = np.isfinite(B)
            k = _bin_index(x_edges, B[f])
            k += np.repeat(p_bin[s : s + block] * nb_x, f.sum(axis=1))
            counts += np.bincount(k, minlength=counts.size)
    return counts.reshape(nb_p, nb_x).astype(float), p_edges, x_edges


def escapes(G: Family, x: np.ndarray, params: np.ndarray, n_steps: int, blowup: float = 1e6) -> np.ndarray:
    """Which runs (``x[i]`` at ``params[i]``) leave ``|x| <= blowup`` within ``n_steps`` steps."""
    x = np.array(x, dtype=float)
    params = np.asarray(params, dtype=float)
    bad = np.zeros(x.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            x = G(x, params)
            bad |= ~(np.abs(x) <= blowup)
            x[bad] = 0.0
            if bad.all():
                break
    return bad

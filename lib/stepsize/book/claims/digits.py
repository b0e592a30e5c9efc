"""Verdicts of the digits chapter (Crăciun & Ghoshdastidar, Figs. 3 and 4: GELU networks, MSE, GD).

Two claims, each a plain function returning ``(status, reason)``:

* :func:`literal_verdict` -- the paper's number: no full-batch run converges for ``eta > 1``. The
  threshold 1 belongs to the paper's MNIST set-up (784 inputs, its widths and budget); on other
  data its premise fails (``not applicable``). On MNIST it is a claim about a share ("none").
* :func:`mechanism_verdict` -- what transfers: the share of converging runs falls across a critical
  step size, from most runs (Wilson interval above 1/2) to few (interval below 1/2), and does not
  rise again above it. :func:`critical_eta` estimates that step with an interval from the grid.

A run that is still undecided (neither converged nor diverged within the cap) can go either way:
the lower end of a share's interval counts it as not converged, the upper end as converged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...dynamics import Fate
from ...shares import share, share_verdict, wilson
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED

HALF = 0.5


@dataclass(frozen=True)
class Critical:
    """The critical step: ``estimate`` (NaN when not bracketed), the grid interval ``[low, high]``
    that brackets it (NaN where missing), and per step size the share bounds ``lo``, ``hi``."""

    estimate: float
    low: float
    high: float
    lo: np.ndarray
    hi: np.ndarray
    mid: np.ndarray

    @property
    def bracketed(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


def share_bounds(conv: np.ndarray, undecided: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step size: Wilson lower end of ``conv / n``, Wilson upper end of ``(conv + undecided) / n``,
    and the midpoint share ``(conv + undecided / 2) / n``."""
    conv, undecided, n = (np.asarray(a, dtype=int) for a in (conv, undecided, n))
    lo = np.array([wilson(int(c), int(m))[0] for c, m in zip(conv, n)])
    hi = np.array([wilson(int(c + u), int(m))[1] for c, u, m in zip(conv, undecided, n)])
    return lo, hi, (conv + 0.5 * undecided) / n


def critical_eta(etas: np.ndarray, conv: np.ndarray, undecided: np.ndarray, n: np.ndarray) -> Critical:
    """Where the share of converging runs crosses 1/2 going up in ``eta``.

    ``low`` is the last grid step, before the first step whose share is surely below 1/2 (upper end
    < 1/2), whose share is surely above 1/2 (lower end > 1/2); ``high`` is that first step. The
    estimate interpolates the midpoint share linearly in ``log eta`` where it crosses 1/2 inside
    ``[low, high]``. NaN where the grid and the shares do not bracket a crossing.
    """
    etas = np.asarray(etas, dtype=float)
    lo, hi, mid = share_bounds(conv, undecided, n)
    above = np.flatnonzero(lo > HALF)
    nan = float("nan")
    if not above.size:
        return Critical(nan, nan, nan, lo, hi, mid)
    below = np.flatnonzero((hi < HALF) & (np.arange(etas.size) > above[0]))
    if not below.size:
        return Critical(nan, float(etas[above[-1]]), nan, lo, hi, mid)
    j = int(below[0])
    i = int(above[above < j][-1])
    est = nan
    for a in range(i, j):
        if mid[a] >= HALF > mid[a + 1]:
            la, lb = math.log(etas[a]), math.log(etas[a + 1])
            est = math.exp(la + (mid[a] - HALF) / (mid[a] - mid[a + 1]) * (lb - la))
            break
    return Critical(est, float(etas[i]), float(etas[j]), lo, hi, mid)


def transition_status(above: np.ndarray, below: np.ndarray, hi_above: np.ndarray) -> str:
    """The status :func:`mechanism_verdict` gives, from three booleans per step size: the share is
    surely above 1/2 (``above``: Wilson lower end > 1/2), surely below (``below``: upper end < 1/2),
    and its upper end is above 1/2 (``hi_above``).

    Reproduced when some step is above and a later one below, with no step above again after the
    first below; differs when it is above again, or when no step's upper end is above 1/2;
    undecided otherwise."""
    above, below, hi_above = (np.asarray(a, dtype=bool) for a in (above, below, hi_above))
    idx = np.arange(above.size)
    a = np.flatnonzero(above)
    if a.size:
        b = np.flatnonzero(below & (idx > a[0]))
        if b.size:
            return DIFFERS if np.any(above & (idx > b[0])) else REPRODUCED
    if not hi_above.any():
        return DIFFERS
    return UNDECIDED


#: Undecided step sizes up to which :func:`leaving` once enumerated the ends (3 ** 8 = 6561 cases);
#: :func:`reachable_statuses` has no such limit and gives the same answer (tested against the
#: enumeration), so the constant now only bounds that test's brute force.
MAX_OPEN_GROUPS = 8


def reachable_statuses(options: list[list[tuple[bool, bool, bool]]]) -> set[str]:
    """Every status :func:`transition_status` can take when step size ``i`` may end in any of the
    triples ``options[i]`` = ``(above, below, hi_above)`` (one triple for a step whose share is fixed).

    Exact, without enumerating the ``prod len(options[i])`` combinations: the status depends on the
    steps in ``eta`` order only through a phase (no step above yet; above seen; below after the
    first above; above again after that) and whether any ``hi_above`` was seen, so the reachable
    (phase, seen) pairs are carried from step to step (at most 8 of them).
    """
    states = {(0, False)}
    for opts in options:
        nxt = set()
        for phase, seen in states:
            for a, b, h in opts:
                ph = phase
                if phase == 0 and a:
                    ph = 1
                elif phase == 1 and b:
                    ph = 2
                elif phase == 2 and a:
                    ph = 3
                nxt.add((ph, seen or bool(h)))
        states = nxt
    out = set()
    for phase, seen in states:
        if phase == 2:
            out.add(REPRODUCED)
        elif phase == 3:
            out.add(DIFFERS)
        else:
            out.add(UNDECIDED if seen else DIFFERS)
    return out


def leaving(
    etas: np.ndarray, conv: np.ndarray, open_: np.ndarray, n: np.ndarray, on_paper_data: bool
) -> tuple[np.ndarray, bool]:
    """Which step sizes' runs can stop, and whether both verdicts are already fixed.

    Per step size, ``conv`` of ``n`` pooled runs have converged and ``open_`` are still undecided
    (they may yet converge, diverge, or stay undecided). A step size's share can end surely above
    1/2 only if ``wilson(conv + open_, n)`` lies above it, surely below only if ``wilson(conv, n)``
    lies below; it stays neither if its runs stay undecided. Its share is *fixed* when it is surely
    above or below already (more runs converging cannot undo either), and then its runs cannot move
    :func:`transition_status`: they may stop. The verdicts are *fixed* when
    :func:`transition_status` is the same for every combination of ends of the other step sizes
    (:func:`reachable_statuses`, exact for any number of open step sizes) and the literal claim of
    :func:`literal_verdict` cannot change either (off MNIST it is not applicable; on MNIST it is
    fixed once a run above 1 has converged, or none above 1 is undecided). On MNIST a step size
    above 1 stops only once the literal claim is fixed. Returns ``(leave, fixed)``: stopping the
    runs of ``leave`` (or of every step size when ``fixed``) changes neither verdict.
    """
    etas = np.asarray(etas, dtype=float)
    conv, open_, n = (np.asarray(a, dtype=int) for a in (conv, open_, n))
    lo = np.array([wilson(int(c), int(m))[0] for c, m in zip(conv, n)])
    hi = np.array([wilson(int(c + u), int(m))[1] for c, u, m in zip(conv, open_, n)])
    above, below = lo > HALF, hi < HALF
    leave = above | below
    big = etas > 1.0
    literal_fixed = (not on_paper_data) or (not big.any()) or conv[big].sum() > 0 or open_[big].sum() == 0
    if not literal_fixed:
        leave &= ~big
    if not literal_fixed:
        return leave, False
    return leave, len(reachable_statuses(possible_ends(conv, open_, n))) == 1


def possible_ends(conv: np.ndarray, open_: np.ndarray, n: np.ndarray) -> list[list[tuple[bool, bool, bool]]]:
    """Per step size, the ``(above, below, hi_above)`` its share can still end in (:func:`leaving`):
    one triple where it is fixed; else staying open, and ending surely above or surely below where
    its runs still can."""
    conv, open_, n = (np.asarray(a, dtype=int) for a in (conv, open_, n))
    ends = []
    for c, u, m in zip(conv, open_, n):
        lo, hi = wilson(int(c), int(m))[0], wilson(int(c + u), int(m))[1]
        if lo > HALF or hi < HALF:
            ends.append([(bool(lo > HALF), bool(hi < HALF), bool(hi > HALF))])
            continue
        e = [(False, False, bool(hi > HALF))]
        if wilson(int(c + u), int(m))[0] > HALF:
            e.append((True, False, True))
        if wilson(int(c), int(m))[1] < HALF:
            e.append((False, True, False))
        ends.append(e)
    return ends


def verdict_rule(etas: np.ndarray, runs: int, on_paper_data: bool):
    """A stopping rule for :func:`stepsize.models.mlp_gd.gd_fates_joint`, one batch per depth, each
    batch ``runs`` runs per step size in the order of ``etas``: the runs of a step size stop once
    :func:`leaving` says its pooled share is fixed, and every run stops once both verdicts are.
    ``rule.fixed_at`` lists the calls (checks) at which the verdicts were fixed."""
    etas = np.asarray(etas, dtype=float)

    def rule(kinds: list[np.ndarray]) -> list[np.ndarray]:
        K = np.stack([np.asarray(k).reshape(etas.size, runs) for k in kinds])
        conv = np.sum(K == int(Fate.CONVERGED), axis=(0, 2))
        open_ = np.sum(K == int(Fate.UNDECIDED), axis=(0, 2))
        leave, fixed = leaving(etas, conv, open_, np.full(etas.size, K.shape[0] * runs), on_paper_data)
        rule.calls += 1
        if fixed:
            rule.fixed_at.append(rule.calls)
        stop = np.repeat(leave | fixed, runs)
        return [stop for _ in kinds]

    rule.calls = 0
    rule.fixed_at = []
    return rule


def mechanism_verdict(
    etas: np.ndarray,
    conv: np.ndarray,
    undecided: np.ndarray,
    n: np.ndarray,
    max_steps: int,
    fixed: bool = False,
) -> tuple[str, str]:
    """A transition in the share of converging runs at a critical step.

    Reproduced when :func:`critical_eta` brackets the crossing of 1/2 and no larger step's share is
    surely above 1/2 again; differs when no step converges in most runs even counting every
    undecided run as converged, or when the share rises again above 1/2 past the transition;
    undecided otherwise, naming what would decide (a longer cap, more runs, a wider grid). With
    ``fixed`` the runs were stopped because no end of the undecided runs could change the status
    (:func:`leaving`): an undecided verdict then names only more runs or a wider grid. The status is
    :func:`transition_status` of the shares (tested).
    """
    etas = np.asarray(etas, dtype=float)
    conv, undecided, n = (np.asarray(a, dtype=int) for a in (conv, undecided, n))
    cr = critical_eta(etas, conv, undecided, n)
    n_und = int(undecided.sum())
    if cr.bracketed:
        j = int(np.flatnonzero(etas == cr.high)[0])
        again = np.flatnonzero((cr.lo > HALF) & (np.arange(etas.size) > j))
        if again.size:
            return DIFFERS, (
                f"the share falls below one half at η = {cr.high:g} but is above one half again at "
                f"η = {etas[again[0]]:g} ({conv[again[0]]} of {n[again[0]]} runs converge)."
            )
        est = f"{cr.estimate:.3g}" if math.isfinite(cr.estimate) else "inside it"
        return REPRODUCED, (
            f"most runs converge at η = {cr.low:g} ({conv[etas == cr.low][0]} of "
            f"{n[etas == cr.low][0]}), few at η = {cr.high:g} ({conv[j]} of {n[j]}); "
            f"critical step {est} in [{cr.low:g}, {cr.high:g}]."
        )
    if not np.any(cr.hi > HALF):
        return DIFFERS, (
            "no step size of the grid converges in most runs, even counting every undecided "
            "run as converged: there is no transition to locate."
        )
    if math.isfinite(cr.low):  # surely above 1/2 somewhere, never surely below after it
        blocked = np.flatnonzero(
            (np.arange(etas.size) > np.flatnonzero(etas == cr.low)[0]) & (cr.hi >= HALF) & (conv / n < HALF)
        )
        if blocked.size and undecided[blocked].sum() and not fixed:
            return UNDECIDED, (
                f"{n_und} runs are still undecided at the cap of {max_steps} steps, which keeps "
                f"the share above η = {cr.low:g} from being decided (it may or may not fall below one half "
                f"there); a cap (max_steps) of about {4 * max_steps} steps would decide it."
            )
        return UNDECIDED, (
            f"the share is above one half at η = {cr.low:g} and not surely below it at any larger "
            f"step of the grid: extend the grid beyond η = {etas[-1]:g} or add runs."
        )
    if n_und and not fixed:
        return UNDECIDED, (
            f"no step size's share is surely above one half: {n_und} of {int(n.sum())} runs are still "
            f"moving at the cap of {max_steps} steps (they may converge later); a cap (max_steps) of "
            f"about {4 * max_steps} steps would decide it."
        )
    return UNDECIDED, ("no step size's share is surely above one half with this many runs; add runs per step size.")


def literal_verdict(conv_above: int, undecided_above: int, n_above: int, on_paper_data: bool) -> tuple[str, str]:
    """The paper's number: no run converges for ``eta > 1`` (Figure 3, MNIST).

    Not applicable off the paper's data (the number is a property of its set-up) or without a
    step above 1 in the grid; on MNIST a claim about a share, "none": any converged run is a
    counter-example (differs), undecided runs leave it undecided.
    """
    if not on_paper_data:
        return NOT_APPLICABLE, (
            "the threshold 1 is a number of the paper's MNIST set-up; on other data the "
            "claim that transfers is the transition checked below."
        )
    if n_above <= 0:
        return NOT_APPLICABLE, "the grid has no step size above 1."
    if conv_above == 0 and undecided_above > 0:
        return UNDECIDED, (
            f"no run above η = 1 converged, but {undecided_above} of {n_above} are still "
            "undecided at the cap; a larger cap (max_steps) decides it."
        )
    return share_verdict(share(conv_above, n_above), "none")

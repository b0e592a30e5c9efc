"""Verdicts of the ReLU chapters (Nar & Sastry 2018, Theorem 4 and Figure 2; reviewer 3's question).

Each function returns ``(status, reason)`` with status one of the four verdicts of
:mod:`stepsize.verdicts`. The thresholds are part of the claim and fixed before any run.
"""

from __future__ import annotations

import numpy as np

from ...shares import n_needed, share, share_verdict
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED

#: Figure 2's step sizes (notebook units).
PAPER_DELTAS = (1e-4, 3e-4)


def figure2_pattern(
    pattern: np.ndarray, delta_small: float, delta_large: float, threshold: float = 0.5
) -> tuple[str, str]:
    """ "The pattern of Figure 2 is typical": the share of instances that settle on a fixed point at
    ``delta_small`` while their odd and even estimates differ visibly at ``delta_large`` is at least
    ``threshold``. Not applicable unless the step sizes are the paper's."""
    if (delta_small, delta_large) != PAPER_DELTAS:
        return NOT_APPLICABLE, (
            f"The claim is about the paper's step sizes 1e-4 and 3e-4; these runs use "
            f"{delta_small:g} and {delta_large:g}."
        )
    return share_verdict(share(np.asarray(pattern, dtype=bool)), "at_least", threshold)


def ballpark(ratios: np.ndarray, *, low: float = 0.5, high: float = 2.0, threshold: float = 0.5) -> tuple[str, str]:
    """ "Theorem 4's (aggregated) bound sits where the oscillation starts": the measured switch step
    lies within ``[low, high]`` times the instance's own bound in a share of at least ``threshold``
    of the instances that converge at the small step and oscillate at the large one."""
    r = np.asarray(ratios, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return UNDECIDED, (
            "No instance converged at the small step and oscillated at the large one, so "
            "no switch was measured; raise n_instances."
        )
    status, why = share_verdict(share((r >= low) & (r <= high)), "at_least", threshold)
    return status, (
        f"Instances whose switch lies between {low:g} and {high:g} times their own bound: {why} The median "
        f"switch is {np.median(r):.3g} times the bound."
    )


def true_orbit(
    n_cycle: int, n_undecided: int, n: int, delta: float, threshold: float = 0.5, paper_delta: float = 3e-4
) -> tuple[str, str]:
    """ "With the large step GD ends on a periodic orbit": the share of instances on a verified
    attracting 2-cycle is at least ``threshold``.

    ``n_undecided`` counts every run the fate rule left undecided (drifting ones included: they
    have not ended on an orbit within the budget, but a longer run might). Reproduced when the
    Wilson interval of ``n_cycle / n`` lies above the threshold; differs when even counting every
    undecided instance as a cycle the interval lies below it; otherwise undecided (longer runs
    would decide the undecided ones). Not applicable unless ``delta`` is the paper's large step.
    """
    if delta != paper_delta:
        return NOT_APPLICABLE, f"the claim is about δ = {paper_delta:g}; these runs use δ = {delta:g}."
    if n <= 0:
        return UNDECIDED, "no instance was run; raise n_instances."
    s = share(n_cycle, n)
    best = share(n_cycle + n_undecided, n)
    if s.lo >= threshold:
        return REPRODUCED, f"verified attracting 2-cycles: {s.text()}, interval above {threshold:g}."
    if best.hi < threshold:
        return DIFFERS, (
            f"verified attracting 2-cycles: {s.text()}; even if all {n_undecided} instances that have "
            f"not ended (drifting or undecided) were cycles, {best.text()} would lie below {threshold:g}."
        )
    if n_undecided:
        return UNDECIDED, (
            f"verified attracting 2-cycles: {s.text()}, an interval not wholly above the {threshold:g} "
            f"the claim needs; but {n_undecided} instances have not ended anywhere (they drift or are "
            f"undecided), and if all of them were cycles the interval would reach {best.hi:.2g}; longer "
            f"runs (raise n_steps) would decide them."
        )
    need = n_needed(s.p, threshold)
    more = f"about {need} instances would decide it" if need else "no sample size decides it at this share"
    return UNDECIDED, f"verified attracting 2-cycles: {s.text()}; every instance is decided, but {more}."

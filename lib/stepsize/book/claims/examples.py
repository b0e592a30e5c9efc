"""Verdicts of Nar & Sastry's Examples 1-3, as plain functions returning ``(status, reason)``.

Each function receives the chapter's numbers (fates of random initial points, measured thresholds
or radii, the step budget) and applies the decision fixed before the runs: a contradiction is
``differs``, a run or sample that did not settle the question is ``undecided`` (the reason says
what would decide it), a failed premise is ``not applicable``. A run still moving at the end of its
budget is never counted against the claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...shares import Share, share, share_verdict
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED

#: Relative agreement a measured amplitude or radius must reach with its closed form.
EXACT_RTOL = 1e-9

_ORDER = {DIFFERS: 0, UNDECIDED: 1, NOT_APPLICABLE: 2, REPRODUCED: 3}


def combine(parts: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Several sub-verdicts as one: ``differs`` beats ``undecided`` beats ``reproduced``.

    The reason joins the reasons of the sub-verdicts that decide the result.
    """
    if not parts:
        raise ValueError("combine: no parts")
    worst = min(_ORDER[s] for s, _ in parts)
    status = next(s for s in _ORDER if _ORDER[s] == worst)
    return status, " ".join(r for s, r in parts if s == status)


# --------------------------------------------------------------------------------------------
# Example 1: the 2-cycle of (2/3)|x|^{3/2}
# --------------------------------------------------------------------------------------------
def ex1_orbit(
    rel_err: float | None,
    n_on_cycle: int,
    n_undecided: int,
    exceptional_reach_zero: bool,
    n_steps: int,
    steps_needed: int,
    rtol: float = EXACT_RTOL,
) -> tuple[str, str]:
    """The orbit's amplitude is ``delta^2/4`` and the exceptional points ``0, +-delta^2`` reach 0.

    ``rel_err`` is ``|measured / (delta^2/4) - 1|`` over the runs that ended on a 2-cycle (None
    when none did); ``steps_needed`` is the budget that brings every start onto the cycle
    (:func:`stepsize.models.losses.example1_steps_to_cycle`).
    """
    if not exceptional_reach_zero:
        return DIFFERS, "The exceptional points 0 and ±δ² did not land on 0."
    if n_on_cycle == 0 or rel_err is None or not math.isfinite(rel_err):
        if n_undecided and n_steps < steps_needed:
            return UNDECIDED, (
                f"No run reached the cycle within n_steps = {n_steps}; the runs are still moving "
                f"towards it: raise n_steps to about {steps_needed}."
            )
        return DIFFERS, "No run ended on a 2-cycle."
    if rel_err > rtol:
        return DIFFERS, f"The measured amplitude is off δ²/4 by a relative {rel_err:.2g} (allowed {rtol:.0e})."
    err = f"to a relative {rel_err:.0e}" if rel_err > 0 else "to the last bit"
    return REPRODUCED, f"The measured amplitude equals δ²/4 {err}, and the exceptional points 0, ±δ² land on 0 exactly."


def ex1_share(s: Share, n_other: int, n_undecided: int, n_steps: int, steps_needed: int) -> tuple[str, str]:
    """ "From almost every initial point GD ends on the 2-cycle": claim ``all`` about the share ``s``.

    ``n_other`` runs were decided otherwise (converged, diverged, another orbit): counter-examples.
    ``n_undecided`` runs were still moving at the end of the budget: they decide nothing.
    """
    if n_other:
        return DIFFERS, (
            f"{s.text()} on the cycle: {n_other} counter-example{'s' if n_other > 1 else ''} "
            "(converged, diverged or on another orbit)."
        )
    if n_undecided:
        return UNDECIDED, (
            f"{s.text()} on the cycle; {n_undecided} run{'s' if n_undecided > 1 else ''} still moving "
            f"after n_steps = {n_steps}: raise n_steps to about {max(steps_needed, n_steps + 1)}."
        )
    return share_verdict(s, "all")


# --------------------------------------------------------------------------------------------
# Example 2: the step size picks the minimum
# --------------------------------------------------------------------------------------------
def steps_to_see(delta: float | np.ndarray, curvature: float, tol: float) -> float | np.ndarray:
    """Steps a run needs near a minimum of curvature ``f''`` to shrink its error by ``tol``:
    ``ln(1/tol) / eps`` with ``eps = 1 - |1 - delta f''|`` (inf where ``eps <= 0``)."""
    eps = 1.0 - np.abs(1.0 - np.asarray(delta, dtype=float) * curvature)
    with np.errstate(divide="ignore"):
        out = np.where(eps > 0, math.log(1.0 / tol) / np.where(eps > 0, eps, 1.0), np.inf)
    return float(out) if np.ndim(out) == 0 else out


def ex2_which_minimum(
    delta: float, minima: Sequence[float], thresholds: Sequence[float], n_reached: Sequence[int], n: int
) -> tuple[str, str]:
    """ "GD with step ``delta`` converges only to minima with ``delta < 2/f''``": claim ``none`` about
    the share of random initial points that converge to each minimum with ``delta >= 2/f''``.

    Not applicable when no minimum has ``delta >= 2/f''`` (the claim then rules nothing out).
    """
    unstable = [i for i, t in enumerate(thresholds) if delta >= t]
    if not unstable:
        return NOT_APPLICABLE, (
            f"At δ = {delta:g} every minimum has δ < 2/f'' (thresholds "
            + ", ".join(f"{t:g}" for t in thresholds)
            + "), so the claim rules none out; it applies from δ = "
            f"{min(thresholds):g} on."
        )
    parts = []
    for i in unstable:
        st, why = share_verdict(share(int(n_reached[i]), n), "none")
        parts.append((st, f"x = {minima[i]:g} (δ ≥ 2/f'' = {thresholds[i]:g}): {why}"))
    return combine(parts)


def ex2_threshold(
    measured: float | None,
    threshold: float,
    budget_threshold: float,
    grid: np.ndarray,
    reached: np.ndarray,
    curvature: float,
    n_steps: int,
    tol: float,
) -> tuple[str, str]:
    """ "A minimum of curvature ``f''`` can be reached only for ``delta < 2/f''``", measured.

    ``grid`` are the sweep's step sizes and ``reached[j]`` whether some run converged to this
    minimum at ``grid[j]``; ``measured`` is the refined largest step size that reaches it (None or
    NaN if none did), ``budget_threshold`` the largest step at which ``n_steps`` suffice to see
    convergence (the chapter's eq. `eq-ex2-budget`). A reach above ``2/f''`` differs; a miss at a grid step where
    the budget suffices (:func:`steps_to_see` at most ``n_steps / 2``) differs; a miss the budget
    explains is undecided, with the budget that would decide it.
    """
    grid, reached = np.asarray(grid, dtype=float), np.asarray(reached, dtype=bool)
    above = reached & (grid > threshold + 1e-12)
    if above.any():
        return DIFFERS, f"The minimum was reached above 2/f'' = {threshold:g}, at δ = {grid[above].max():g}."
    have = measured is not None and math.isfinite(measured)
    if have and measured > threshold:
        return DIFFERS, f"The measured threshold {measured:.5g} lies above 2/f'' = {threshold:g}."
    below = grid < threshold
    need = steps_to_see(grid, curvature, tol)
    missed = below & ~reached
    seen_ok = missed & (need <= 0.5 * n_steps)
    if seen_ok.any():
        return DIFFERS, (
            f"The minimum was not reached at δ = {grid[seen_ok].min():g}, below 2/f'' = {threshold:g}, "
            f"although n_steps = {n_steps} is more than twice the {need[seen_ok].max():.0f} steps "
            "convergence needs there."
        )
    if missed.any() or not have or measured < budget_threshold:
        if missed.any():
            n_dec = 2.0 * float(np.max(need[missed]))
        else:  # the grid step just below the threshold decides where the switch is
            top = grid[below].max() if below.any() else 0.5 * threshold
            n_dec = 2.0 * steps_to_see(top, curvature, tol)
        where = (
            f"missed at {int(missed.sum())} grid step size{'s' if missed.sum() > 1 else ''} below 2/f''"
            if missed.any()
            else (
                "never reached on the grid" if not have else f"measured {measured:.5g} < δ_n = {budget_threshold:.5g}"
            )
        )
        return UNDECIDED, (
            f"The minimum was {where}, where n_steps = {n_steps} is too few to see convergence: "
            f"raise n_steps to about {math.ceil(max(n_dec, n_steps + 1))}."
        )
    return REPRODUCED, (
        f"The measured threshold {measured:.5g} lies in [δ_n, 2/f''] = [{budget_threshold:.5g}, "
        f"{threshold:g}], and the sweep reaches the minimum at every grid δ below 2/f'' and at none above."
    )


# --------------------------------------------------------------------------------------------
# Example 3: the critical radius of x^p / p
# --------------------------------------------------------------------------------------------
def ex3_radius(relative_error: float, n_agree: int, n: int, rtol: float = EXACT_RTOL) -> tuple[str, str]:
    """The boundary between bounded and diverging starts is ``(2/delta)^{1/(p-2)}``: the search's
    boundary matches it to ``rtol``, and every random start's fate agrees (claim ``all``)."""
    parts = [
        (DIFFERS, f"The measured boundary is off the closed form by a relative {relative_error:.2g}.")
        if not relative_error <= rtol
        else (REPRODUCED, f"The measured boundary matches the closed form to a relative {relative_error:.0e}.")
    ]
    st, why = share_verdict(share(n_agree, n), "all")
    parts.append((st, f"Random starts whose fate agrees with |x0| < r: {why}"))
    return combine(parts)


def ex3_sweep(max_error: float, rtol: float = EXACT_RTOL) -> tuple[str, str]:
    """Every boundary of the (p, delta) sweep matches its closed form to ``rtol``."""
    if max_error <= rtol:
        return (
            REPRODUCED,
            f"All measured boundaries match the closed form to a relative {rtol:.0e} (largest error {max_error:.0e}).",
        )
    return DIFFERS, f"The largest relative error is {max_error:.2g}, above {rtol:.0e}."

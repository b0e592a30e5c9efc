"""Verdicts of Part IV (beyond the papers): the step-size atlas."""

from __future__ import annotations

import numpy as np

from ...shares import Share, share_verdict
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED


def first_flip_verdict(measured: np.ndarray, theory: np.ndarray, tol: float = 1e-9) -> tuple[str, str]:
    """Each minimum's fixed point flips at ``2 / f''(x*)``: every measured flip within ``tol`` (relative)."""
    measured, theory = np.asarray(measured, float), np.asarray(theory, float)
    if measured.size == 0 or np.any(~np.isfinite(measured)):
        return UNDECIDED, "A flip point was not located (the bisection did not close); a wider bracket would decide it."
    err = np.abs(measured / theory - 1)
    worst = float(err.max())
    if worst <= tol:
        return REPRODUCED, f"Every located flip agrees with 2/f''(x*) to a relative {worst:.1e} (allowed {tol:g})."
    return DIFFERS, f"The worst located flip is off 2/f''(x*) by a relative {worst:.2e} (allowed {tol:g})."


def feigenbaum_verdict(ratios: np.ndarray, delta: float, rel_tol: float = 0.01) -> tuple[str, str]:
    """The gap ratios approach Feigenbaum's constant: the last within ``rel_tol``, and closer than the first."""
    r = np.asarray(ratios, float)
    if r.size < 2:
        return NOT_APPLICABLE, f"{r.size} gap ratio(s): at least 4 flips are needed to see an approach."
    err = np.abs(r / delta - 1)
    if err[-1] <= rel_tol and err[-1] < err[0]:
        return REPRODUCED, (
            f"The last ratio {r[-1]:.5f} is within {err[-1]:.1e} of {delta:.5f} (allowed "
            f"{rel_tol:g}), down from {err[0]:.1e} for the first."
        )
    return DIFFERS, (
        f"The last ratio {r[-1]:.5f} is {err[-1]:.1e} from {delta:.5f} (allowed {rel_tol:g}); the first "
        f"was {err[0]:.1e} away."
    )


def chaos_verdict(s: Share, threshold: float) -> tuple[str, str]:
    """Beyond the accumulation point, positive exponents fill a set of positive measure: the share of
    sampled step sizes there with a positive exponent is at least ``threshold`` (stated in advance)."""
    if s.n == 0:
        return NOT_APPLICABLE, "No sampled step size lies between the accumulation point and the divergence point."
    return share_verdict(s, "at_least", threshold)


def divergence_verdict(below: Share, above: Share, survivors_bounded: int) -> tuple[str, str]:
    """Below the divergence point no run from the basin diverges; above it almost every run does.

    ``below`` counts diverged runs below the point (claim "none"), ``above`` diverged runs above it
    (claim "all"); ``survivors_bounded`` is how many of the runs above it were still bounded at the end
    of the (extended) budget. Survivors are a budget matter (undecided), never a counter-example.
    """
    if below.n == 0 or above.n == 0:
        return NOT_APPLICABLE, "The step-size grid does not reach both sides of the divergence point."
    v_below, why_below = share_verdict(below, "none")
    if v_below != REPRODUCED:
        return v_below, "Below the divergence point: " + why_below
    if survivors_bounded:
        return UNDECIDED, (
            f"Above it {above.k} of {above.n} runs diverged and {survivors_bounded} were still bounded "
            "at the end of the budget; a larger n_transient would decide them."
        )
    v_above, why_above = share_verdict(above, "all")
    return v_above, f"Below it none of {below.n} runs diverged; above it: {why_above}"


# --- the edge of stability ---

#: The band for ``eta * lambda_max / 2`` after the edge is reached, stated before measuring.
EDGE_BAND = (0.9, 1.2)


def edge_reach_verdict(reached: Share) -> tuple[str, str]:
    """Most runs (share >= 1/2, Cohen et al.'s "typically") reach ``eta * lambda_max / 2 >= 0.95`` within the budget.

    A sample that does not decide is a budget matter: the reason says how many runs would.
    """
    if reached.n == 0:
        return NOT_APPLICABLE, "No run stayed finite long enough to be measured."
    v, why = share_verdict(reached, "at_least", 0.5)
    if v == DIFFERS:
        why += " A longer budget (n_steps) may still let them reach it: sharpening is slow at small steps."
    return v, why


def edge_hover_verdict(in_band: Share, band: tuple[float, float] = EDGE_BAND) -> tuple[str, str]:
    """After reaching the edge, most runs keep the median of ``eta * lambda_max / 2`` inside ``band``."""
    if in_band.n == 0:
        return NOT_APPLICABLE, "No run reached the edge, so there is nothing after it to measure."
    v, why = share_verdict(in_band, "at_least", 0.5)
    return v, f"Runs whose median of ηλ/2 after the edge lies in [{band[0]:g}, {band[1]:g}]: {why}"


def edge_loss_verdict(fell: Share) -> tuple[str, str]:
    """Most runs end with a loss below their loss when the edge was reached."""
    if fell.n == 0:
        return NOT_APPLICABLE, "No run reached the edge, so there is no loss at the edge to compare with."
    return share_verdict(fell, "at_least", 0.5)


# --- one law across the book ---


def one_law_verdict(n_converged: int, n_stays_above: int, n_transient: int, tol: float) -> tuple[str, str]:
    """No settled run stays where ``eta lambda_max / 2 > 1 + tol``; settled runs above it that leave when
    continued are transients, not counter-examples. Needs converged runs to say anything."""
    if n_converged == 0:
        return NOT_APPLICABLE, "No run converged, so the law has nothing to constrain; a longer budget would give some."
    if n_stays_above:
        return DIFFERS, (
            f"{n_stays_above} run(s) stayed settled with ηλmax/2 above 1 + {tol:g} after a continuation "
            "of 20,000 steps."
        )
    tail = f" {n_transient} settled run(s) above the line left it when continued (transients)." if n_transient else ""
    return REPRODUCED, f"{n_converged} converged runs, none above 1; no settled run stayed above 1 + {tol:g}.{tail}"

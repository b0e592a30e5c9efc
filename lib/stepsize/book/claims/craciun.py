"""Verdicts of the Crăciun & Ghoshdastidar chapters (toy loss, M_WS, linear networks), as plain
functions returning ``(status, reason)``.

A claim about random initial points is a claim about a share (:mod:`stepsize.shares`) against a
threshold fixed before the runs: "converges from no initialisation" is ``none``, "converges to
points of M_WS" is ``all`` (over the runs that came to rest at a minimum), "random
initialisations converge" is ``at_least`` one half. A run still moving at the end of its budget
never counts against a claim: it makes the claim ``undecided``, with the budget that would decide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...shares import share, share_verdict
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED
from .examples import combine

#: The critical step size of the toy loss 1/2 (1 - xy)^2 (M_WS is empty above it).
TOY_CRITICAL_ETA = 1.0


def toy_mws(
    eta: float, n_rest_at_min: int, n_in_mws: int, n_undecided: int, n: int, n_steps: int, steps_hint: int
) -> tuple[str, str]:
    """ "For a step size below 1, GD on the toy loss converges to points of M_WS."

    ``n_rest_at_min`` runs came to rest at a minimum (gradient test alone, before the stability
    test), ``n_in_mws`` of them with sharpness ``x^2 + y^2 <= 2/eta``: the claim is ``all``.
    Not applicable for ``eta >= 1`` (M_WS is then empty or two points). ``steps_hint``: a budget
    that lets the slowest runs settle (:func:`stepsize.models.toy.steps_to_settle`).
    """
    if not eta < TOY_CRITICAL_ETA:
        return NOT_APPLICABLE, (
            f"The claim is about η < 1; at η = {eta:g} M_WS is "
            + ("empty." if eta > TOY_CRITICAL_ETA else "the two points (±1, ±1).")
        )
    if n_rest_at_min == 0:
        if n_undecided:
            return UNDECIDED, (
                f"No run came to rest within n_steps = {n_steps}; {n_undecided} of {n} are still "
                f"moving: raise n_steps to about {max(steps_hint, n_steps + 1)}."
            )
        return DIFFERS, f"None of the {n} runs converged at η = {eta:g} (they diverged or cycled)."
    st, why = share_verdict(share(n_in_mws, n_rest_at_min), "all")
    return st, f"Limits with sharpness at most 2/η, among the runs that came to rest at a minimum: {why}"


def toy_empty(eta_large: float, n_converged: int, n: int, n_transients: int = 0) -> tuple[str, str]:
    """ "When ``eta > 1``, M_WS is empty and GD converges from no initialisation": claim ``none``
    about the share of runs that converged to a minimum. Not applicable for ``eta <= 1``.

    ``n_transients`` runs came within tolerance of a minimum but were not linearly stable there
    (``eta * lambda_max >= 2``): they are not converged, and the reason says so.
    """
    if not eta_large > TOY_CRITICAL_ETA:
        return NOT_APPLICABLE, (
            f"The claim is about η > 1; at η = {eta_large:g} M_WS is not empty, so the claim says nothing there."
        )
    st, why = share_verdict(share(n_converged, n), "none")
    extra = (
        (
            f" {n_transients} run{'s' if n_transients > 1 else ''} came within tolerance of a minimum where "
            "η·λ_max ≥ 2: transients, not converged."
        )
        if n_transients
        else ""
    )
    return st, f"Runs that converged to a minimum at η = {eta_large:g}: {why}{extra}"


def mws_length(
    length: float, paper: float, candidates: dict[str, float] | None = None, rtol: float = 0.02
) -> tuple[str, str]:
    """The paper's length of M_WS at ``eta = 0.1`` (37.4) against ours, to a relative ``rtol``.

    ``candidates`` (name -> length) are other definitions tried; the reason names the nearest and
    how far it is (they do not change the verdict, which is about our definition).
    """
    rel = abs(length / paper - 1.0)
    if rel < rtol:
        return REPRODUCED, f"Our length {length:.4g} matches {paper:g} to {rel:.1%}."
    why = f"Our length is {length:.4g}, {rel:.0%} off {paper:g}."
    if candidates:
        name, v = min(candidates.items(), key=lambda kv: abs(math.log(kv[1] / paper)) if kv[1] > 0 else math.inf)
        gap = abs(v / paper - 1.0)
        why += (
            f" Of the {len(candidates)} other definitions tried, the nearest ({name}) gives {v:.4g}, "
            f"{gap:.1%} off" + (": it would match." if gap < rtol else ": none matches.")
        )
    return DIFFERS, why


def mws_critical(
    etas: np.ndarray,
    n_converged: np.ndarray,
    n_undecided: np.ndarray,
    n_per_eta: int,
    n_steps: int,
    steps_hint: int = 0,
    eta_c: float = TOY_CRITICAL_ETA,
) -> tuple[str, str]:
    """ "The trapping region vanishes at the step size where M_WS becomes empty (``eta_c = 1``)."

    Above ``eta_c`` the claim is ``none`` (pooled over the sweep's step sizes above it); below, the
    region has positive measure, which a converging run shows and no finite sample refutes: a step
    size below ``eta_c`` with no converging run is undecided (more steps or more points decide;
    ``steps_hint`` is a budget that would let runs settle there). A sweep that does not reach above
    ``eta_c`` is undecided.
    """
    etas = np.asarray(etas, dtype=float)
    k, und = np.asarray(n_converged, dtype=int), np.asarray(n_undecided, dtype=int)
    up = etas > eta_c + 1e-12
    if not up.any():
        return UNDECIDED, (
            f"The sweep ends at η = {etas.max():.4g}, not above the critical step size {eta_c:g}: raise eta_max "
            f"above {eta_c:g}."
        )
    parts = []
    st, why = share_verdict(share(int(k[up].sum()), int(up.sum()) * n_per_eta), "none")
    parts.append((st, f"Grid points that converged at the step sizes above the critical {eta_c:g}: {why}"))
    low = etas < eta_c - 1e-12
    empty = low & (k == 0)
    if empty.any():
        slow = empty & (und > 0)
        if slow.any():
            parts.append(
                (
                    UNDECIDED,
                    (
                        f"No grid point converged at η = {etas[slow].min():.4g}, below the critical {eta_c:g}, with "
                        f"{int(und[slow].max())} runs still moving: raise n_steps to about "
                        f"{max(steps_hint, n_steps + 1)}."
                    ),
                )
            )
        if (empty & ~slow).any():
            parts.append(
                (
                    UNDECIDED,
                    (
                        f"No grid point converged at η = {etas[empty & ~slow].min():.4g}, below the critical "
                        f"{eta_c:g}: with "
                        f"{n_per_eta} points per step size the trapping region may be missed; a finer "
                        "grid (n_grid) decides it."
                    ),
                )
            )
    else:
        parts.append(
            (REPRODUCED, f"Some grid points converge at every step size of the sweep below the critical {eta_c:g}.")
        )
    return combine(parts)


def linear_critical(
    ratio: np.ndarray,
    n_converged: np.ndarray,
    n_diverged: np.ndarray,
    n_undecided: np.ndarray,
    n_runs: int,
    spacing_ratio: float,
    n_steps: int,
    threshold: float = 0.5,
) -> tuple[str, str]:
    """ "GD converges from almost no initialisation once ``eta > eta*``, while below it random
    initialisations converge", on a sweep of ``eta / eta* = ratio``.

    Above ``eta*``: claim ``none`` (pooled). More than one spacing below: claim ``at_least``
    ``threshold`` (pooled); runs still moving at the end (``n_undecided``) make it undecided
    rather than a failure.
    """
    ratio = np.asarray(ratio, dtype=float)
    k, dv, und = (np.asarray(a, dtype=int) for a in (n_converged, n_diverged, n_undecided))
    parts = []
    up = ratio > 1 + 1e-12
    if up.any():
        st, why = share_verdict(share(int(k[up].sum()), int(up.sum()) * n_runs), "none")
        parts.append((st, f"Above η*: {why}"))
    else:
        parts.append((UNDECIDED, "The sweep has no step size above η*: it cannot test the claim there."))
    low = ratio < 1 - spacing_ratio - 1e-12
    if low.any():
        s = share(int(k[low].sum()), int(low.sum()) * n_runs)
        st, why = share_verdict(s, "at_least", threshold)
        if st != REPRODUCED and und[low].sum():
            st = UNDECIDED
            why += (
                f" {int(und[low].sum())} runs below η* are still moving after n_steps = {n_steps}: a longer "
                "budget decides it."
            )
        elif st == DIFFERS and dv[low].sum():
            why += (
                f" {int(dv[low].sum())} runs below η* diverged: the initialisation starts them where the loss "
                "is sharper than at the minima."
            )
        parts.append((st, f"More than one spacing below η*, converged: {why}"))
    else:
        parts.append((UNDECIDED, "The sweep has no step size more than one spacing below η*."))
    return combine(parts)


def first_zero_from(etas: Sequence[float], counts: Sequence[int]) -> float | None:
    """The first step size of a sweep from which no run converges to the end (None if there is none)."""
    c = np.asarray(counts) == 0
    tail = np.flip(np.cumprod(np.flip(c))).astype(bool)
    return float(np.asarray(etas)[np.argmax(tail)]) if tail.any() else None

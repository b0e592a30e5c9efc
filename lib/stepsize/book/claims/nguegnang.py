"""Verdicts of the Nguegnang, Rauhut & Terstiege chapters, as plain functions returning ``(status, reason)``.

Each function receives the chapter's numbers (fates from :func:`stepsize.models.balanced.run_gd`, bounds,
iteration counts) and applies the decision fixed before the runs: a contradiction is ``differs``,
a run or sample that did not settle the question is ``undecided`` (the reason says what would
decide it), a failed premise is ``not applicable``. Undecided never becomes differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...shares import share, share_verdict
from ...verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED

#: A start counts as balanced when its balancedness constant is at most this (rounding).
BALANCED_ATOL = 1e-10


def _combine(fails: list[str], open_: list[str], ok_text: str) -> tuple[str, str]:
    """``differs`` if anything failed, else ``undecided`` if anything is open, else ``reproduced``."""
    if fails:
        return DIFFERS, "Not met: " + "; ".join(fails) + "."
    if open_:
        return UNDECIDED, "Not decided: " + "; ".join(open_) + "."
    return REPRODUCED, ok_text


def balancedness(
    max_drift: float,
    delta: float,
    remaining: float,
    drift_rel_err: float,
    eta_beta: float,
    initial_balancedness: float,
    n_steps: int,
) -> tuple[str, str]:
    """Proposition 3.4 with our bound: from a balanced start, steps ``eta <= eta_bar`` keep every
    iterate ``delta``-balanced.

    ``max_drift`` is the largest balancedness constant along the run at ``eta_bar`` within its
    ``n_steps``; ``remaining = 2 eta L(end)`` bounds what later steps can still add (by the drift
    identity and the descent the certificate guarantees), so ``max_drift + remaining <= delta``
    decides the claim for all iterations. ``drift_rel_err`` is the error of the one-step drift
    identity (exact, so it must be at rounding level). The premise: a balanced start and
    ``eta * beta <= 1`` (the certificate's smoothness condition).
    """
    if not (initial_balancedness <= BALANCED_ATOL and eta_beta <= 1.0 + 1e-9):
        return NOT_APPLICABLE, (
            f"The premise fails: the start has balancedness constant {initial_balancedness:.2g} "
            f"(it must be balanced, 0 up to rounding), or the step η̄ times the smoothness "
            f"constant β is {eta_beta:.3g}, above the 1 the certificate needs."
        )
    if not drift_rel_err < 1e-9:
        return DIFFERS, (
            f"The one-step drift formula misses the measured change by {drift_rel_err:.2g} (relative "
            f"error); it should be exact, up to rounding."
        )
    if max_drift > delta:
        return DIFFERS, (
            f"Within {n_steps} steps the balancedness constant reached {max_drift:.3g}, above "
            f"the δ = {delta:.3g} it should stay within."
        )
    if max_drift + remaining <= delta:
        return REPRODUCED, (
            f"The largest balancedness constant within {n_steps} steps is {max_drift:.3g}; later "
            f"steps can add at most 2·η̄·L(end) = {remaining:.2g}, so every iterate stays within "
            f"δ = {delta:.3g}."
        )
    return UNDECIDED, (
        f"Within {n_steps} steps the constant stayed at {max_drift:.3g}, within δ = {delta:.3g}, but "
        f"later steps could still add up to {remaining:.2g}, more than the margin left: a longer run "
        f"(larger n_steps) decides it."
    )


def constant_step(
    depths: Sequence[int],
    at_bound: Sequence[str],
    above: Sequence[Sequence[str]],
    at_bound_text: Sequence[str],
    grid_top: float,
    premise: bool = True,
) -> tuple[str, str]:
    """Figure 1's three statements at every depth: the run at the bound converges, some larger
    step still converges, a much larger one diverges.

    ``at_bound[i]`` is the fate of depth ``depths[i]``'s run at ``eta_bar``, ``above[i]`` the fates
    of its runs at ``c * eta_bar`` with ``c > 1`` (up to ``grid_top``), ``at_bound_text[i]`` a
    sentence on an undecided run at the bound. ``premise``: every start balanced and ``eta_bar``
    certified (Theorem 2.4's conditions hold).
    """
    if not premise:
        return NOT_APPLICABLE, (
            "The premise of Theorem 2.4 fails: the start is not balanced or the bound is not certified."
        )
    fails: list[str] = []
    open_: list[str] = []
    for N, f0, fa, txt in zip(depths, at_bound, above, at_bound_text):
        fa = list(fa)
        if f0 == "diverged":
            fails.append(f"N = {N}: the run at the bound diverged")
        elif f0 != "converged":
            open_.append(f"N = {N}: the run at the bound is {f0}: {txt}")
        if "converged" not in fa:
            if "undecided" in fa:
                open_.append(f"N = {N}: no step above the bound has converged yet, {fa.count('undecided')} undecided")
            else:
                fails.append(f"N = {N}: no step above the bound converged")
        if "diverged" not in fa:
            open_.append(f"N = {N}: no step up to {grid_top:g} times the bound diverged (a wider grid decides it)")
    return _combine(fails, open_, "All three statements hold at every depth.")


def vs_nar(
    depths: Sequence[int],
    suff: Sequence[float],
    nec: Sequence[float],
    etas: Sequence[np.ndarray],
    fates: Sequence[np.ndarray],
    grid_tol: float = 1e-3,
    texts: Sequence[Sequence[str]] | None = None,
) -> tuple[str, str]:
    """``eta_bar <= eta_meas <= eta_nec`` at every depth, where ``eta_meas`` is the largest step of
    the grid whose run converged to the global minimum.

    Lower half: some run with ``eta >= (1 - grid_tol) eta_bar`` converged (the grid starts just
    below the bound); if none did and some are undecided, it is open. Upper half: a converged run
    with ``eta > eta_nec`` contradicts it; otherwise it holds. An undecided run above ``eta_nec``
    does not leave it open: *converged* means settled at a point where ``eta lambda_max < 2``, and
    above ``eta_nec = 2 / min lambda_max`` over the global minima (Corollary 1 of Nar & Sastry, the
    formula checked against the exact Hessian) no global minimum is such a point, so however long
    it runs it cannot end converged there; the reason says so, with the run. (A converged run above
    ``eta_nec`` would mean the formula or the fate rule is wrong: that is what the upper half
    checks.) ``texts[i][j]`` (optional) says why run ``j`` of depth ``i`` is undecided; the first one
    above ``eta_nec`` is quoted.
    """
    fails: list[str] = []
    open_: list[str] = []
    notes: list[str] = []
    texts = texts if texts is not None else [[""] * len(f) for f in fates]
    for N, s, n, e, f, tx in zip(depths, suff, nec, etas, fates, texts):
        e, f = np.asarray(e, dtype=float), np.asarray(f)
        conv = f == "converged"
        und = f == "undecided"
        if not np.any(conv & (e >= (1.0 - grid_tol) * s)):
            if np.any(und & (e <= n)):
                open_.append(f"N = {N}: no run at or above the sufficient bound {s:.3g} has converged yet")
            else:
                fails.append(f"N = {N}: no step at or above the sufficient bound {s:.3g} converged")
        if np.any(conv & (e > n)):
            fails.append(f"N = {N}: a step {float(np.max(e[conv])):.3g} above the necessary bound {n:.3g} converged")
        elif np.any(und & (e > n)):
            j = int(np.flatnonzero(und & (e > n))[0])
            why = f" (at {e[j]:.3g}: {tx[j]})" if tx[j] else ""
            notes.append(
                f"N = {N}: {int(np.sum(und & (e > n)))} run(s) above the necessary bound {n:.3g} are undecided{why}"
            )
    ok = "The three steps are ordered at every depth."
    if notes:
        ok += (
            " Undecided runs above the necessary bound cannot end converged (there every global minimum has "
            "η·λmax > 2, Corollary 1), so they cannot move the measured step above it: " + "; ".join(notes) + "."
        )
    status, reason = _combine(fails, open_, ok)
    if status == UNDECIDED and notes:
        reason += " Above the necessary bound (no run there can end converged): " + "; ".join(notes) + "."
    return status, reason


def all_instances(
    claim_text: str, converged_ok: np.ndarray, counter: np.ndarray, undecided: np.ndarray, undecided_text: str = ""
) -> tuple[str, str, object]:
    """A claim about almost every random instance ("all but a null set"), as a share.

    ``converged_ok``: instances that ended as the claim says; ``counter``: instances that ended
    elsewhere (counter-examples); ``undecided``: instances the budget did not decide. Any
    counter-example differs; undecided instances leave the claim undecided; else the share is
    judged by :func:`stepsize.shares.share_verdict` (``"all"``). Returns ``(status, reason, Share)``.
    """
    ok, bad, und = (np.asarray(a, dtype=bool) for a in (converged_ok, counter, undecided))
    s = share(int(ok.sum()), int(ok.size))
    if bad.any():
        return DIFFERS, f"{claim_text}: {s.text()}; {int(bad.sum())} instance(s) ended elsewhere.", s
    if und.any():
        return (
            UNDECIDED,
            (
                f"{claim_text}: {s.text()}; {int(und.sum())} instance(s) not decided within the budget"
                + (f" ({undecided_text})" if undecided_text else "")
                + "."
            ),
            s,
        )
    status, reason = share_verdict(s, "all")
    return status, f"{claim_text}: {reason}", s


def decreasing(
    depths: Sequence[int],
    gammas: Sequence[float],
    iters: Sequence[Sequence[int]],
    run_lengths: Sequence[Sequence[int]],
    fates: Sequence[Sequence[str]],
    needed_text: Sequence[Sequence[str]],
    max_step_over_bound: float,
) -> tuple[str, str]:
    """Figure 2: decreasing schedules within the bound converge, and faster decay converges more slowly.

    ``iters[i][g]`` is the first iteration at which depth ``depths[i]``'s schedule ``gammas[g]``
    reached the threshold (``-1``: not within its ``run_lengths[i][g]`` steps), ``fates`` their
    fates. Half 1: every schedule reaches the threshold (a diverged one differs; one not reached
    within its run is undecided, with ``needed_text``). Half 2: for ``gamma_a < gamma_b`` at one
    depth, ``a`` must need strictly fewer iterations; a tie is undecided (the schedules differ too
    little within the run), ``a`` not reached while ``b`` reached earlier than ``a``'s run length
    differs, neither reached is undecided. Premise: the largest step is within the bound.
    """
    if not max_step_over_bound <= 1.0 + 1e-12:
        return NOT_APPLICABLE, (
            f"The premise fails: the largest step is {max_step_over_bound:.3g} times the bound "
            f"(the theorem needs at most 1)."
        )
    fails: list[str] = []
    open_: list[str] = []
    for N, it, ln, fa, nt in zip(depths, iters, run_lengths, fates, needed_text):
        for g, i, f, t in zip(gammas, it, fa, nt):
            if f == "diverged":
                fails.append(f"N = {N}, γ = {g:g}: the schedule diverged")
            elif i < 0:
                open_.append(f"N = {N}, γ = {g:g}: threshold not reached; {t}")
        for a in range(len(gammas)):
            for b in range(a + 1, len(gammas)):
                ia, ib = int(it[a]), int(it[b])
                if ia >= 0 and ib >= 0:
                    if ia > ib:
                        fails.append(f"N = {N}: γ = {gammas[a]:g} needs {ia} iterations, γ = {gammas[b]:g} only {ib}")
                    elif ia == ib:
                        open_.append(
                            f"N = {N}: γ = {gammas[a]:g} and {gammas[b]:g} need the same {ia} iterations "
                            "(the schedules differ too little within the run; a smaller k0 separates them)"
                        )
                elif ia < 0 and ib >= 0 and int(ln[a]) >= ib:
                    fails.append(
                        f"N = {N}: γ = {gammas[b]:g} reached the threshold at {ib}, γ = {gammas[a]:g} not "
                        f"within {int(ln[a])}"
                    )
                elif ia < 0 and ib < 0:
                    open_.append(
                        f"N = {N}: neither γ = {gammas[a]:g} nor γ = {gammas[b]:g} reached the "
                        "threshold, so their order is open"
                    )
    open_ = list(dict.fromkeys(open_))
    return _combine(
        fails,
        open_,
        "Every schedule reached the threshold, and at every depth a faster decay needed strictly more iterations.",
    )

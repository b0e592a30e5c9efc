"""The four verdicts a claim check can reach, and the one rule that picks among them.

* ``reproduced`` -- the chapter's numbers agree with the paper's claim;
* ``differs`` -- they contradict it (the reason says how, in numbers);
* ``undecided`` -- the budget, grid or sample did not decide (the reason says what would);
* ``not applicable`` -- the claim's premise fails at these parameters.

They live in the core (not in :mod:`stepsize.book.replication`, which glues them) because
:mod:`stepsize.shares` answers with them too.
"""

from __future__ import annotations

REPRODUCED = "reproduced"
DIFFERS = "differs"
UNDECIDED = "undecided"
NOT_APPLICABLE = "not applicable"
#: The four verdicts, in the order the scorecard counts them.
VERDICTS = (REPRODUCED, DIFFERS, UNDECIDED, NOT_APPLICABLE)


def verdict(passed: bool) -> str:
    """The word for a decided claim: ``reproduced`` or ``differs``."""
    return REPRODUCED if passed else DIFFERS


def decide(passed: bool, *, applicable: bool = True, decided: bool = True) -> str:
    """One of the four verdicts: premise first, then whether the runs decided, then the comparison."""
    if not applicable:
        return NOT_APPLICABLE
    if not decided:
        return UNDECIDED
    return verdict(bool(passed))

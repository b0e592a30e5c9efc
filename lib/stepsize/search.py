"""Vectorised search for a boundary on a line: multi-section of many brackets at once.

A *boundary* here is the point where a yes/no property of a scalar parameter switches from true
(below) to false (above): the initial radius beyond which gradient descent diverges (Nar & Sastry
2018, Sec. 1, Example 3), or the step size beyond which a minimum stops being reached (Example 2,
``delta < 2 / f''(x*)``). Bisection asks one question per round; *multi-section* asks ``k`` at once
(one array computation), so each round shrinks the bracket by a factor ``k + 1`` instead of 2.
Several independent boundaries (one per row) are searched together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: ``predicate(candidates)`` with ``candidates`` of shape ``(m, k)`` returns a bool array ``(m, k)``:
#: True where the property holds (below the boundary of row ``i``).
Predicate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Bracket:
    """Brackets ``lo < boundary <= hi``, one per searched row (arrays of shape ``(m,)``).

    ``evaluations`` is the total number of predicate values computed (``m * k * rounds``).
    """

    lo: np.ndarray
    hi: np.ndarray
    evaluations: int

    @property
    def mid(self) -> np.ndarray:
        """The bracket's midpoint, the boundary estimate."""
        return 0.5 * (self.lo + self.hi)

    @property
    def width(self) -> np.ndarray:
        """``hi - lo``: the resolution of the estimate."""
        return self.hi - self.lo


def candidates(lo: np.ndarray, hi: np.ndarray, k: int, log: bool = False) -> np.ndarray:
    """``k`` interior points of each bracket ``(lo_i, hi_i)``, shape ``(m, k)``.

    Equally spaced, ``lo + (hi - lo) j / (k + 1)`` for ``j = 1..k``; with ``log=True`` equally
    spaced in ``log`` (needs ``0 < lo < hi``): ``lo (hi / lo)^{j / (k + 1)}``.
    """
    lo = np.asarray(lo, dtype=float)[:, None]
    hi = np.asarray(hi, dtype=float)[:, None]
    t = np.arange(1, k + 1) / (k + 1)
    if log:
        return lo * (hi / lo) ** t
    return lo + (hi - lo) * t


def first_false(values: np.ndarray) -> np.ndarray:
    """Index of the first False in each row of a bool array ``(m, k)``; ``k`` when all are True."""
    values = np.asarray(values, dtype=bool)
    k = values.shape[1]
    return np.where(values.all(axis=1), k, np.argmin(values, axis=1))


def multisection(
    predicate: Predicate,
    lo: float | np.ndarray,
    hi: float | np.ndarray,
    *,
    k: int = 64,
    rounds: int = 4,
    log: bool = False,
) -> Bracket:
    """Locate the boundary where ``predicate`` switches from True to False, for every row at once.

    The caller guarantees ``predicate`` is True at ``lo`` and False at ``hi`` (not evaluated here).
    Each round evaluates ``k`` interior candidates per row in ONE call of ``predicate`` and keeps
    the sub-interval around the first False: ``lo <- c[j-1]``, ``hi <- c[j]`` (with ``c[-1] = lo``,
    ``c[k] = hi``). After ``r`` rounds the bracket is ``(k + 1)^r`` times narrower (in ratio, when
    ``log=True``). If the predicate switches more than once, the first switch is followed.

    Parameters
    ----------
    predicate : vectorised yes/no question, ``(m, k)`` floats -> ``(m, k)`` bools.
    lo, hi : scalars or arrays of shape ``(m,)``, the initial brackets (``lo < hi``).
    k : candidates per row and round.
    rounds : number of rounds.
    log : space the candidates geometrically (for scale parameters; needs ``lo > 0``).
    """
    lo_a, hi_a = np.broadcast_arrays(
        np.atleast_1d(np.asarray(lo, dtype=float)), np.atleast_1d(np.asarray(hi, dtype=float))
    )
    lo_a, hi_a = lo_a.copy(), hi_a.copy()
    if lo_a.ndim != 1 or not np.all(lo_a < hi_a):
        raise ValueError("need 1-D brackets with lo < hi")
    if log and not np.all(lo_a > 0):
        raise ValueError("log spacing needs lo > 0")
    if k < 1 or rounds < 0:
        raise ValueError("need k >= 1 and rounds >= 0")
    rows = np.arange(lo_a.size)
    for _ in range(rounds):
        c = candidates(lo_a, hi_a, k, log=log)
        ok = np.asarray(predicate(c), dtype=bool)
        if ok.shape != c.shape:
            raise ValueError(f"predicate returned shape {ok.shape}, expected {c.shape}")
        j = first_false(ok)
        ext = np.concatenate([lo_a[:, None], c, hi_a[:, None]], axis=1)  # ext[:, j + 1] = c[:, j]
        lo_a, hi_a = ext[rows, j], ext[rows, j + 1]
    return Bracket(lo=lo_a, hi=hi_a, evaluations=int(lo_a.size * k * rounds))

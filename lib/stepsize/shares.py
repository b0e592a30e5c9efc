"""Shares over random instances: k of n with a 95% Wilson interval, and a verdict about the share.

A claim about random instances ("most runs converge", "almost every initial point") is a
statement about a share, never about one instance. :func:`share` gives ``k/n`` with the Wilson
score interval (Wilson 1927), which stays inside [0, 1] and is sensible for ``k = 0`` or ``k = n``:

.. math::  \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}.

:func:`share_verdict` compares that interval with the threshold that the claim states *before*
the runs are made, and answers with one of the four verdict words (see
:mod:`stepsize.verdicts`); when the sample cannot decide, it says how many instances would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .verdicts import DIFFERS, REPRODUCED, UNDECIDED

Z95 = 1.959963984540054  # two-sided 95% normal quantile

Claim = Literal["at_least", "at_most", "all", "none"]


@dataclass(frozen=True)
class Share:
    """``k`` of ``n`` instances, the point estimate ``p = k/n`` and its 95% Wilson interval."""

    k: int
    n: int
    p: float
    lo: float
    hi: float

    def text(self, digits: int | None = None) -> str:
        """``"12 of 16 (0.75, 95% CI 0.505-0.918)"``: what a claim box shows.

        By default four decimals with trailing zeros dropped, so that 10000 of 10000 shows
        ``0.9996-1``, not ``1-1``; ``digits`` asks for that many significant digits instead.
        """
        if digits is not None:
            return f"{self.k} of {self.n} ({self.p:.{digits}g}, 95% CI {self.lo:.{digits}g}–{self.hi:.{digits}g})"
        return f"{self.k} of {self.n} ({_trim(self.p)}, 95% CI {_trim(self.lo)}–{_trim(self.hi)})"


def _trim(x: float) -> str:
    if math.isnan(x):  # an empty sample
        return "none"
    if 0 < abs(x) < 1e-3:  # a small bound stays visible: 2.4e-05, not 0
        return f"{x:.2g}"
    return f"{x:.4f}".rstrip("0").rstrip(".") or "0"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials (formula in the module doc)."""
    if n <= 0:
        raise ValueError("wilson: n must be >= 1")
    if not 0 <= k <= n:
        raise ValueError(f"wilson: k must be in [0, n]; got k={k}, n={n}")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def share(k: int | bool, n: int | None = None) -> Share:
    """``share(k, n)``, or ``share(mask)`` for a boolean array (k = its count, n = its size).

    An empty sample (``n = 0``) has no estimate: ``p`` is NaN and the interval is ``[0, 1]``.
    """
    if n is None:
        import numpy as np

        m = np.asarray(k, dtype=bool)
        k, n = int(m.sum()), int(m.size)
    k, n = int(k), int(n)
    if n == 0:  # nothing to count: no estimate, the whole interval
        return Share(k=0, n=0, p=float("nan"), lo=0.0, hi=1.0)
    lo, hi = wilson(k, n)
    return Share(k=k, n=n, p=k / n, lo=lo, hi=hi)


def n_needed(p: float, threshold: float, z: float = Z95, n_max: int = 10**7) -> int | None:
    """The smallest ``n`` at which a share ``p`` would have a Wilson interval excluding ``threshold``.

    ``None`` when no sample size would (``p == threshold``) or it would exceed ``n_max``.
    """
    if p == threshold:
        return None
    n = 1
    while n <= n_max:
        k = round(p * n)
        lo, hi = wilson(min(max(k, 0), n), n, z)
        if (p > threshold and lo > threshold) or (p < threshold and hi < threshold):
            return n
        n *= 2 if n < 64 else 1.25
        n = math.ceil(n)
    return None


def share_verdict(s: Share, claim: Claim, threshold: float = 0.5, *, min_lo: float = 0.8) -> tuple[str, str]:
    """The verdict of a claim about a share, and its reason in one sentence.

    ``claim`` says what the paper asserts, fixed before the runs are made:

    * ``"at_least"`` -- the share is at least ``threshold`` ("most": threshold 0.5). Reproduced
      when the interval lies above it, differs when it lies below, undecided when it straddles.
    * ``"at_most"`` -- the mirror image.
    * ``"all"`` -- all instances but a null set. Any counter-example differs; with none, reproduced
      once the interval's lower end reaches ``min_lo`` (else the sample is too small: undecided).
    * ``"none"`` -- no instance but a null set; the mirror image of ``"all"``.
    """
    shown = s.text()
    if claim == "at_least" or claim == "at_most":
        above = claim == "at_least"
        if s.lo >= threshold if above else s.hi <= threshold:
            return REPRODUCED, f"{shown}: the interval lies {'above' if above else 'below'} {threshold:g}."
        if s.hi < threshold if above else s.lo > threshold:
            return DIFFERS, f"{shown}: the interval lies {'below' if above else 'above'} {threshold:g}."
        need = n_needed(s.p, threshold)
        more = f"about {need} instances would decide it" if need else "no sample size decides it at this share"
        return UNDECIDED, f"{shown}: the interval contains {threshold:g}; {more}."
    if claim == "all" or claim == "none":
        bad = s.n - s.k if claim == "all" else s.k
        if bad:
            return DIFFERS, f"{shown}: {bad} counter-example{'s' if bad > 1 else ''}."
        lo = s.lo if claim == "all" else 1.0 - s.hi
        if lo >= min_lo:
            return REPRODUCED, f"{shown}: no counter-example."
        need = math.ceil(Z95**2 * min_lo / (1.0 - min_lo))
        return UNDECIDED, f"{shown}: no counter-example, but {s.n} instances are too few; about {need} would decide it."
    raise ValueError(f"share_verdict: claim must be one of at_least, at_most, all, none; got {claim!r}")

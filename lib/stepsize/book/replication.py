"""Reporting what a chapter reproduced: rounded glue values, claim checks, reading them back.

Every number a chapter's text quotes is glued (myst-nb ``glue``) through :func:`glue`, which
rounds it to a few significant digits so that the stored output (compared by nbval) is robust.
A claim check (paper's value vs reproduced value, verdict computed by code) is glued under
``claim_<key>_*`` names so the scorecard can collect it from every chapter.

The verdict is one of the four of :mod:`stepsize.verdicts`, and only these.

A value that does not exist (NaN) is glued as ``None`` (``null`` in ``--json``), never as NaN.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..verdicts import DIFFERS, NOT_APPLICABLE, REPRODUCED, UNDECIDED, VERDICTS, verdict

GLUE_MIME = "application/papermill.record/text/plain"


def rounded(value: Any, sig: int = 4) -> Any:
    """``value`` as a plain Python object, floats rounded to ``sig`` significant digits.

    numpy scalars become Python scalars (numpy 2's repr ``np.float64(...)`` would break glue
    format specs); NaN becomes ``None`` (no number), infinities are kept.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x):
            return None
        if x == 0.0 or not math.isfinite(x):
            return x
        return float(f"{x:.{sig}g}")
    return value


def rounded_down(value: Any, sig: int = 3) -> Any:
    """``value`` rounded *down* to ``sig`` significant digits (1.9995 becomes 1.99 at ``sig=3``).

    For a value that a claim puts below a bound: the rounded value stays below it, and two values that
    differ only in the digits cut off (the last bits of a CPU's ``exp``, say) give the same text.
    NaN becomes ``None``; zero and infinities are kept.
    """
    return _directed(value, sig, up=False)


def rounded_up(value: Any, sig: int = 3) -> Any:
    """``value`` rounded *up* to ``sig`` significant digits (0.3301 becomes 0.331 at ``sig=3``)."""
    return _directed(value, sig, up=True)


def _directed(value: Any, sig: int, up: bool) -> Any:
    x = rounded(value, 12)  # 12 digits first: 0.29 stored as 0.28999999999999998 stays 0.29
    if not isinstance(x, float) or x == 0.0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(abs(x))) - sig + 1)
    q = round(x / scale, max(12 - sig, 0))  # x has 12 digits; 0.29 / 0.01 = 28.999999999999996 is 29
    return float(f"{(math.ceil(q) if up else math.floor(q)) * scale:.{sig}g}")


def rounded_outward(lo: Any, hi: Any, sig: int = 2) -> tuple[Any, Any]:
    """An interval rounded to ``sig`` significant digits *outwards* (``lo`` down, ``hi`` up), so the
    rounded interval still contains the exact one and a bound just below 1 is never shown as 1
    (0.9996 becomes 0.99, not 1.0). NaN becomes ``None``."""
    return rounded_down(lo, sig), rounded_up(hi, sig)


def glue(name: str, value: Any, sig: int = 4, down: bool = False) -> None:
    """Glue ``value`` (rounded, see :func:`rounded`; with ``down``, rounded down, see
    :func:`rounded_down`) under ``name`` without displaying it.

    Returns None on purpose: nbval runs cells without storing history, and then IPython ignores a
    trailing ``;``, so a returned value would appear as an output that nbval compares.
    """
    from myst_nb import glue as _glue

    _glue(name, rounded_down(value, sig) if down else rounded(value, sig), display=False)


def _show(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def claim_status(passed: bool | None = None, status: str | None = None) -> str:
    """The verdict of a claim check from ``status`` (one of :data:`VERDICTS`) or ``passed``."""
    if status is None:
        if passed is None:
            raise ValueError("claim_check: give passed or status")
        return verdict(bool(passed))
    if status not in VERDICTS:
        raise ValueError(f"claim_check: status must be one of {', '.join(VERDICTS)}; got {status!r}")
    return status


def claim_check(
    key: str,
    claim: str,
    paper: Any,
    reproduced: Any,
    passed: bool | None = None,
    reason: str = "",
    sig: int = 4,
    *,
    status: str | None = None,
    interval: tuple[float, float] | None = None,
    paper_text: str | None = None,
    reproduced_label: str | None = None,
):
    """Glue a claim check and return a Markdown admonition that shows it.

    Glues ``claim_<key>_claim``, ``_paper``, ``_reproduced``, ``_status`` (and ``_reason``;
    ``_low`` and ``_high`` when the reproduced value is a share with an ``interval``).
    The verdict is ``status`` (one of :data:`VERDICTS`, computed by the chapter's code) or, for
    a decided claim, ``passed``. A reproduced value that does not exist (NaN, None) cannot be
    ``reproduced``. ``reason`` says in one sentence why the values differ, what would decide an
    undecided claim, or which premise fails.

    ``paper_text`` is what the box shows in the paper's column when the bare number would mislead
    (``"≥ 1"`` for a claim of "at least one", ``"— (derived here: 0.093)"`` when the number is the
    book's own derivation, not the paper's); it is glued as ``claim_<key>_paper_text``.
    ``reproduced_label`` names what the reproduced column measures (``"share of 16 instances"``)
    and becomes that column's header.
    """
    from IPython.display import Markdown

    status = claim_status(passed, status)
    paper_v, repr_v = rounded(paper, sig), rounded(reproduced, sig)
    if repr_v is None and status == REPRODUCED:
        raise ValueError(f"claim_check {key}: no reproduced value, so the claim cannot be reproduced")
    glue(f"claim_{key}_paper", paper, sig)
    glue(f"claim_{key}_reproduced", reproduced, sig)
    glue(f"claim_{key}_claim", claim)
    glue(f"claim_{key}_status", status)
    glue(f"claim_{key}_reason", reason)
    shown = _show(repr_v)
    if interval is not None:
        lo, hi = rounded_outward(*interval)
        glue(f"claim_{key}_low", lo)
        glue(f"claim_{key}_high", hi)
        shown += f" (95% CI {_show(lo)}–{_show(hi)})"
    if paper_text is not None:
        glue(f"claim_{key}_paper_text", paper_text)
    paper_shown = paper_text if paper_text is not None else _show(paper_v)
    kind = {REPRODUCED: "tip", DIFFERS: "warning", UNDECIDED: "note", NOT_APPLICABLE: "seealso"}[status]
    lines = [
        f":::{{admonition}} Claim check: {status}",
        f":class: {kind}",
        f"**Claim.** {claim}",
        "",
        f"| paper | reproduced{f' ({reproduced_label})' if reproduced_label else ''} | verdict |",
        "|---|---|---|",
        f"| {paper_shown} | {shown} | **{status}** |",
    ]
    if reason:
        lines += ["", reason]
    lines.append(":::")
    return Markdown("\n".join(lines))


def glued_values(notebook: str | Path | dict) -> dict[str, Any]:
    """Every value a notebook glued, read from its outputs: name -> number, bool or string.

    Values whose text is not a Python literal (a figure, a table) are returned as their text.
    """
    nb = notebook if isinstance(notebook, dict) else json.loads(Path(notebook).read_text())
    out: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            meta = (o.get("metadata") or {}).get("scrapbook")
            if not meta:
                continue
            data = o.get("data", {})
            text = data.get(GLUE_MIME, data.get("text/plain"))
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:
                out[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[meta["name"]] = text
    return out

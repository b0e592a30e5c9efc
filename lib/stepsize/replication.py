"""Reporting what a chapter reproduced: rounded glue values, claim checks, reading them back.

Every number a chapter's text quotes is glued (myst-nb ``glue``) through :func:`glue`, which
rounds it to a few significant digits so that the stored output (compared by nbval) is robust.
A claim check (paper's value vs reproduced value, verdict computed by code) is glued under
``claim_<key>_*`` names so the scorecard can collect it from every chapter.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

GLUE_MIME = "application/papermill.record/text/plain"


def rounded(value: Any, sig: int = 4) -> Any:
    """``value`` as a plain Python object, floats rounded to ``sig`` significant digits.

    numpy scalars become Python scalars (numpy 2's repr ``np.float64(...)`` would break glue
    format specs); NaN and infinities are kept.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if x == 0.0 or not math.isfinite(x):
            return x
        return float(f"{x:.{sig}g}")
    return value


def glue(name: str, value: Any, sig: int = 4) -> None:
    """Glue ``value`` (rounded, see :func:`rounded`) under ``name`` without displaying it.

    Returns None on purpose: nbval runs cells without storing history, and then IPython ignores a
    trailing ``;``, so a returned value would appear as an output that nbval compares.
    """
    from myst_nb import glue as _glue

    _glue(name, rounded(value, sig), display=False)


def verdict(passed: bool) -> str:
    """The word a claim check shows: ``reproduced`` or ``differs``."""
    return "reproduced" if passed else "differs"


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def claim_check(
    key: str,
    claim: str,
    paper: Any,
    reproduced: Any,
    passed: bool,
    reason: str = "",
    sig: int = 4,
):
    """Glue a claim check and return a Markdown admonition that shows it.

    Glues ``claim_<key>_claim``, ``_paper``, ``_reproduced``, ``_status`` (and ``_reason``).
    ``passed`` must be computed by the chapter's code from the two values; ``reason`` says why
    they differ (or what the comparison allows) in one sentence.
    """
    from IPython.display import Markdown

    status = verdict(bool(passed))
    paper_v, repr_v = rounded(paper, sig), rounded(reproduced, sig)
    glue(f"claim_{key}_paper", paper, sig)
    glue(f"claim_{key}_reproduced", reproduced, sig)
    glue(f"claim_{key}_claim", claim)
    glue(f"claim_{key}_status", status)
    glue(f"claim_{key}_reason", reason)
    kind = "tip" if passed else "warning"
    lines = [
        f":::{{admonition}} Claim check: {status}",
        f":class: {kind}",
        f"**Claim.** {claim}",
        "",
        "| paper | reproduced | verdict |",
        "|---|---|---|",
        f"| {_show(paper_v)} | {_show(repr_v)} | **{status}** |",
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

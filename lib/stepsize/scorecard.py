"""The reproduction scorecard: every chapter's claim checks, collected from its stored outputs.

``book/scorecard.md`` is generated (``python -m stepsize scorecard``; also after
``python -m stepsize execute``), never typed: a test regenerates it and compares.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import chapters
from .chapters import REPO_ROOT
from .replication import VERDICTS, glued_values

PAPERS = {
    "nar-sastry": "Nar & Sastry (2018)",
    "craciun": "Crăciun & Ghoshdastidar (2024)",
    "nguegnang": "Nguegnang, Rauhut & Terstiege (2024)",
    "beyond": "Beyond the papers",
}
SCORECARD = REPO_ROOT / "book" / "scorecard.md"
FIELDS = ("claim", "paper", "reproduced", "status", "reason", "low", "high")


def claims_of(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Claim checks glued by one chapter (``claim_<key>_<field>``), in the order they were glued."""
    keys: list[str] = []
    for name in values:
        if name.startswith("claim_") and name.endswith("_status"):
            keys.append(name[len("claim_"):-len("_status")])
    return [{"key": k, **{f: values.get(f"claim_{k}_{f}", "") for f in FIELDS}} for k in keys]


def collect() -> list[dict[str, Any]]:
    """One row per claim check of every registered chapter, in reading order."""
    rows = []
    for ch in chapters.CHAPTERS.values():
        if not ch.notebook.exists():  # a chapter being written; the registry tests flag it
            continue
        for c in claims_of(glued_values(ch.notebook)):
            rows.append({"slug": ch.slug, "path": ch.path, "title": ch.title,
                         "paper_name": PAPERS.get(ch.part, ch.part), **c})
    return rows


def _cell(v: Any) -> str:
    if v is None:
        text = "none"
    elif isinstance(v, bool):
        text = "yes" if v else "no"
    elif isinstance(v, float):
        text = f"{v:.4g}"
    else:
        text = str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def _reproduced_cell(r: dict[str, Any]) -> str:
    text = _cell(r["reproduced"])
    if r.get("low") not in ("", None) and r.get("high") not in ("", None):
        text += f" (95% CI {_cell(r['low'])}–{_cell(r['high'])})"
    return text


def render(rows: list[dict[str, Any]]) -> str:
    counts = {v: sum(r["status"] == v for r in rows) for v in VERDICTS}
    headline = "; ".join(f"{n} {v}" for v, n in counts.items())
    lines = [
        "# Reproduction scorecard",
        "",
        "Every claim check of every chapter, collected from the chapters' stored outputs by",
        "`python -m stepsize scorecard` (this page is generated; do not edit it by hand). Each",
        "verdict is computed by the chapter's code and is one of four: *reproduced*; *differs* (the",
        "paper's value does not reproduce, and the chapter says how, in numbers); *undecided* (the",
        "budget, grid or sample did not decide, and the reason says what would); *not applicable*",
        "(the claim's premise fails at the chapter's parameters).",
        "",
        f"**{len(rows)} claims: {headline}.**",
        "",
        "| paper | claim | paper's value | reproduced | status | why | chapter |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        link = os.path.relpath(REPO_ROOT / r["path"], SCORECARD.parent)
        lines.append("| " + " | ".join([
            _cell(r["paper_name"]), _cell(r["claim"]), _cell(r["paper"]), _reproduced_cell(r),
            f"**{_cell(r['status'])}**", _cell(r["reason"]), f"[{_cell(r['title'])}]({link})",
        ]) + " |")
    return "\n".join(lines) + "\n"


def write_scorecard(path: Path = SCORECARD) -> Path:
    path.write_text(render(collect()))
    return path

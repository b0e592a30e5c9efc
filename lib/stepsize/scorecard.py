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
from .replication import glued_values

PAPERS = {
    "nar-sastry": "Nar & Sastry (2018)",
    "craciun": "Crăciun & Ghoshdastidar (2024)",
    "nguegnang": "Nguegnang, Rauhut & Terstiege (2024)",
}
SCORECARD = REPO_ROOT / "book" / "scorecard.md"
FIELDS = ("claim", "paper", "reproduced", "status", "reason")


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
    if isinstance(v, bool):
        text = "yes" if v else "no"
    elif isinstance(v, float):
        text = f"{v:.4g}"
    else:
        text = str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict[str, Any]]) -> str:
    n_ok = sum(r["status"] == "reproduced" for r in rows)
    lines = [
        "# Reproduction scorecard",
        "",
        "Every claim check of every chapter, collected from the chapters' stored outputs by",
        "`python -m stepsize scorecard` (this page is generated; do not edit it by hand). A claim",
        "*differs* when the chapter's code finds that the paper's value does not reproduce; the",
        "chapter explains why.",
        "",
        f"**{n_ok} of {len(rows)} claims reproduced.**",
        "",
        "| paper | claim | paper's value | reproduced | status | why | chapter |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        link = os.path.relpath(REPO_ROOT / r["path"], SCORECARD.parent)
        lines.append("| " + " | ".join([
            _cell(r["paper_name"]), _cell(r["claim"]), _cell(r["paper"]), _cell(r["reproduced"]),
            f"**{_cell(r['status'])}**", _cell(r["reason"]), f"[{_cell(r['title'])}]({link})",
        ]) + " |")
    return "\n".join(lines) + "\n"


def write_scorecard(path: Path = SCORECARD) -> Path:
    path.write_text(render(collect()))
    return path

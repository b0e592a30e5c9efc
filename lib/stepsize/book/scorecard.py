"""The reproduction scorecard: every chapter's claim checks, collected from its stored outputs.

``book/scorecard.md`` is generated (``python -m stepsize scorecard``; also after
``python -m stepsize execute``), never typed: a test regenerates it and compares.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..verdicts import VERDICTS
from . import registry
from .registry import REPO_ROOT
from .replication import glued_values

PAPERS = {
    "nar-sastry": "Nar & Sastry (2018)",
    "craciun": "Crăciun & Ghoshdastidar (2024)",
    "nguegnang": "Nguegnang, Rauhut & Terstiege (2024)",
    "beyond": "Beyond the papers",
}
SCORECARD = REPO_ROOT / "book" / "scorecard.md"
FIELDS = ("claim", "paper", "reproduced", "status", "reason", "low", "high", "paper_text")


def claims_of(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Claim checks glued by one chapter (``claim_<key>_<field>``), in the order they were glued."""
    keys: list[str] = []
    for name in values:
        if name.startswith("claim_") and name.endswith("_status"):
            keys.append(name[len("claim_") : -len("_status")])
    return [{"key": k, **{f: values.get(f"claim_{k}_{f}", "") for f in FIELDS}} for k in keys]


def collect() -> list[dict[str, Any]]:
    """One row per claim check of every registered chapter, in reading order."""
    rows = []
    for ch in registry.CHAPTERS.values():
        if not ch.notebook.exists():  # a chapter being written; the registry tests flag it
            continue
        for c in claims_of(glued_values(ch.notebook)):
            rows.append(
                {"slug": ch.slug, "path": ch.path, "title": ch.title, "paper_name": PAPERS.get(ch.part, ch.part), **c}
            )
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


#: sphinx-design badge colour of each verdict (also readable as a word without colour).
BADGE = {
    "reproduced": "bdg-success",
    "differs": "bdg-danger",
    "undecided": "bdg-warning",
    "not applicable": "bdg-secondary",
}


def _title(text: str) -> str:
    """One line of text safe inside a dropdown title (no newlines, no backticks)."""
    return _cell(text).replace("`", "'")


def render(rows: list[dict[str, Any]]) -> str:
    """The scorecard page: a summary line per verdict, then one folded card per claim, grouped by paper.

    Each card's title is the compact row (verdict badge, chapter, claim); unfolding it shows the
    paper's and the reproduced value and the reason, with a link to the chapter. Cards stack, so the
    page never scrolls sideways on a phone.
    """
    counts = {v: sum(r["status"] == v for r in rows) for v in VERDICTS}
    lines = [
        "# Reproduction scorecard",
        "",
        "Every claim check of every chapter, collected from the chapters' stored outputs by",
        "`python -m stepsize scorecard` (this page is generated; do not edit it by hand). Each",
        "verdict is computed by the chapter's code and is one of four: *reproduced*; *differs* (the",
        "paper's value does not reproduce, and the chapter says how, in numbers); *undecided* (the",
        "budget, grid or sample did not decide, and the reason says what would); *not applicable*",
        "(the claim's premise fails at the chapter's parameters). Unfold a claim to see its values and",
        "its reason. Where each formula comes from is on [Sources and reconstructions](sources.md).",
        "",
        f"**{len(rows)} claims.**",
        "",
    ]
    for v, n in counts.items():
        lines.append(f"- {{{BADGE[v]}}}`{v}` {n}")
    lines.append("")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["paper_name"], []).append(r)
    for paper, rs in groups.items():
        sub = {v: sum(r["status"] == v for r in rs) for v in VERDICTS}
        lines += [f"## {paper}", "", ", ".join(f"{n} {v}" for v, n in sub.items() if n) + ".", ""]
        for r in rs:
            link = os.path.relpath(REPO_ROOT / r["path"], SCORECARD.parent)
            status = _cell(r["status"])
            lines += [
                (
                    f":::{{dropdown}} {{{BADGE.get(status, 'bdg-secondary')}}}`{status}` "
                    f"{_title(r['title'])}: {_title(r['claim'])}"
                ),
                "",
                f"**Claim.** {_cell(r['claim'])}",
                "",
                (
                    f"**Paper's value:** {r['paper_text'] or _cell(r['paper'])} · **reproduced:** {_reproduced_cell(r)} · "
                    f"**verdict:** {status}"
                ),
                "",
                f"**Why.** {_cell(r['reason'])}" if r["reason"] else "",
                "",
                f"[Open the chapter]({link})",
                ":::",
                "",
            ]
    return "\n".join(lines) + "\n"


def write_scorecard(path: Path = SCORECARD) -> Path:
    path.write_text(render(collect()))
    return path

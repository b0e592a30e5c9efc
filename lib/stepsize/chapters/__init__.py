"""The chapter registry: slug -> notebook and typed parameters.

Each part of the book keeps its chapters in its own module (``nar_sastry``, ``craciun``,
``nguegnang``, ``beyond``); this module collects them in reading order.
"""

from __future__ import annotations

from typing import Any

from .core import REPO_ROOT, Chapter, Param, ParameterError
from . import nar_sastry

_PARTS = [nar_sastry]
for _name in ("nar_linear", "nar_identity", "relu", "craciun", "nguegnang", "beyond"):
    try:  # parts added by later work register themselves by existing
        _PARTS.append(__import__(f"{__name__}.{_name}", fromlist=["CHAPTERS"]))
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise

CHAPTERS: dict[str, Chapter] = {}
for _part in _PARTS:
    for _ch in _part.CHAPTERS:
        if _ch.slug in CHAPTERS:
            raise RuntimeError(f"duplicate chapter slug {_ch.slug!r}")
        CHAPTERS[_ch.slug] = _ch


def get(slug: str) -> Chapter:
    """The chapter with this slug, or ParameterError naming the known slugs."""
    try:
        return CHAPTERS[slug]
    except KeyError:
        raise ParameterError(f"unknown chapter '{slug}'; known chapters: {', '.join(CHAPTERS)}") from None


def check_parameters(slug: str, **values: Any) -> None:
    """Validate a notebook's parameters (call it in the cell after the ``parameters`` cell).

    Raises ParameterError naming the parameter and its allowed range. Returns None, so the call
    leaves no output (nbval runs cells without history, where a trailing ``;`` is ignored).
    """
    get(slug).validate(values)


__all__ = ["CHAPTERS", "Chapter", "Param", "ParameterError", "REPO_ROOT", "check_parameters", "get"]

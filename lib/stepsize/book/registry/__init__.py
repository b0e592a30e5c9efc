"""The chapter registry: slug -> notebook, and the limits of its parameters.

A chapter's parameters are its notebook's ``parameters`` cell (names, types, defaults, help),
with the ranges, choices and rules of :mod:`.core` on top (read when a chapter's parameters are
first asked for). Each part of the book keeps its chapters in its own module (``nar_sastry``,
``nar_linear``, ``nar_identity``, ``relu``, ``craciun``, ``nguegnang``, ``beyond``); this module
collects them in reading order.
"""

from __future__ import annotations

import ast
from typing import Any

from . import nar_sastry
from .core import REPO_ROOT, Chapter, Param, ParameterError, RegistryError, Rule, parameters_cell, shorten

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
        raise ParameterError(f"unknown chapter {shorten(slug)}; known chapters: {', '.join(CHAPTERS)}") from None


def injected_names(history: list[str] | None = None) -> list[str]:
    """Names set by the cell papermill injected into this kernel (none when it injected nothing).

    papermill adds, after the ``parameters`` cell, a cell whose source starts with
    ``# Parameters`` and assigns each ``-p``/``-y`` value. IPython keeps the source of every
    executed cell in its input history ``In``; the latest such cell is read and parsed (never
    executed again). ``history`` replaces ``In`` (for tests).
    """
    if history is None:
        try:
            from IPython import get_ipython
        except ImportError:  # plain Python: no kernel, no injection
            return []
        ip = get_ipython()
        history = list(ip.user_ns.get("In", [])) if ip is not None else []
    src = next((h for h in reversed(history) if isinstance(h, str) and h.lstrip().startswith("# Parameters")), None)
    if src is None:
        return []
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        )
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and n.id not in names:
                    names.append(n.id)
    return names


def check_parameters(slug: str, **values: Any) -> None:
    """Validate a notebook's parameters (call it in the cell after the ``parameters`` cell).

    Raises ParameterError naming the parameter and its allowed range, with the message the
    command line gives; a name that papermill injected but the chapter does not have (``papermill
    ... -p foo 1``, which papermill only warns about) is refused the same way. Returns None, so
    the call leaves no output (nbval runs cells without history, where a trailing ``;`` is ignored).
    """
    ch = get(slug)
    for name in injected_names():
        ch.param(name)  # raises "<slug>: unknown parameter 'foo'; this chapter has: ..."
    ch.validate(values)


__all__ = [
    "CHAPTERS",
    "REPO_ROOT",
    "Chapter",
    "Param",
    "ParameterError",
    "RegistryError",
    "Rule",
    "check_parameters",
    "get",
    "injected_names",
    "parameters_cell",
]

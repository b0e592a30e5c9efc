"""Chapter registry types: a chapter's slug and notebook, and the checks on its parameters.

One source per parameter: a notebook's ``parameters`` cell gives each parameter's name, type,
default and help (``delta: float = 0.5  # step size``, which papermill reads too); a registry
entry (:class:`Param`) adds only what the cell cannot say (a range, choices, a predicate) and a
chapter's :class:`Rule` ties parameters together. The cell is read with ``ast`` (no kernel),
once per notebook file, when a chapter's parameters are first asked for; an entry that names a
parameter the cell lacks, or whose range or choices do not fit the cell's type, is refused with
:class:`RegistryError` naming the chapter and the parameter.

Validation happens here, before any kernel starts (the CLI) and again in each notebook's first
cell after the parameters (for readers who call papermill directly, which checks nothing).
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import Any

#: The repository root (the lib is installed in editable mode from ``lib/``).
REPO_ROOT = Path(__file__).resolve().parents[4]

#: Characters allowed in free-text string parameters (paths). Quotes, backslashes, newlines and
#: anything else that could change the meaning of the injected parameters cell are refused.
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_./~ +=:,-]*")


class ParameterError(ValueError):
    """A parameter value that is unknown, of the wrong type, or out of range."""


class RegistryError(RuntimeError):
    """A registry entry that does not fit its notebook's ``parameters`` cell (a bug of the book, not of a call)."""


#: Longest offending value echoed in a message (longer ones are cut, with their length said).
SHOW_MAX = 60


def shorten(value: Any, limit: int = SHOW_MAX) -> str:
    """``repr(value)``, cut to about ``limit`` characters (messages must stay one short line)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[: limit - 3] + "..." + size


def cut(text: str, limit: int = 200) -> str:
    """``text`` itself (no quotes), cut to about ``limit`` characters, e.g. a path in a message."""
    return text if len(text) <= limit else text[: limit - 3] + f"... ({len(text)} characters)"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: The types a ``parameters`` cell may annotate a parameter with.
KINDS = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class Param:
    """One chapter parameter: what the registry adds to the notebook's ``parameters`` cell.

    A registry entry gives the ``name`` and only what the cell cannot say: numeric ranges
    (``low``/``high``, closed unless ``low_open``/``high_open``; ``None`` means unbounded),
    ``choices`` (a set of allowed values) or ``rule``/``rule_text`` (a predicate, e.g. "an even
    integer"). ``kind`` (``float``, ``int``, ``bool`` or ``str``), ``default`` and ``help`` come
    from the cell: :attr:`Chapter.params` fills them in, and an entry that sets them is refused.
    Everything after the name is keyword-only, so an entry in the old four-argument form
    (``Param("delta", float, 0.5, "step size", ...)``) fails at once instead of reading ``float``
    as a lower bound.
    """

    name: str
    _: KW_ONLY
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    rule: Callable[[Any], bool] | None = field(default=None, compare=False)
    rule_text: str = ""
    kind: type | None = None
    default: Any = None
    help: str = ""

    def allowed(self) -> str:
        """Human description of the allowed values, e.g. ``a float in (0, 4]``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) if isinstance(c, str) else str(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return self.rule_text or "text made of letters, digits and _ . / ~ + = : , - or space"
        noun = {float: "a number", int: "an integer"}[self.kind]
        if self.rule_text:
            noun = self.rule_text
        if self.low is None and self.high is None:
            return noun
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        lb = "(" if (self.low is None or self.low_open) else "["
        hb = ")" if (self.high is None or self.high_open) else "]"
        return f"{noun} in {lb}{lo}, {hi}{hb}"

    def parse(self, text: str) -> Any:
        """Convert command-line text to this parameter's type (then :meth:`check` it)."""
        try:
            if self.kind is bool:
                low = text.strip().lower()
                if low in ("true", "1", "yes"):
                    value: Any = True
                elif low in ("false", "0", "no"):
                    value = False
                else:
                    raise ValueError
            elif self.kind is int:
                value = int(text.strip())
            elif self.kind is float:
                value = float(text.strip())
            else:
                value = text
        except ValueError:
            raise ParameterError(self._message(text)) from None
        try:
            return self.check(value)
        except ParameterError:
            raise ParameterError(self._message(text)) from None  # show what was typed

    def check(self, value: Any) -> Any:
        """Return ``value`` (ints widened to float for float parameters) or raise ParameterError."""
        if self.kind is None:
            raise RegistryError(
                f"parameter '{self.name}': a bare registry entry; use Chapter.params (it adds the "
                f"type from the parameters cell)"
            )
        ok = True
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if ok:
                value = float(value)
        elif self.kind is str:
            ok = isinstance(value, str) and _SAFE_TEXT.fullmatch(value) is not None
        if ok and self.kind in (int, float):
            if self.low is not None:
                ok = value > self.low if self.low_open else value >= self.low
            if ok and self.high is not None:
                ok = value < self.high if self.high_open else value <= self.high
        if ok and self.choices is not None:
            ok = value in self.choices
        if ok and self.rule is not None:
            ok = bool(self.rule(value))
        if not ok:
            hint = ""
            if isinstance(value, str) and self.kind in (int, float) and _looks_numeric(value):
                # papermill -y: YAML 1.1 reads 1e-3 (no dot) as text
                example = "1.0e-3" if self.kind is float else "1000"
                hint = (
                    f" (text, not a number: YAML reads a number like 1e-3 without a dot as text; write it as {example})"
                )
            raise ParameterError(self._message(value) + hint)
        return value

    def _message(self, got: Any) -> str:
        return f"parameter '{self.name}' must be {self.allowed()}; got {shorten(got)}"


@dataclass(frozen=True)
class Rule:
    """A condition that ties several parameters of one chapter together, e.g. ``n_negative < dim``.

    ``test`` receives the values of ``names`` (in that order) and returns True when they fit;
    ``text`` states the condition for the error message.
    """

    names: tuple[str, ...]
    test: Callable[..., bool] = field(compare=False)
    text: str

    def check(self, slug: str, values: dict[str, Any]) -> None:
        """Raise ParameterError when the rule fails on ``values`` (which must hold every name)."""
        got = [values[n] for n in self.names]
        if not self.test(*got):
            shown = ", ".join(f"{n}={shorten(v)}" for n, v in zip(self.names, got))
            names = " and ".join(f"'{n}'" for n in self.names)
            raise ParameterError(f"{slug}: parameters {names} must satisfy {self.text}; got {shown}")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class CellParam:
    """A parameter as the notebook's ``parameters`` cell states it: ``name: kind = default  # help``."""

    name: str
    kind: type
    default: Any
    help: str


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


def parameters_cell(path: str | Path) -> tuple[CellParam, ...]:
    """The parameters a notebook's ``parameters`` cell declares, in order (read with ``ast``, cached).

    The cell must hold only annotated literals, ``name: type = value  # help``, with ``type`` one
    of ``int``, ``float``, ``bool``, ``str``, a value of that type (an integer literal is widened
    for ``float``) and a help comment; anything else raises :class:`RegistryError`. The file is
    read again only when it changes (its modification time or size).
    """
    path = Path(path)
    try:
        key = _file_key(path)
    except OSError as e:
        raise RegistryError(f"{cut(str(path))}: cannot read the notebook ({e.strerror})") from None
    return _read_parameters_cell(*key)


@functools.lru_cache(maxsize=256)
def _read_parameters_cell(path: str, mtime_ns: int, size: int) -> tuple[CellParam, ...]:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [
        c
        for c in nb.get("cells", [])
        if c.get("cell_type") == "code" and "parameters" in (c.get("metadata", {}).get("tags") or [])
    ]
    if len(cells) != 1:
        raise RegistryError(f"{path}: needs exactly one code cell tagged 'parameters'; found {len(cells)}")
    src = cells[0]["source"]
    src = "".join(src) if isinstance(src, list) else src
    lines = src.splitlines()
    try:
        body = ast.parse(src).body
    except SyntaxError as e:
        raise RegistryError(f"{path}: the parameters cell is not valid Python ({e.msg}, line {e.lineno})") from None
    out: list[CellParam] = []
    for node in body:
        where = f"{path}: parameters cell, line {node.lineno}"
        if not (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.annotation, ast.Name)
            and node.value is not None
        ):
            raise RegistryError(f"{where}: only annotated literals 'name: type = value  # help' may stand here")
        name, kind = node.target.id, KINDS.get(node.annotation.id)
        if kind is None:
            raise RegistryError(
                f"{where}: parameter '{name}' has type {node.annotation.id}; allowed: {', '.join(KINDS)}"
            )
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise RegistryError(f"{where}: the default of '{name}' is not a literal") from None
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise RegistryError(
                f"{where}: parameter '{name}' is declared {kind.__name__} but its default "
                f"{shorten(value)} is {type(value).__name__}"
            )
        comment = lines[node.end_lineno - 1].partition("#")[2].strip() if node.end_lineno else ""
        if not comment:
            raise RegistryError(f"{where}: parameter '{name}' needs a '# help' comment")
        if any(p.name == name for p in out):
            raise RegistryError(f"{where}: parameter '{name}' is declared twice")
        out.append(CellParam(name, kind, value, comment))
    return tuple(out)


def merge(
    slug: str, cell: tuple[CellParam, ...], limits: tuple[Param, ...], rules: tuple[Rule, ...] = ()
) -> tuple[Param, ...]:
    """The chapter's parameters: the cell's, in its order, each with its registry entry's limits.

    Raises :class:`RegistryError` naming the chapter and the parameter when an entry names a
    parameter the cell lacks, is given twice, sets what the cell says (type, default, help), or
    does not fit the cell's type (a range on a non-number, choices of another type), when a rule
    names a parameter the cell lacks, or when the cell's default breaks its entry.
    """
    by_name = {c.name: c for c in cell}
    entries: dict[str, Param] = {}
    for e in limits:
        where = f"{slug}: registry entry for parameter '{e.name}'"
        if e.name not in by_name:
            raise RegistryError(
                f"{where}: the notebook's parameters cell has no such parameter "
                f"(it has: {', '.join(by_name) or 'none'})"
            )
        if e.name in entries:
            raise RegistryError(f"{where}: given twice")
        if e.kind is not None or e.default is not None or e.help:
            raise RegistryError(f"{where}: sets its type, default or help, which only the parameters cell gives")
        kind = by_name[e.name].kind
        numeric = kind in (int, float)
        if not numeric and (e.low is not None or e.high is not None or e.low_open or e.high_open):
            raise RegistryError(f"{where}: a numeric range, but the parameters cell declares it {kind.__name__}")
        if e.choices is not None:
            bad = [c for c in e.choices if not (type(c) is kind or (kind is float and type(c) is int))]
            if bad or not e.choices:
                raise RegistryError(
                    f"{where}: choices {shorten(e.choices)} are not all {kind.__name__}, "
                    f"the type the parameters cell declares"
                )
        entries[e.name] = e
    for r in rules:
        missing = [n for n in r.names if n not in by_name]
        if missing:
            raise RegistryError(
                f"{slug}: rule {r.text!r} names parameter '{missing[0]}', which the notebook's parameters cell lacks"
            )
    params = tuple(
        replace(entries.get(c.name, Param(c.name)), kind=c.kind, default=c.default, help=c.help) for c in cell
    )
    for p in params:
        try:
            p.check(p.default)
        except ParameterError as e:
            raise RegistryError(f"{slug}: the default in the parameters cell breaks its registry entry: {e}") from None
    return params


@dataclass(frozen=True)
class Chapter:
    """A chapter: its slug, notebook path (relative to the repository root) and parameter limits.

    ``limits`` are the registry entries (:class:`Param`: ranges, choices, predicates) of some of
    the parameters; the parameters themselves (names, types, defaults, help) are the notebook's
    ``parameters`` cell, merged with the limits in :attr:`params`. ``test_overrides`` are
    non-default parameter values that ``make test`` runs the chapter with (through papermill), to
    show that a re-run with other values works. ``rules`` are conditions across parameters,
    checked on the full set of values (defaults filled in) before any run.
    """

    slug: str
    path: str
    title: str
    part: str
    limits: tuple[Param, ...] = ()
    test_overrides: dict[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    @property
    def notebook(self) -> Path:
        return REPO_ROOT / self.path

    @property
    def params(self) -> tuple[Param, ...]:
        """Every parameter: the notebook's ``parameters`` cell merged with :attr:`limits` (see :func:`merge`)."""
        cell = parameters_cell(self.notebook)
        cached = self.__dict__.get("_params")
        if cached is None or cached[0] is not cell:  # first call, or the notebook changed
            cached = (cell, merge(self.slug, cell, self.limits, self.rules))
            self.__dict__["_params"] = cached  # a frozen dataclass still has a __dict__
        return cached[1]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        names = ", ".join(p.name for p in self.params)
        raise ParameterError(f"{self.slug}: unknown parameter {shorten(name)}; this chapter has: {names}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check typed values (as a notebook sees them); return them, ints widened where float.

        Each value is checked against its parameter, then every :class:`Rule` whose parameters
        are all in ``values`` (a notebook passes all of them).
        """
        out = {}
        for name, value in values.items():
            try:
                out[name] = self.param(name).check(value)
            except ParameterError as e:
                msg = str(e)
                raise ParameterError(msg if msg.startswith(self.slug + ":") else f"{self.slug}: {msg}") from None
        for rule in self.rules:
            if all(n in out for n in rule.names):
                rule.check(self.slug, out)
        return out

    def check_rules(self, overrides: dict[str, Any]) -> None:
        """Check the :attr:`rules` on the defaults updated with ``overrides`` (already-checked values)."""
        full = {**self.defaults(), **overrides}
        for rule in self.rules:
            rule.check(self.slug, full)

    def parse(self, pairs: list[tuple[str, str]], *, rules: bool = True) -> dict[str, Any]:
        """Parse ``(name, text)`` pairs from the command line into checked, typed values.

        With ``rules`` (the default) the cross-parameter :attr:`rules` are checked too, with the
        defaults standing in for the parameters not given.
        """
        out = {}
        for name, text in pairs:
            if name in out:
                raise ParameterError(f"{self.slug}: parameter {shorten(name)} is given twice")
            try:
                out[name] = self.param(name).parse(text)
            except ParameterError as e:
                msg = str(e)
                raise ParameterError(msg if msg.startswith(self.slug) else f"{self.slug}: {msg}") from None
        if rules:
            self.check_rules(out)
        return out


#: The seed parameter most chapters share.
SEED = Param("seed", low=0, high=2**32 - 1)

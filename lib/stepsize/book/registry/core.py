"""Chapter registry types: a chapter's slug, notebook and typed, range-checked parameters.

Validation happens here, before any kernel starts (the CLI) and again in each notebook's first
cell after the parameters (for readers who call papermill directly, which checks nothing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The repository root (the lib is installed in editable mode from ``lib/``).
REPO_ROOT = Path(__file__).resolve().parents[4]

#: Characters allowed in free-text string parameters (paths). Quotes, backslashes, newlines and
#: anything else that could change the meaning of the injected parameters cell are refused.
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_./~ +=:,-]*")


class ParameterError(ValueError):
    """A parameter value that is unknown, of the wrong type, or out of range."""


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


@dataclass(frozen=True)
class Param:
    """One chapter parameter.

    ``kind`` is one of ``float``, ``int``, ``bool``, ``str``. Numeric ranges are closed unless
    ``low_open``/``high_open``; ``None`` means unbounded. ``choices`` restricts a value to a set;
    ``rule``/``rule_text`` add a predicate (e.g. "an even integer").
    """

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    rule: Callable[[Any], bool] | None = field(default=None, compare=False)
    rule_text: str = ""

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
                hint = (f" (text, not a number: YAML reads a number like 1e-3 without a dot as text; "
                        f"write it as {example})")
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
class Chapter:
    """A chapter: its slug, notebook path (relative to the repository root) and parameters.

    ``test_overrides`` are non-default parameter values that ``make test`` runs the chapter with
    (through papermill), to show that a re-run with other values works. ``rules`` are conditions
    across parameters, checked on the full set of values (defaults filled in) before any run.
    """

    slug: str
    path: str
    title: str
    part: str
    params: tuple[Param, ...]
    test_overrides: dict[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    @property
    def notebook(self) -> Path:
        return REPO_ROOT / self.path

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
SEED = Param("seed", int, 0, "seed of numpy.random.default_rng", low=0, high=2**32 - 1)

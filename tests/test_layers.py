"""The house plan, read from the import statements (ast): nothing in ``stepsize`` imports upwards.

Floors, from the bottom: the core (``stepsize/*.py`` but the top), ``models/``, ``book/``, and the
top (``runner``, ``cli``, ``sweep``, ``__main__``). A module may import its own floor and the floors
below it, never one above. On the top, ``runner`` executes a chapter for both ``cli`` and ``sweep``:
it imports neither, and ``sweep`` never imports ``cli`` (the command line uses the sweeps, not back).
"""

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "stepsize"
TOP = {"runner", "cli", "sweep", "__main__"}
FLOORS = {"core": 0, "models": 1, "book": 2, "top": 3}


def floor_of(module: str) -> str:
    """The floor of a module path inside the package (``stepsize.models.toy`` -> ``models``)."""
    parts = module.split(".")
    assert parts[0] == "stepsize", module
    if len(parts) == 1 or parts[1] == "__init__":
        return "core"  # the package's own __init__ re-exports core names only
    if parts[1] in ("models", "book"):
        return parts[1]
    return "top" if parts[1] in TOP else "core"


#: Imports forbidden on the top floor: (importer, imported).
TOP_RULES = {
    ("stepsize.sweep", "stepsize.cli"),
    ("stepsize.runner", "stepsize.cli"),
    ("stepsize.runner", "stepsize.sweep"),
}


def module_name(path: Path, root: Path = LIB) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, root: Path = LIB) -> list[tuple[int, str]]:
    """Every module of ``stepsize`` that ``path`` imports, anywhere in it (also inside functions): (line, name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "stepsize"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "stepsize":
                continue
            # ``from . import toy`` imports the module stepsize.<pkg>.toy
            for a in node.names:
                found.append((node.lineno, f"{mod}.{a.name}" if _is_module(f"{mod}.{a.name}", root) else mod))
    return found


def _is_module(name: str, root: Path) -> bool:
    p = root.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def violations(root: Path = LIB) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        if "kernel_config" in path.parts:
            continue  # IPython's settings file, not a module of the package
        me = module_name(path, root)
        mine = floor_of(me)
        for line, target in imports(path, root):
            theirs = floor_of(target)
            if FLOORS[theirs] > FLOORS[mine]:
                out.append(f"{path.relative_to(root.parent)}:{line}: {me} ({mine}) imports {target} ({theirs})")
            if (me, target) in TOP_RULES:
                out.append(
                    f"{path.relative_to(root.parent)}:{line}: {me} imports {target} (runner serves cli and sweep; sweep never imports cli)"
                )
    return out


def test_nothing_imports_upwards():
    assert violations() == []


def test_every_module_says_what_it_holds():
    for path in sorted(LIB.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc and doc.strip(), f"{path.relative_to(LIB.parent)}: needs a first sentence saying what it holds"


@pytest.mark.parametrize(
    "src, where, needle",
    [
        (
            "from ..book.registry import get\n",
            "models/probe.py",
            "stepsize.models.probe (models) imports stepsize.book",
        ),
        ("from .models import toy\n", "probe.py", "stepsize.probe (core) imports stepsize.models.toy (models)"),
        ("def f():\n    from ..cli import main\n", "book/probe.py", "stepsize.book.probe (book) imports stepsize.cli"),
        ("import stepsize.sweep\n", "book/registry/probe.py", "imports stepsize.sweep (top)"),
        ("from .cli import main\n", "sweep.py", "stepsize.sweep imports stepsize.cli (runner serves"),
        ("from . import sweep\n", "runner.py", "stepsize.runner imports stepsize.sweep (runner serves"),
    ],
)
def test_the_check_fails_on_an_upward_import(tmp_path, src, where, needle):
    """A copy of the package with one bad import: the check names the file, line and floors."""
    import shutil

    copy = tmp_path / "stepsize"
    shutil.copytree(LIB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / where
    target.write_text(target.read_text() + "\n" + src if target.exists() else src)
    found = violations(copy)
    assert any(needle in v for v in found), found

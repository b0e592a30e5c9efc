"""The chapter registry agrees with the notebooks and the table of contents; bad input is refused."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stepsize.book import registry as chapters
from stepsize.book.registry import REPO_ROOT, ParameterError

CHAPTERS = list(chapters.CHAPTERS.values())
IDS = [c.slug for c in CHAPTERS]


def _code_cells(ch):
    nb = json.loads(ch.notebook.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _parameters_cell(ch):
    cells = [c for c in _code_cells(ch) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{ch.path}: needs exactly one cell tagged 'parameters'"
    return cells[0]


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_parameters_come_from_the_notebook_cell(ch):
    """One source: every parameter's name, type, default and help is the cell's (the registry loads)."""
    src = "".join(_parameters_cell(ch)["source"])
    cell = {}
    for node in ast.parse(src).body:
        comment = src.splitlines()[node.lineno - 1].partition("#")[2].strip()
        cell[node.target.id] = (node.annotation.id, ast.literal_eval(node.value), comment)
    assert {p.name: (p.kind.__name__, p.default, p.help) for p in ch.params} == cell
    assert [p.name for p in ch.params] == list(cell)


def _chapter_with_cell(tmp_path, cell_source, *limits, rules=(), name="nb.ipynb"):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(cell_source, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(delta)"),
    ]
    path = tmp_path / name
    nbformat.write(nb, path)
    return chapters.Chapter(
        slug="probe", path=str(path), title="a probe", part="test", limits=tuple(limits), rules=tuple(rules)
    )


CELL = 'delta: float = 0.5  # step size\nn_init: int = 100  # initial points\nmode: str = "quick"  # size\n'


def test_registry_entry_adds_limits_to_the_cell(tmp_path):
    Param = chapters.Param
    ch = _chapter_with_cell(
        tmp_path, CELL, Param("delta", low=0.0, high=1.0, low_open=True), Param("mode", choices=("quick", "paper"))
    )
    assert [(p.name, p.kind, p.default, p.help) for p in ch.params] == [
        ("delta", float, 0.5, "step size"),
        ("n_init", int, 100, "initial points"),
        ("mode", str, "quick", "size"),
    ]
    assert ch.param("delta").allowed() == "a number in (0, 1]"
    with pytest.raises(ParameterError, match="'mode' must be one of 'quick', 'paper'"):
        ch.parse([("mode", "slow")])
    assert ch.param("n_init").check(7) == 7  # no entry: the cell's type alone
    with pytest.raises(TypeError):  # the old form, restating the cell, does not construct
        Param("delta", float, 0.5, "step size", low=0.0)


@pytest.mark.parametrize(
    "limits, rules, needle",
    [
        (
            (chapters.Param("detla", low=0.0),),
            (),
            "probe: registry entry for parameter 'detla': the notebook's parameters cell has no such parameter",
        ),
        (
            (chapters.Param("mode", low=0.0),),
            (),
            "probe: registry entry for parameter 'mode': a numeric range, but the parameters cell declares it str",
        ),
        (
            (chapters.Param("n_init", choices=("a", "b")),),
            (),
            "probe: registry entry for parameter 'n_init': choices ('a', 'b') are not all int",
        ),
        (
            (chapters.Param("delta", kind=float),),
            (),
            "probe: registry entry for parameter 'delta': sets its type, default or help",
        ),
        (
            (chapters.Param("delta", low=1.0),),
            (),
            "probe: the default in the parameters cell breaks its registry entry: parameter 'delta' must be",
        ),
        ((chapters.Param("delta"), chapters.Param("delta")), (), "parameter 'delta': given twice"),
        (
            (),
            (chapters.Rule(("delta", "dim"), lambda a, b: a < b, "delta < dim"),),
            "probe: rule 'delta < dim' names parameter 'dim', which the notebook's parameters cell lacks",
        ),
    ],
)
def test_the_registry_refuses_an_entry_that_does_not_fit_the_cell(tmp_path, limits, rules, needle):
    ch = _chapter_with_cell(tmp_path, CELL, *limits, rules=rules)
    with pytest.raises(chapters.RegistryError, match=re.escape(needle)):
        _ = ch.params
    with pytest.raises(chapters.RegistryError):
        ch.validate({"delta": 0.5})  # no use of the chapter gets past it


@pytest.mark.parametrize(
    "cell, needle",
    [
        ("delta = 0.5  # step size\n", "only annotated literals"),
        ("delta: complex = 0.5  # step size\n", "parameter 'delta' has type complex"),
        ("delta: int = 0.5  # step size\n", "parameter 'delta' is declared int but its default 0.5 is float"),
        ("delta: float = 0.5\n", "parameter 'delta' needs a '# help' comment"),
        ("delta: float = abs(-1)  # step size\n", "the default of 'delta' is not a literal"),
    ],
)
def test_the_loader_refuses_a_cell_it_cannot_read(tmp_path, cell, needle):
    ch = _chapter_with_cell(tmp_path, cell)
    with pytest.raises(chapters.RegistryError, match=re.escape(needle)):
        _ = ch.params


def test_the_cell_is_read_once_and_again_when_it_changes(tmp_path):
    import os

    from stepsize.book.registry import core

    ch = _chapter_with_cell(tmp_path, CELL)
    core._read_parameters_cell.cache_clear()
    assert ch.params is ch.params and core._read_parameters_cell.cache_info().misses == 1
    _chapter_with_cell(tmp_path, CELL.replace("0.5", "0.25"))
    os.utime(ch.notebook, ns=(1, 1))  # a change the clock could not tell apart still changes the key
    assert ch.param("delta").default == 0.25


def test_loading_one_chapter_reads_only_its_own_notebook(monkeypatch):
    """What keeps the CLI's refusal of a bad parameter instant: one file read, no kernel (no clock)."""
    from stepsize.book.registry import core

    core._read_parameters_cell.cache_clear()
    read = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (read.append(self.name), real(self, *a, **k))[1])
    _ = chapters.get("craciun-digits").params
    _ = chapters.get("craciun-digits").params
    assert read == ["digits.ipynb"]


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_notebook_validates_every_parameter_first(ch):
    cells = _code_cells(ch)
    i = next(k for k, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    nxt = "".join(cells[i + 1]["source"])
    call = next(
        n
        for n in ast.walk(ast.parse(nxt))
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == "check_parameters"
    )
    assert ast.literal_eval(call.args[0]) == ch.slug
    assert {k.arg for k in call.keywords} == {p.name for p in ch.params}


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_defaults_valid_and_overrides_differ(ch):
    ch.validate(ch.defaults())
    assert ch.test_overrides, f"{ch.slug}: needs test_overrides for the papermill re-run"
    ch.validate(ch.test_overrides)
    assert any(ch.defaults()[k] != v for k, v in ch.test_overrides.items())


def _toc_files():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for c in part["chapters"]:
            files.append(c["file"])
            files += [s["file"] for s in c.get("sections", [])]
    return files


def test_every_chapter_is_in_the_toc_and_every_notebook_registered():
    toc = set(_toc_files())
    for ch in CHAPTERS:
        assert ch.path.removesuffix(".ipynb") in toc, f"{ch.slug} missing from _toc.yml"
    registered = {c.path for c in CHAPTERS}
    for nb in (REPO_ROOT / "book").rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        assert str(nb.relative_to(REPO_ROOT)) in registered, f"{nb} is not in the registry"


def test_param_checks():
    ch = chapters.get("nar-example1")
    assert ch.param("delta").check(1) == 1.0 and isinstance(ch.param("delta").check(1), float)
    for bad in (-1.0, 0.0, float("nan"), "0.5", True):
        with pytest.raises(ParameterError, match="'delta' must be a number in \\(0, 100\\]"):
            ch.validate({"delta": bad})
    with pytest.raises(ParameterError, match="'n_init' must be an integer"):
        ch.validate({"n_init": 2.5})
    with pytest.raises(ParameterError, match="unknown parameter 'detla'"):
        ch.validate({"detla": 0.1})
    with pytest.raises(ParameterError, match="unknown chapter 'nope'"):
        chapters.get("nope")


def test_rules_tie_parameters_together():
    th3 = chapters.get("nar-theorem3")
    assert th3.rules, "nar-theorem3 needs its n_negative < dim rule"
    # each value alone is in range, the pair is not
    values = {**th3.defaults(), "dim": 3, "n_negative": 3}
    assert th3.param("dim").check(3) == 3 and th3.param("n_negative").check(3) == 3
    with pytest.raises(
        ParameterError,
        match=re.escape(
            "nar-theorem3: parameters 'n_negative' and 'dim' must satisfy n_negative < dim "
            "(R needs a positive eigenvalue); got n_negative=3, dim=3"
        ),
    ):
        th3.validate(values)
    with pytest.raises(ParameterError, match="n_negative < dim"):
        th3.parse([("dim", "2")])  # the default n_negative = 2 then breaks the rule
    assert th3.parse([("dim", "2"), ("n_negative", "1")]) == {"dim": 2, "n_negative": 1}
    assert th3.parse([("dim", "2")], rules=False) == {"dim": 2}
    gm = chapters.get("nguegnang-global-minimum")
    with pytest.raises(ParameterError, match="hidden < d"):
        gm.validate({**gm.defaults(), "hidden": 6, "d": 6})


def test_sweep_checks_rules_on_every_combination():
    from stepsize import sweep

    ch = chapters.get("nar-theorem3")
    assert len(sweep.parse_grid(ch, [("dim", "3,4"), ("n_negative", "1,2")], seeds=1)) == 4
    with pytest.raises(ParameterError, match="got n_negative=3, dim=3"):
        sweep.parse_grid(ch, [("dim", "3,4"), ("n_negative", "1,3")], seeds=1)


def test_string_parameters_cannot_carry_code():
    from stepsize.book.registry.core import Param

    p = Param("path", kind=str, default="", help="a path")
    assert p.check("data/mnist/train-images.idx3-ubyte") == "data/mnist/train-images.idx3-ubyte"
    for bad in ('x"; import os; os.system("id"); "', "a\\", "a\nb", "it's"):
        with pytest.raises(ParameterError, match="'path' must be text"):
            p.check(bad)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "stepsize", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "nar-example1", "-p", "delta", "-1"], "'delta' must be a number in (0, 100]; got '-1'"),
        (["run", "nar-example1", "-p", "delta", "abc"], "'delta' must be a number in (0, 100]; got 'abc'"),
        (["run", "nar-example1", "-p", "n_init", "1e3"], "'n_init' must be an integer"),
        (["run", "nar-example1", "-p", "dleta", "0.1"], "unknown parameter 'dleta'"),
        (["run", "no-such-chapter"], "unknown chapter 'no-such-chapter'; known chapters: nar-example1"),
        (
            ["run", "nar-theorem3", "-p", "n_negative", "4"],
            "nar-theorem3: parameters 'n_negative' and 'dim' must satisfy n_negative < dim",
        ),
        (
            ["run", "nar-theorem4", "-p", "delta_small", "5e-4"],
            (
                "parameters 'delta_small' and 'delta_large' must satisfy delta_small < delta_large; "
                "got delta_small=0.0005, delta_large=0.0003"
            ),
        ),
        (
            ["sweep", "craciun-linear", "-p", "dim", "4,8", "-p", "n_samples", "6"],
            "'n_samples' and 'dim' must satisfy n_samples >= dim",
        ),
    ],
)
def test_cli_rejects_bad_input_before_any_kernel(args, needle, tmp_path):
    r = _cli(*args, "--out", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not any(tmp_path.iterdir()), "nothing may be executed for a bad call"


def test_cli_list_shows_every_chapter_and_parameter():
    r = _cli("list")
    assert r.returncode == 0
    for ch in CHAPTERS:
        assert ch.slug in r.stdout
        for p in ch.params:
            assert f"{p.name}: {p.kind.__name__} = {p.default!r}" in r.stdout


def test_intro_lists_every_chapter():
    intro = (REPO_ROOT / "book" / "intro.md").read_text()
    for ch in CHAPTERS:
        link = ch.path.removeprefix("book/")
        assert f"`{ch.slug}`" in intro and f"({link})" in intro, f"{ch.slug} missing from the intro's table"


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_stored_outputs_hold_no_warnings_errors_or_paths(ch):
    import re

    for cell in _code_cells(ch):
        for o in cell.get("outputs", []):
            assert o["output_type"] != "error", f"{ch.path}: a stored output is an error"
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert "Warning" not in text, f"{ch.path}: a warning leaked into the stored output: {text[:200]}"
            assert not re.search(r"0x[0-9a-f]{6,}|/work/|/tmp/|/home/|/root/", text), f"{ch.path}: address or path"


def test_messages_name_the_chapter_once_and_cut_long_values():
    ch = chapters.get("nar-example1")
    with pytest.raises(ParameterError) as e:
        ch.validate({"detla": 0.1})
    assert str(e.value).count("nar-example1:") == 1
    with pytest.raises(ParameterError) as e:
        ch.validate({"delta": "9" * 5000})
    assert len(str(e.value)) < 300 and "(5000 characters)" in str(e.value)

"""Publishing: the CI workflows, the licences, the citation, and the PDF edition.

The workflows cannot run here; they are checked instead: actionlint on every file, and every
``run:`` command is one the README gives (``make test``, ``make book``, ...). The citation file is
validated against the CFF 1.2.0 schema that ships inside check-jsonschema (no network). The PDF
edition is built once for this module (``make pdf``'s code, from the stored outputs) when Chromium
is installed, and read back with pypdf.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path

import nbformat
import pytest
import yaml
from stepsize.book.registry import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PAPERS = ("nar2018stepsize", "craciun2024large", "nguegnang2024linear")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _config() -> dict:
    return yaml.safe_load((REPO_ROOT / "_config.yml").read_text())


def _workflow(path: Path) -> dict:
    wf = yaml.safe_load(path.read_text())
    if True in wf:  # YAML 1.1 reads the key `on` as True
        wf["on"] = wf.pop(True)
    return wf


def _steps(wf: dict) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def _runs(wf: dict) -> list[str]:
    return [s["run"].strip() for s in _steps(wf) if "run" in s]


def _readme_targets() -> set[str]:
    return set(re.findall(r"\bmake ([a-z][\w-]*)", (REPO_ROOT / "README.md").read_text()))


# --- workflows ---------------------------------------------------------------------------------


def test_there_are_the_three_workflows():
    assert {p.name for p in WORKFLOWS} >= {"tests.yml", "book.yml", "weekly.yml"}


def test_actionlint_passes_on_every_workflow():
    actionlint = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    assert actionlint, "actionlint is not installed (it is a pinned dependency: run `make env`)"
    r = subprocess.run(
        [actionlint, "-no-color", "-oneline", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    actionlint = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: make test\n        if: ${{ github.evnt_name == 'push' }}\n"
    )
    r = subprocess.run([actionlint, "-no-color", str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_command_is_one_the_readme_gives(path):
    targets = _readme_targets()
    runs = _runs(_workflow(path))
    assert runs, f"{path.name}: no commands"
    for cmd in runs:
        # the one variable a workflow may set: the repository's own address (as the README says)
        m = re.fullmatch(r"make ([a-z][\w-]*)( REPO_URL=https://github\.com/\$\{\{ github\.repository \}\})?", cmd)
        assert m, f"{path.name}: {cmd!r} is not one of the README's make commands"
        assert m.group(1) in targets, f"{path.name}: `make {m.group(1)}` is not in the README"


def test_tests_workflow_runs_make_test_on_pushes_and_pull_requests():
    wf = _workflow(REPO_ROOT / ".github/workflows/tests.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    assert _runs(wf) == ["make test"]
    job = next(iter(wf["jobs"].values()))
    assert "3.11" in str(job.get("container", "")), "tests run with Python 3.11"


def test_book_workflow_deploys_to_pages_from_main():
    wf = _workflow(REPO_ROOT / ".github/workflows/book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "make book REPO_URL=https://github.com/${{ github.repository }}" in _runs(wf)
    uses = [s.get("uses", "") for s in _steps(wf)]
    upload = next(s for s in _steps(wf) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    perms = wf["jobs"]["deploy"]["permissions"]
    assert perms == {"pages": "write", "id-token": "write"}
    assert "https://" not in " ".join(_runs(wf)).replace("https://github.com/${{ github.repository }}", "")


def test_weekly_workflow_rebuilds_from_scratch():
    wf = _workflow(REPO_ROOT / ".github/workflows/weekly.yml")
    assert wf["on"]["schedule"][0]["cron"].split()[-1] != "*", "once a week, not daily"
    runs = _runs(wf)
    assert runs.index("make clean") < runs.index("make book REPO_URL=https://github.com/${{ github.repository }}")
    assert not any(s.get("uses", "").startswith("actions/cache@") for s in _steps(wf)), "no cache"


@pytest.mark.parametrize("name", ["tests.yml", "book.yml", "weekly.yml"])
def test_a_failed_build_uploads_the_execution_reports(name):
    # myst-nb writes each failed notebook's traceback to <outdir>/reports/<docname>.err.log
    # (with nb_execution_raise_on_error false, as in _config.yml, so every failure is reported).
    assert _config()["sphinx"]["config"]["nb_execution_raise_on_error"] is False
    steps = _steps(_workflow(REPO_ROOT / ".github/workflows" / name))
    up = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert up and up[0]["if"] == "failure()" and up[0]["with"]["path"].rstrip("/") == "_build/html/reports"


# --- licences ----------------------------------------------------------------------------------


def test_licences_are_stated_in_files_metadata_and_footer():
    assert "MIT License" in (REPO_ROOT / "LICENSE").read_text()
    assert "Creative Commons Attribution 4.0 International" in (REPO_ROOT / "LICENSE-text").read_text()
    project = _pyproject()["project"]
    assert project["license"] == "MIT AND CC-BY-4.0"
    assert all((REPO_ROOT / f).is_file() for f in project["license-files"])
    footer = _config()["html"]["extra_footer"]
    assert "MIT" in footer and "CC BY 4.0" in footer and "creativecommons.org/licenses/by/4.0" in footer


# --- citation ----------------------------------------------------------------------------------


def _check_cff(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema", path=str(BIN)) or "check-jsonschema"
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.citation-file-format", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_citation_cff_is_valid_cff_1_2_0():
    r = _check_cff(REPO_ROOT / "CITATION.cff")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_cff_check_rejects_an_invalid_file(tmp_path):
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    del cff["authors"]
    (tmp_path / "CITATION.cff").write_text(yaml.safe_dump(cff))
    r = _check_cff(tmp_path / "CITATION.cff")
    assert r.returncode != 0 and "authors" in r.stdout


def test_citation_agrees_with_the_book_and_the_package():
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == _config()["title"]
    assert cff["version"] == _pyproject()["project"]["version"]
    assert cff["license"] == ["MIT", "CC-BY-4.0"]
    assert [r["title"] for r in cff["references"]] == [_bib_fields(k)["title"] for k in PAPERS]


def _bib_entries(text: str) -> dict[str, str]:
    """BibTeX entries of ``text`` by key, each as its whole text (braces balanced)."""
    out = {}
    for m in re.finditer(r"@\w+\{([^,\s]+),", text):
        depth, i = 0, m.end() - 1 - len(m.group(1)) - 1
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                out[m.group(1)] = text[m.start() : j + 1]
                break
    return out


def _bib_fields(key: str) -> dict[str, str]:
    entry = _bib_entries((REPO_ROOT / "book/references.bib").read_text())[key]
    return {k: v for k, v in re.findall(r"(\w+)\s*=\s*\{(.*)\},?\s*$", entry, re.MULTILINE)}


def test_cite_page_gives_bibtex_for_the_book_and_the_three_papers():
    page = (REPO_ROOT / "book/cite.md").read_text()
    entries = _bib_entries(page)
    bib = _bib_entries((REPO_ROOT / "book/references.bib").read_text())
    for key in PAPERS:
        assert key in entries, f"no BibTeX for {key}"
        assert entries[key].split() == bib[key].split(), f"{key}: differs from book/references.bib"
    (book,) = [e for k, e in entries.items() if k not in PAPERS]
    assert f"title        = {{{_config()['title']}}}" in book
    assert f"version      = {{{_pyproject()['project']['version']}}}" in book
    assert "@BOOK_URL@" in book  # filled from the repository address at build time
    toc = (REPO_ROOT / "_toc.yml").read_text()
    assert re.search(r"caption: Back matter\n(\s+.*\n)*?\s+- file: book/cite\b", toc)


def test_pages_url_from_the_repository_address():
    from stepsize.book.sphinx_ext import pages_url

    assert pages_url("https://github.com/Org/book") == "https://org.github.io/book/"
    assert pages_url("https://github.com/org/book.git/") == "https://org.github.io/book/"
    assert pages_url("https://github.com/org/org.github.io") == "https://org.github.io/"
    assert pages_url("https://gitlab.com/org/book") == "https://org.gitlab.io/book/"
    assert pages_url("") == ""
    with pytest.raises(ValueError, match="STEPSIZE_REPO_URL"):
        pages_url("https://example.com/org/book")


def test_book_url_fills_the_cite_page_or_its_line_goes():
    from stepsize.book.sphinx_ext import fill_book_url

    src = "a = {x},\n  url = {@BOOK_URL@}\n}"
    assert fill_book_url(src, "https://org.github.io/book/") == "a = {x},\n  url = {https://org.github.io/book/}\n}"
    assert fill_book_url(src, "") == "a = {x},\n}"


def test_pdf_link_only_when_the_pdf_exists(tmp_path):
    from stepsize.book.sphinx_ext import PDF_MARKER, pdf_link

    src = f"text\n\n{PDF_MARKER}\n"
    pdf = tmp_path / "_build/pdf/stepsize-book.pdf"
    assert pdf_link(src, pdf, tmp_path / "book") == src
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.7\n" + b"0" * 2**20)
    out = pdf_link(src, pdf, tmp_path / "book")
    assert "[the PDF edition](../_build/pdf/stepsize-book.pdf) (1 MB)" in out
    assert PDF_MARKER in (REPO_ROOT / "book/intro.md").read_text()


# --- lint --------------------------------------------------------------------------------------


def test_pre_commit_hooks_use_the_pinned_tools_with_makes_arguments():
    cfg = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    pins = dict(d.split("==") for d in _pyproject()["project"]["dependencies"])
    revs = {r["repo"].rsplit("/", 1)[-1]: r["rev"].lstrip("v") for r in cfg["repos"]}
    assert revs == {"ruff-pre-commit": pins["ruff"], "nbQA": pins["nbqa"], "nbstripout": pins["nbstripout"]}
    hooks = {h["id"]: h for r in cfg["repos"] for h in r["hooks"]}
    assert {"ruff-check", "ruff-format", "nbqa-ruff", "nbstripout"} <= set(hooks)
    assert hooks["nbqa-ruff"]["additional_dependencies"] == [f"ruff=={pins['ruff']}"]
    args = hooks["nbstripout"]["args"]
    assert "--keep-output" in args  # nbval needs the stored outputs
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert f"nbstripout {' '.join(args)} --verify" in makefile
    for cmd in ("ruff check .", "ruff format --check .", "nbqa ruff"):
        assert cmd in makefile, cmd


def test_make_test_runs_the_lint_first():
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0].splitlines()
    assert recipe[1].strip() == "@$(MAKE) --no-print-directory lint", recipe[:3]


# --- the PDF edition ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The stated range of the PDF's page count (about 235 pages for 22 chapters and the back matter).
PAGES = (120, 450)


def _toc_docs() -> list[str]:
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    return [c["file"] for p in toc["parts"] for c in p["chapters"]]


def _notebooks() -> list[Path]:
    return [REPO_ROOT / f"{d}.ipynb" for d in _toc_docs() if (REPO_ROOT / f"{d}.ipynb").exists()]


def _title(nb: Path) -> str:
    for cell in nbformat.read(nb, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise AssertionError(f"{nb}: no title")


def _norm(text: str) -> str:
    """Compatibility forms (the PDF's ligatures, e.g. "ﬁ"), plain quotes, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip(
            "Chromium is not installed (`make browser` installs Debian's chromium as root); "
            "the PDF edition is not built or checked"
        )
    from stepsize.book.pdf import build_pdf

    out = tmp_path_factory.mktemp("pdf") / "stepsize-book.pdf"
    # Sphinx warnings are test_build.py's business (a -W build); here only the PDF is judged.
    return build_pdf(out, repo_url="https://github.com/example-org/stepsize-book", strict=False)


@pytest.fixture(scope="module")
def reader(pdf):
    import pypdf

    return pypdf.PdfReader(pdf)


@pytest.fixture(scope="module")
def text(reader):
    return _norm("\n".join(page.extract_text() for page in reader.pages))


@pytest.mark.build
def test_pdf_page_count_is_in_range(reader):
    assert PAGES[0] <= len(reader.pages) <= PAGES[1], len(reader.pages)


@pytest.mark.build
def test_pdf_has_every_chapter_title(text):
    for nb in _notebooks():
        # a title's math (e.g. $M_{WS}$) is typeset, so only its words are looked for
        for words in re.split(r"\$[^$]+\$", _title(nb)):
            assert _norm(words) in text, f"{nb.name}: {words!r} is not in the PDF"
    for title in ("How to cite", "Bibliography", "Step Size Matters: an executable companion"):
        assert title in text


@pytest.mark.build
def test_pdf_has_no_raw_tex(text):
    # TeX may appear only where the code itself has it (a matplotlib label in a code cell is
    # printed as code); every formula of the prose must be typeset.
    code = "\n".join(
        c.source for nb in _notebooks() for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code"
    )
    for raw in ("\\frac", "$$", "\\(", "\\[", "\\begin{"):
        assert text.count(raw) <= code.count(raw), f"raw {raw!r} in the PDF text"


def _image_ids(reader) -> set[int]:
    ids = set()

    def walk(resources):  # a page's or a form's resources: images may sit inside forms
        if resources is None:
            return
        xobjects = resources.get_object().get("/XObject")
        for ref in (xobjects.get_object() if xobjects is not None else {}).values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                ids.add(ref.idnum)
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"))

    for page in reader.pages:
        walk(page.get("/Resources"))
    return ids


@pytest.mark.build
def test_pdf_embeds_every_figure(reader):
    figures = sum(
        1
        for nb in _notebooks()
        for c in nbformat.read(nb, as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if any(k.startswith("image/") for k in o.get("data", {}))
    )
    assert figures > 0
    assert len(_image_ids(reader)) >= figures, f"{len(_image_ids(reader))} images for {figures} figures"


@pytest.mark.build
def test_pdf_cite_page_has_the_books_address(text):
    assert "https://example-org.github.io/stepsize-book/" in text
    assert "@BOOK_URL@" not in text


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: the print step is not checked")
def test_no_pdf_is_written_while_math_is_raw_tex(tmp_path):
    from stepsize.book.pdf import print_to_pdf

    page = tmp_path / "page.html"  # math markup, but no MathJax to typeset it
    page.write_text('<html><head></head><body><p><span class="math">\\(x^2\\)</span></p></body></html>')
    with pytest.raises(RuntimeError, match="math not typeset"):
        print_to_pdf(page, tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()

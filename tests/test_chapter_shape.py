"""Every chapter has the shape a reader learns once.

Static checks on the notebooks' sources and stored outputs, so they run without a browser: one title,
a results box right under it that names every claim the chapter checks, the parameters cell visible
and the rest of the code mostly folded, every figure glued with a name, alt text and caption, a
"Try it yourself" section whose commands the registry accepts, and no reference to files outside the
book. (The browser test checks the same pages as rendered.)
"""

import re
import shlex

import nbformat
import pytest
from stepsize.book import registry as chapters
from stepsize.book.replication import glued_values

CHAPTERS = list(chapters.CHAPTERS.values())
IDS = [c.slug for c in CHAPTERS]
FOLDED = {"hide-input", "remove-input", "remove-cell", "hide-cell"}
#: Unfolded code lines a chapter may show, its parameters cell included (issue: at most 80).
MAX_VISIBLE_CODE = 80


def _nb(ch):
    return nbformat.read(ch.notebook, 4)


def _prose(source: str) -> str:
    """Markdown without its fenced blocks (``` or ~~~ or :::{glue:figure} bodies stay)."""
    return re.sub(r"^(```|~~~).*?^\1", "", source, flags=re.DOTALL | re.MULTILINE)


def visible_code_lines(nb) -> int:
    return sum(
        len(c.source.splitlines())
        for c in nb.cells
        if c.cell_type == "code" and not FOLDED & set(c.metadata.get("tags", []))
    )


def results_box(nb) -> str | None:
    """The results box: an admonition of class ``results`` in the title's cell or the one after it."""
    for c in nb.cells[:2]:
        if c.cell_type == "markdown" and re.search(r":class:[^\n]*\bresults\b", c.source):
            return c.source
    return None


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_one_title_and_a_results_box_naming_every_claim(ch):
    nb = _nb(ch)
    titles = [
        line
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in _prose(c.source).splitlines()
        if re.match(r"# ", line)
    ]
    assert len(titles) == 1, f"{ch.slug}: {len(titles)} '#' titles"
    assert not re.search(r"[$\\]", titles[0]), f"{ch.slug}: TeX in the title {titles[0]!r}"
    box = results_box(nb)
    assert box is not None, (
        f"{ch.slug}: no results box (':::{{admonition}}' with ':class: ... results') under the title"
    )
    values = glued_values(ch.notebook)
    keys = {k[6:-7] for k in values if k.startswith("claim_") and k.endswith("_status")}
    named = set(re.findall(r"`claim_(\w+?)_status(?::s)?`", box))
    assert keys, f"{ch.slug} checks no claim"
    assert named == keys, f"{ch.slug}: the box names {sorted(named)}; the chapter checks {sorted(keys)}"


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_code_is_folded_but_the_parameters(ch):
    nb = _nb(ch)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and not FOLDED & set(params[0].metadata["tags"]), ch.slug
    n = visible_code_lines(nb)
    assert n <= MAX_VISIBLE_CODE, f"{ch.slug} shows {n} lines of code unfolded (at most {MAX_VISIBLE_CODE})"


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_every_figure_is_glued_with_name_alt_and_caption(ch):
    nb = _nb(ch)
    for c in nb.cells:
        if c.cell_type != "code" or {"remove-output", "remove-cell"} & set(c.metadata.get("tags", [])):
            continue
        for o in c.get("outputs", []):
            if "image/png" in o.get("data", {}) and "scrapbook" not in o.get("metadata", {}):
                pytest.fail(
                    f"{ch.slug}: a figure shown as a bare output (no number, caption or alt): "
                    f"{c.source.splitlines()[0][:60]!r}; glue it and show it with {{glue:figure}}"
                )
    figs = [
        m
        for c in nb.cells
        if c.cell_type == "markdown"
        for m in re.finditer(r"```\{glue:figure\}\s*(\S+)\n(.*?)```", c.source, re.DOTALL)
    ]
    assert figs, f"{ch.slug} has no figure"
    for m in figs:
        body = m.group(2)
        assert re.search(r"^:name: \S+", body, re.MULTILINE), f"{ch.slug}: figure {m.group(1)} has no :name:"
        alt = re.search(r"^:alt: (.+)$", body, re.MULTILINE)
        assert alt and len(alt.group(1).split()) >= 6, f"{ch.slug}: figure {m.group(1)} has no real :alt:"
        # an option's value is one line: a continuation line would end the options and start the caption
        options = re.match(r"((?::\w+:[^\n]*\n)*)(.*)", body.lstrip("\n"), re.DOTALL)
        rest = options.group(2)
        assert rest.startswith("\n") or not rest.strip(), (
            f"{ch.slug}: figure {m.group(1)}: a blank line must follow the options (is :alt: on one line?)"
        )
        caption = rest.strip()
        assert len(caption.split()) >= 6, f"{ch.slug}: figure {m.group(1)} has no caption"


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_try_it_yourself_commands_are_accepted(ch):
    nb = _nb(ch)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    m = re.search(r"^## Try it yourself\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert m, f"{ch.slug} has no '## Try it yourself' section"
    commands = re.findall(r"`(python -m stepsize run [^`]+)`", m.group(1))
    assert commands, f"{ch.slug}: 'Try it yourself' gives no `python -m stepsize run ...` command"
    for cmd in commands:
        words = shlex.split(cmd)[4:]
        assert words and words[0] == ch.slug, f"{ch.slug}: {cmd!r} runs another chapter"
        pairs, i = [], 1
        while i < len(words):
            if words[i] == "-p":
                pairs.append((words[i + 1], words[i + 2]))
                i += 3
            else:
                assert words[i] in ("--json",) or words[i].startswith("--"), f"{ch.slug}: {cmd!r}"
                i += 1
        ch.parse(pairs)  # raises ParameterError naming the parameter if the command is wrong


@pytest.mark.parametrize("ch", CHAPTERS, ids=IDS)
def test_no_references_outside_the_book_and_readable_tables(ch):
    nb = _nb(ch)
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        for bad in ("paper-math", "shared/", "the book's notes", "[M]", "[D]", "[U]"):
            assert bad not in c.source, f"{ch.slug}: refers to {bad!r}, which a reader cannot follow"
        for header in re.findall(r"^(\|.*\|)\n\|[-:| ]+\|$", c.source, re.MULTILINE):
            cells = [x.strip() for x in header.strip("|").split("|")]
            assert all(cells), f"{ch.slug}: a table with a blank header cell: {header}"


def test_the_shape_checks_can_fail():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A $x$ title"),
        nbformat.v4.new_code_cell("x = 1\n" * 81, metadata={"tags": ["parameters"]}),
    ]
    assert results_box(nb) is None
    assert visible_code_lines(nb) == 81
    assert re.search(r"[$\\]", "# A $x$ title")

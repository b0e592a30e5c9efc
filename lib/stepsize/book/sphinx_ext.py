"""A small Sphinx extension for the book's build (listed under ``extra_extensions``).

Two fixes for console errors that a reader's browser would otherwise show (the offline browser
test, ``tests/test_browser.py``, fails on any console error):

* pydata-sphinx-theme logs "Got invalid theme mode" on a first visit unless a default colour
  mode is set: the book sets ``default_mode = light`` in the HTML context (kept if set already).
* duplicate scripts, below.

sphinx-thebe 0.3.1 registers its inline configuration script on ``env-before-read-docs``, which
this Jupyter Book/Sphinx stack emits twice; the page then declares ``const THEBE_JS_URL`` twice
and the browser reports "Identifier 'THEBE_JS_URL' has already been declared". This extension
drops exact duplicate script entries from each page (the offline browser test catches a relapse).

Launch buttons (Binder, from ``launch_buttons`` in ``_config.yml``) need the book's public
repository. Its address is not written in the configuration (Jupyter Book would otherwise fall
back to its own repository and every button would open the wrong project): it comes from the
environment variable ``STEPSIZE_REPO_URL`` (``make book REPO_URL=https://github.com/ORG/REPO``).
Without it the launch buttons are left out and the build says so; the download button (.ipynb)
is always there.

The same address gives the book's published location: GitHub Pages serves
``https://github.com/ORG/REPO`` at ``https://ORG.github.io/REPO/`` (GitLab Pages likewise at
``ORG.gitlab.io``). That becomes ``html_baseurl`` (canonical links on every page), unless the
configuration sets one, and fills the ``url`` field of the book's BibTeX entry on the "How to cite"
page (``book/cite.md``; the line is dropped when no address is known).

The PDF edition (``make pdf``, :mod:`stepsize.book.pdf`) is linked from the front page when it has been
built: the HTML build copies it into the site as a download and adds one sentence to the root page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sphinx.util import logging

LOG = logging.getLogger(__name__)

#: The environment variable holding the book's public repository, e.g. https://github.com/ORG/REPO.
REPO_ENV = "STEPSIZE_REPO_URL"
_REPO_RE = re.compile(r"https://(github\.com|gitlab\.com)/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _key(js) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    return (
        str(getattr(js, "filename", js) or ""),
        getattr(js, "priority", 0),
        tuple(sorted((k, str(v)) for k, v in attrs.items())),
    )


def _dedupe(items: list) -> None:
    seen, unique = set(), []
    for js in items:
        k = _key(js)
        if k not in seen:
            seen.add(k)
            unique.append(js)
    items[:] = unique


def _dedupe_page_scripts(app, pagename, templatename, context, doctree) -> None:
    files = context.get("script_files")
    if isinstance(files, list):
        _dedupe(files)


def _default_mode(app, config) -> None:
    ctx = dict(config.html_context or {})
    ctx.setdefault("default_mode", "light")
    config.html_context = ctx


def configure_launch(theme_options: dict, repo_url: str | None) -> dict:
    """Theme options with launch and repository buttons for ``repo_url``, or without launch buttons.

    ``repo_url`` must be ``https://github.com/ORG/REPO`` or ``https://gitlab.com/ORG/REPO``
    (what Binder's links are built from); anything else raises ValueError naming the variable.
    """
    opts = dict(theme_options)
    if repo_url:
        url = repo_url.strip().rstrip("/").removesuffix(".git")
        if not _REPO_RE.fullmatch(url):
            raise ValueError(f"{REPO_ENV} must look like https://github.com/ORG/REPO (or gitlab.com); got {repo_url!r}")
        opts["repository_url"] = url
        opts["use_repository_button"] = True
    else:
        opts.pop("launch_buttons", None)
        opts.pop("repository_url", None)  # Jupyter Book's default points at its own repository
        opts["use_repository_button"] = False
    return opts


def pages_url(repo_url: str | None) -> str:
    """The GitHub/GitLab Pages address of ``repo_url`` (``https://ORG.github.io/REPO/``), or "".

    ``https://github.com/ORG/ORG.github.io`` is served at the root, ``https://ORG.github.io/``.
    A malformed address raises ValueError, as in :func:`configure_launch`.
    """
    if not repo_url:
        return ""
    url = repo_url.strip().rstrip("/").removesuffix(".git")
    if not _REPO_RE.fullmatch(url):
        raise ValueError(f"{REPO_ENV} must look like https://github.com/ORG/REPO (or gitlab.com); got {repo_url!r}")
    host, org, repo = url.removeprefix("https://").split("/")
    pages = f"{org.lower()}.{host.split('.')[0]}.io"
    return f"https://{pages}/" if repo.lower() == pages else f"https://{pages}/{repo}/"


def _launch(app, config) -> None:
    url = os.environ.get(REPO_ENV, "")
    config.html_theme_options = configure_launch(config.html_theme_options or {}, url)
    if url and not config.html_baseurl:
        config.html_baseurl = pages_url(url)
    if not url:
        LOG.info(f"stepsize: no launch buttons (set {REPO_ENV} to the book's public repository)")


#: The page that gives the book's BibTeX entry, and the placeholder for its address.
CITE_DOC = "book/cite"
URL_PLACEHOLDER = "@BOOK_URL@"
#: Where ``make pdf`` writes the PDF edition (relative to the book's root); STEPSIZE_PDF overrides.
PDF_ENV = "STEPSIZE_PDF"
PDF_DEFAULT = Path("_build") / "pdf" / "stepsize-book.pdf"
#: The line of the root page that becomes the link to the PDF edition (a MyST comment otherwise).
PDF_MARKER = "% pdf-edition"


def fill_book_url(source: str, baseurl: str) -> str:
    """Put ``baseurl`` where the cite page has :data:`URL_PLACEHOLDER`; drop those lines if "" ."""
    if baseurl:
        return source.replace(URL_PLACEHOLDER, baseurl)
    return "\n".join(line for line in source.split("\n") if URL_PLACEHOLDER not in line)


def pdf_link(source: str, pdf: Path | None, docdir: Path) -> str:
    """Replace the :data:`PDF_MARKER` line by a download link to ``pdf`` (relative to ``docdir``).

    Without a built PDF (``pdf`` None or missing) the source is returned unchanged: the marker is
    a MyST comment and shows nothing.
    """
    if pdf is None or not Path(pdf).is_file():
        return source
    rel = os.path.relpath(Path(pdf).resolve(), Path(docdir).resolve()).replace(os.sep, "/")
    size = Path(pdf).stat().st_size / 2**20
    # a Markdown link to a file that is not a page becomes a download (copied into the site)
    link = f"The whole book is also available as one printable document: [the PDF edition]({rel}) ({size:.0f} MB)."
    return source.replace(PDF_MARKER, link)


def _pdf_path(app) -> Path:
    return Path(os.environ.get(PDF_ENV) or Path(app.srcdir) / PDF_DEFAULT)


def _source_read(app, docname, source) -> None:
    if docname == CITE_DOC:
        source[0] = fill_book_url(source[0], app.config.html_baseurl or "")
    if docname == app.config.root_doc:
        pdf = _pdf_path(app) if app.builder.name == "html" else None
        docdir = (Path(app.srcdir) / docname).parent
        source[0] = pdf_link(source[0], pdf, docdir)


def _always_reread_root(app, env, added, changed, removed) -> list:
    # Whether the PDF link appears depends on a file outside the sources: re-read the root page
    # (and the cite page, whose address comes from the environment) on every build.
    return [d for d in (app.config.root_doc, CITE_DOC) if d in env.found_docs]


def setup(app):
    # MathJax on every page, not only on pages with a math node: the sidebar and the page titles
    # are shared by all pages, and the scorecard's claims are math written inside glued text.
    app.set_html_assets_policy("always")
    app.connect("config-inited", _launch)
    app.connect("config-inited", _default_mode)
    app.connect("html-page-context", _dedupe_page_scripts, priority=900)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _always_reread_root)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

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
"""

from __future__ import annotations

import os
import re

from sphinx.util import logging

LOG = logging.getLogger(__name__)

#: The environment variable holding the book's public repository, e.g. https://github.com/ORG/REPO.
REPO_ENV = "STEPSIZE_REPO_URL"
_REPO_RE = re.compile(r"https://(github\.com|gitlab\.com)/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _key(js) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    return (str(getattr(js, "filename", js) or ""), getattr(js, "priority", 0),
            tuple(sorted((k, str(v)) for k, v in attrs.items())))


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
            raise ValueError(f"{REPO_ENV} must look like https://github.com/ORG/REPO "
                             f"(or gitlab.com); got {repo_url!r}")
        opts["repository_url"] = url
        opts["use_repository_button"] = True
    else:
        opts.pop("launch_buttons", None)
        opts.pop("repository_url", None)  # Jupyter Book's default points at its own repository
        opts["use_repository_button"] = False
    return opts


def _launch(app, config) -> None:
    url = os.environ.get(REPO_ENV, "")
    config.html_theme_options = configure_launch(config.html_theme_options or {}, url)
    if not url:
        LOG.info(f"stepsize: no launch buttons (set {REPO_ENV} to the book's public repository)")


def setup(app):
    app.connect("config-inited", _launch)
    app.connect("config-inited", _default_mode)
    app.connect("html-page-context", _dedupe_page_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

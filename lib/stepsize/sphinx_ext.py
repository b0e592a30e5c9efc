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
"""

from __future__ import annotations


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


def setup(app):
    app.connect("config-inited", _default_mode)
    app.connect("html-page-context", _dedupe_page_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

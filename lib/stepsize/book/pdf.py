"""The PDF edition: the whole book as one printable document (``make pdf``).

Two steps, with the tools the book already uses:

1. Sphinx's single-page HTML builder (``jupyter-book build --builder singlehtml``) renders every
   chapter, in table-of-contents order, into one ``index.html``, from the notebooks' stored outputs
   (execution off: nbval checks that those equal a fresh run). Math is left to MathJax, served
   from the build (``_vendor/``), as in the HTML book.
2. Headless Chromium (Debian's ``chromium``) opens that page from a server on 127.0.0.1 and prints
   it to PDF through the DevTools protocol (over a pipe, no network port). It prints only once a
   script in the page reports that the page has loaded, every image has decoded, MathJax's
   ``startup.promise`` has resolved (the first typesetting pass is complete) and the fonts are ready;
   nothing waits on the clock. If some formula is still raw TeX, or an image failed to load, no
   PDF is written and the error says what is missing.

Run ``python -m stepsize.book.pdf [--out FILE]``; it prints the PDF's path.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .registry import REPO_ROOT

#: Where ``make pdf`` writes the PDF edition (the HTML build links it from the front page).
DEFAULT_PDF = REPO_ROOT / "_build" / "pdf" / "stepsize-book.pdf"

#: Awaited in the page before printing: resolves with what was found, once everything is rendered.
READY_JS = r"""
(async () => {
  if (document.readyState !== 'complete') {
    await new Promise(r => window.addEventListener('load', r, {once: true}));
  }
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  const math = Array.from(document.querySelectorAll('.math'));
  const raw = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
  return {
    math: math.length,
    typeset: document.querySelectorAll('mjx-container').length,
    raw: raw,
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  };
})()
"""

#: Extra print styles: no navigation chrome, no buttons; code and outputs kept, figures not split.
PRINT_CSS = """
@media print {
  .bd-header, .bd-header-article, .header-article, .bd-sidebar-primary, .bd-sidebar-secondary,
  .prev-next-area, .bd-footer-article, .bd-footer, .footer, .article-header-buttons,
  .headerlink, .toggle-secondary-sidebar, .sidebar-toggle, .search-button,
  .theme-switch-button, .bd-toc, #jb-print-toc, .copybtn, .tag_remove-input .cell_input {
    display: none !important;
  }
  .bd-main .bd-content { margin-left: 0 !important; }
  .bd-main .bd-content .bd-article-container { max-width: 100% !important; }
  img { max-width: 100% !important; break-inside: avoid; }
  .cell_input, .cell_output, figure { break-inside: avoid; }
  pre { white-space: pre-wrap !important; word-break: break-word; }
  /* every chapter on a new page; a page for each part's title */
  span[id^="document-"] + section > h2 { break-before: page; }
  .bd-main .bd-content .bd-article h1.stepsize-part {
    display: block !important; break-before: page;
    margin-top: 35vh; text-align: center; font-size: 2.2em;
  }
  #jb-print-docs-body p.stepsize-byline { text-align: center; font-size: 1.2em; margin-top: 1em; }
}
"""

FOOTER = (
    '<div style="font-size:8px; width:100%; text-align:center; color:#555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


def chromium() -> str | None:
    """The Chromium executable (Debian's ``chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def build_singlehtml(workdir: Path, repo_url: str = "", strict: bool = True) -> Path:
    """Build the book into ``workdir/_build/singlehtml`` from the stored outputs; the page to print.

    The configuration is ``_config.yml`` with execution off. ``repo_url`` (the book's public
    repository) fills the cite page's address, as in the HTML build. ``strict`` (the default, as
    in ``make book``) makes every Sphinx warning an error: a missing glued value never reaches print.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = (REPO_ROOT / "_config.yml").read_text()
    config, n = re.subn(r"execute_notebooks: \w+", 'execute_notebooks: "off"', config)
    if n != 1:
        raise RuntimeError("_config.yml: no execute_notebooks line to switch off")
    (workdir / "_config.yml").write_text(config)
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "STEPSIZE_REPO_URL": repo_url}
    r = subprocess.run(
        [
            str(jb),
            "build",
            str(REPO_ROOT),
            "--builder",
            "singlehtml",
            "--config",
            str(workdir / "_config.yml"),
            "--path-output",
            str(workdir),
            "--all",  # a fresh environment: every page is read, so every warning is seen again
            *(["-W"] if strict else []),
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    index = workdir / "_build" / "singlehtml" / "index.html"
    if r.returncode != 0 or not index.is_file():
        log = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
        problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        shown = "\n".join(problems[:15]) or log[-3000:]
        more = f"\n... and {len(problems) - 15} more" if len(problems) > 15 else ""
        raise RuntimeError(f"the single-page build failed ({len(problems)} warnings or errors):\n{shown}{more}")
    # Jupyter Book writes index.html as a redirect to the root page (book/intro.html), whose links
    # are relative to the build's root (_static/, _images/): print a copy of it at the root.
    redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index.read_text())
    page = index.parent / redirect.group(1) if redirect else index
    html = page.read_text()
    html = html.replace("</head>", f'<style id="stepsize-print-css">{PRINT_CSS}</style></head>', 1)
    html = _add_parts(html)
    html = _add_byline(html)
    out = index.parent / "stepsize-book.html"
    out.write_text(html)
    return out


def _toc_parts() -> list[tuple[str, str]]:
    """(caption, first file) of each part of ``_toc.yml``."""
    import yaml

    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    return [(p["caption"], p["chapters"][0]["file"]) for p in toc.get("parts", []) if p.get("chapters")]


def _add_parts(html: str) -> str:
    """A title page for each part of the table of contents, before its first chapter."""
    from html import escape

    for caption, first in _toc_parts():
        anchor = f'<span id="document-{first}"></span>'
        html = html.replace(anchor, f'<h1 class="stepsize-part">{escape(caption)}</h1>' + anchor, 1)
    return html


def _add_byline(html: str) -> str:
    """The author under the title of the first page (from ``_config.yml``)."""
    from html import escape

    import yaml

    author = yaml.safe_load((REPO_ROOT / "_config.yml").read_text()).get("author", "")
    m = re.search(r'(<div id="jb-print-docs-body"[^>]*>\s*<h1>.*?</h1>)', html, re.DOTALL)
    if not m or not author:
        return html
    return html.replace(m.group(1), m.group(1) + f'<p class="stepsize-byline">{escape(author)}</p>', 1)


class _Pipe:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ended by NUL)."""

    def __init__(self, browser: str, profile: Path):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4: move the pipe ends there.
        a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",  # containers (CI) have a small /dev/shm
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self._log = profile / "chromium.log"  # Chromium's own messages, quoted if it dies
        log = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec 3<&{a} 4>&{b} {a}<&- {b}>&-; exec "$0" "$@"', browser, *args],
            pass_fds=(a, b),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        os.close(log)
        os.close(a)
        os.close(b)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._r], [], [], min(left, 5.0))
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    err = self._log.read_text(errors="replace") if self._log.exists() else ""
                    raise RuntimeError(f"Chromium closed the DevTools pipe: {err[-2000:]}")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 600.0) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._w, data) :]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 600.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            ev = self._read(deadline)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):  # it may be gone already
            self.call("Browser.close", timeout=30)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


def print_to_pdf(index: Path, out: Path, browser: str | None = None, timeout: float = 900.0) -> dict:
    """Print ``index`` (served with its folder from 127.0.0.1) to ``out``; what the page reported.

    Raises RuntimeError, and writes nothing, if math stayed untypeset or an image did not load.
    ``timeout`` only guards against a hung browser; the print waits on the page's own state.
    """
    browser = browser or chromium()
    if browser is None:
        raise RuntimeError("Chromium is not installed (`make browser` installs Debian's chromium as root)")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = index.parent
    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with tempfile.TemporaryDirectory() as profile:
        pipe = _Pipe(browser, Path(profile))  # started before the server thread
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            pipe.call("Page.enable", session=session)
            url = f"http://127.0.0.1:{httpd.server_address[1]}/{index.relative_to(root).as_posix()}"
            nav = pipe.call("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                raise RuntimeError(f"could not open {url}: {nav['errorText']}")
            pipe.wait_event("Page.loadEventFired", session, timeout=timeout)
            res = pipe.call(
                "Runtime.evaluate",
                {"expression": READY_JS, "awaitPromise": True, "returnByValue": True},
                session=session,
                timeout=timeout,
            )
            if "exceptionDetails" in res:
                raise RuntimeError(f"the readiness script failed: {res['exceptionDetails']}")
            found = res["result"]["value"]
            if found["raw"] or found["typeset"] == 0:
                raise RuntimeError(f"math not typeset ({found['typeset']} of {found['math']}): {found['raw'][:5]}")
            if found["broken"]:
                raise RuntimeError(f"images did not load: {found['broken'][:5]}")
            pdf = pipe.call(
                "Page.printToPDF",
                {
                    "printBackground": True,
                    "scale": 0.9,
                    "paperWidth": 8.27,
                    "paperHeight": 11.69,  # A4, inches
                    "marginTop": 0.6,
                    "marginBottom": 0.7,
                    "marginLeft": 0.6,
                    "marginRight": 0.6,
                    "displayHeaderFooter": True,
                    "headerTemplate": "<span></span>",
                    "footerTemplate": FOOTER,
                    "generateDocumentOutline": True,
                    "generateTaggedPDF": True,
                },
                session=session,
                timeout=timeout,
            )
        finally:
            pipe.close()
            httpd.shutdown()
            httpd.server_close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".pdf.part")
    tmp.write_bytes(base64.b64decode(pdf["data"]))
    tmp.replace(out)
    return found


def build_pdf(out: Path = DEFAULT_PDF, repo_url: str = "", strict: bool = True) -> Path:
    """The whole book as one PDF at ``out`` (single-page HTML build, then Chromium's print)."""
    index = build_singlehtml(out.parent / "src", repo_url, strict)
    print_to_pdf(index, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stepsize.book.pdf", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_PDF, help=f"the PDF to write (default {DEFAULT_PDF})")
    ap.add_argument(
        "--allow-warnings", action="store_true", help="build even if Sphinx warns (for drafts; `make pdf` is strict)"
    )
    args = ap.parse_args(argv)
    try:
        out = build_pdf(args.out.resolve(), os.environ.get("STEPSIZE_REPO_URL", ""), not args.allow_warnings)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"The PDF edition is at {out} ({out.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

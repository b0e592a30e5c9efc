"""The built book read in a real browser with no network: math typeset, figures loaded, no errors.

Headless Chromium (Debian's ``chromium``; `make test` installs it where the user is root) loads
every chapter page from a server on 127.0.0.1. A probe script, inserted at the top of each page
of the temporary build, records errors from the start and, once MathJax has finished, writes
what it found into the DOM, which ``--dump-dom`` returns.
"""

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading

import pytest

from stepsize import chapters

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (`apt-get install chromium` as root); "
                       "the offline browser check is skipped"),
]

PROBE = r"""<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  __errs.push(e.message || ('failed to load ' + (t.src || t.href || t.tagName)));
}, true);
(function () { var ce = console.error; console.error = function () {
  __errs.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
window.addEventListener('load', function () {
  function report() {
    var math = Array.prototype.slice.call(document.querySelectorAll('.math'));
    var raw = math.filter(function (m) { return !m.querySelector('mjx-container'); })
                  .map(function (m) { return m.textContent.slice(0, 60); });
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var n; while ((n = walker.nextNode())) {
      if (n.parentElement.closest('pre, code, script, style, .highlight')) continue;
      if (/\\\(|\\\[|\$\$/.test(n.textContent)) raw.push(n.textContent.slice(0, 60));
    }
    var imgs = Array.prototype.slice.call(document.images);
    var out = {typeset: document.querySelectorAll('mjx-container').length, math: math.length, raw: raw,
               images: imgs.length,
               broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                           .map(function (i) { return i.src; }),
               errors: __errs};
    var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  // wait until MathJax has typeset every math element (or 10 s of page time), then report
  var t0 = Date.now();
  var iv = setInterval(function () {
    var pending = document.querySelectorAll('.math').length - document.querySelectorAll('.math mjx-container').length;
    if (pending <= 0 || Date.now() - t0 > 10000) { clearInterval(iv); report(); }
  }, 100);
});
</script>"""


@pytest.fixture(scope="module")
def server(built):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _chromium(url, tmp_path, *extra):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_mathjax_is_served_from_the_build(built):
    assert (built / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js").is_file()
    html = (built / "book/nar-sastry/example1.html").read_text()
    assert "_static/mathjax/es5/tex-mml-chtml.js" in html
    assert "cdn.jsdelivr.net" not in html and "mathjax@3" not in html


@pytest.mark.parametrize("ch", list(chapters.CHAPTERS.values()), ids=list(chapters.CHAPTERS))
def test_chapter_renders_offline(ch, built, server, tmp_path):
    page = built / ch.path.replace(".ipynb", ".html")
    html = page.read_text()
    if "__probe" not in html:
        page.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    r = _chromium(f"{server}/{ch.path.replace('.ipynb', '.html')}", tmp_path, "--dump-dom")
    m = re.search(r'<pre id="__probe">(.*?)</pre>', r.stdout, re.S)
    assert m, f"the probe did not report: {r.stderr[-1500:]}"
    found = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert found["math"] > 0 and found["typeset"] > 0, found
    assert found["raw"] == [], f"untypeset math: {found['raw']}"
    assert found["images"] > 0 and found["broken"] == [], found
    assert found["errors"] == [], found["errors"]

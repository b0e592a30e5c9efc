"""The built book read in a real browser with no network: math typeset, figures loaded, no errors.

Headless Chromium (Debian's ``chromium``), driven through Selenium by Debian's ``chromedriver``
(`make test` installs both where the user is root), loads every chapter page from a server on
127.0.0.1. A probe script, inserted at the top of each page of the temporary build, records
errors from the start and, once the page has loaded and MathJax has finished typesetting
(``MathJax.startup.promise``), writes what it found into an element ``#__probe``. The test waits
for that element: it waits on the page's own state, not on a clock, so a slow or busy machine
only makes it slower (the wait's limit, :data:`PAGE_TIMEOUT`, only bounds a page that never
reports).

Each page is then measured as a reader meets it, at 1280 px and at 390 px (a phone): no raw TeX
anywhere (title, sidebar, text), no sideways scrolling of the page, every image with alt text that
says something (not a file name), every figure numbered and captioned, the chapter's results box
showing the verdicts its claim checks stored, and at most :data:`MAX_VISIBLE_CODE` lines of code
left unfolded. Measurements read the laid-out page; none depends on a clock.
"""

import functools
import http.server
import json
import re
import shutil
import threading

import pytest
from stepsize.book import registry as chapters
from stepsize.book.replication import glued_values
from stepsize.verdicts import VERDICTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium
except ImportError:  # pragma: no cover - pinned in pyproject.toml
    selenium = None
pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Chromium or chromedriver is not installed (`apt-get install chromium "
        "chromium-driver` as root); the offline browser check is skipped",
    ),
    pytest.mark.skipif(selenium is None, reason="selenium is not installed (`make env`)"),
]

#: Seconds a page may take to report before the test gives up on it (a bound, not a race:
#: the probe reports as soon as the page is done, however long that takes below this).
PAGE_TIMEOUT = 300
#: Lines of code a chapter may show unfolded, its parameters cell included.
MAX_VISIBLE_CODE = 80
#: The two widths every page is read at: a laptop and a phone.
WIDTHS = (1280, 390)
#: Pages that are not chapters, read with the same eyes (no results box or figures required).
BACK_MATTER = ("book/intro", "book/scorecard", "book/sources", "book/notation", "book/references", "book/cite")

PROBE = r"""<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  __errs.push(e.message || ('failed to load ' + (t.src || t.href || t.tagName)));
}, true);
(function () { var ce = console.error; console.error = function () {
  __errs.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
// TeX left as text: \( \[ $$, a $...$ pair, or a backslash command such as \frac or \eta.
var RAW_TEX = /\\\(|\\\[|\$\$|\$[^$\s][^$]*\$|\\[a-zA-Z]{2,}/;
window.addEventListener('load', function () {
  function report(note) {
    var math = Array.prototype.slice.call(document.querySelectorAll('.math'));
    var raw = math.filter(function (m) { return !m.querySelector('mjx-container'); })
                  .map(function (m) { return m.textContent.slice(0, 60); });
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var n; while ((n = walker.nextNode())) {
      if (n.parentElement.closest('pre, code, script, style, .highlight, mjx-container, textarea')) continue;
      if (RAW_TEX.test(n.textContent)) raw.push(n.textContent.slice(0, 60));
    }
    if (RAW_TEX.test(document.title)) raw.push('title: ' + document.title);
    var imgs = Array.prototype.slice.call(document.images);
    var out = {typeset: document.querySelectorAll('mjx-container').length, math: math.length, raw: raw,
               images: imgs.length,
               broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                           .map(function (i) { return i.src; }),
               errors: __errs, note: note || ''};
    var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  // 'load' fires after every script (MathJax's too) has run and every image has loaded; then
  // MathJax's own promise says when its typesetting is done. No clock is involved.
  var mj = window.MathJax;
  if (!mj || !mj.startup || !mj.startup.promise) { report('MathJax did not start'); return; }
  mj.startup.promise.then(function () { report(''); },
                          function (err) { __errs.push('MathJax: ' + err); report('MathJax failed'); });
});
</script>"""


#: Run in the laid-out page (``driver.execute_script``): what a reader sees at the current width.
MEASURE = r"""
var root = document.documentElement, cw = root.clientWidth;
var overflow = Math.max(root.scrollWidth, document.body.scrollWidth) - cw;
var wide = [];
if (overflow > 1) {
  var all = document.body.querySelectorAll('*');
  for (var i = 0; i < all.length && wide.length < 5; i++) {
    var el = all[i], r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= cw + 1) continue;
    var clipped = false;  // inside a box that scrolls or clips, or fixed (not part of the page's width)
    for (var a = el; a && a !== document.body; a = a.parentElement) {
      var st = getComputedStyle(a), ox = st.overflowX;
      if (st.position === 'fixed') { clipped = true; break; }
      if (a === el) continue;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') { clipped = true; break; }
    }
    if (!clipped) wide.push(el.tagName.toLowerCase() + '.' + (el.className && el.className.baseVal === undefined
                             ? String(el.className).split(' ').slice(0, 2).join('.') : '') +
                            ' (' + Math.round(r.right) + ' px)');
  }
}
var article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;  // the page's text, not the header's buttons
// Cut off: math, images, tables or code reaching past an ancestor that hides its overflow (a box that
// scrolls is fine: the reader can scroll it).
var cut = [];
article.querySelectorAll('mjx-container, img, table, pre').forEach(function (el) {
  if (cut.length >= 5) return;
  var r = el.getBoundingClientRect();
  if (r.width === 0) return;
  for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    var ox = getComputedStyle(a).overflowX;
    if (ox === 'auto' || ox === 'scroll') return;
    if (ox === 'hidden' || ox === 'clip') {
      if (r.right > a.getBoundingClientRect().right + 1 || r.left < a.getBoundingClientRect().left - 1)
        cut.push(el.tagName.toLowerCase() + ': ' + (el.textContent || el.getAttribute('alt') || '').slice(0, 50));
      return;
    }
  }
});
var imgs = Array.prototype.slice.call(article.querySelectorAll('img'));
var badAlt = imgs.filter(function (i) {
  var alt = (i.getAttribute('alt') || '').trim();
  return alt.length < 12 || /\.(png|svg|jpe?g|gif)$/i.test(alt) || /[\/]/.test(alt) && !/ /.test(alt);
}).map(function (i) { return (i.getAttribute('alt') || '(none)').slice(0, 60); });
var uncaptioned = imgs.filter(function (i) {
  var f = i.closest('figure');
  return !f || !f.querySelector('figcaption .caption-number');
}).map(function (i) { return (i.getAttribute('alt') || i.src).slice(0, 60); });
var box = article.querySelector('.admonition.results');
var verdicts = box ? Array.prototype.slice.call(box.querySelectorAll('.pasted-text, .pasted-inline'))
  .map(function (e) { return e.textContent.trim(); })
  .filter(function (t) { return VERDICTS.indexOf(t) >= 0; }) : null;
var code = 0;
article.querySelectorAll('.cell_input').forEach(function (c) {
  if (c.closest('details:not([open])') || c.closest('.tag_remove-input')) return;
  var pre = c.querySelector('pre');
  if (pre) code += pre.textContent.replace(/\n+$/, '').split('\n').length;
});
return {overflow: overflow, wide: wide, cut: cut, bad_alt: badAlt, uncaptioned: uncaptioned, images: imgs.length,
        verdicts: verdicts, visible_code: code};
"""


def _measure(driver, width):
    """Resize the window to ``width`` px and measure the laid-out page (see :data:`MEASURE`)."""
    driver.set_window_size(width, 900)
    if driver.execute_script("return window.innerWidth;") != width:  # the window manager refused
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
        )
    return driver.execute_script(f"var VERDICTS = {json.dumps(list(VERDICTS))};" + MEASURE)


def expected_box_verdicts(notebook) -> tuple[list[str], set[str], set[str]]:
    """From a chapter notebook: the stored verdicts its results box refers to, in order; the claim keys
    the box names; and every claim key the chapter glued."""
    import nbformat

    nb = nbformat.read(notebook, 4)
    values = glued_values(notebook)
    keys = {k[len("claim_") : -len("_status")] for k in values if k.startswith("claim_") and k.endswith("_status")}
    box = next(
        (c.source for c in nb.cells if c.cell_type == "markdown" and re.search(r":class:[^\n]*\bresults\b", c.source)),
        "",
    )
    named = re.findall(r"`claim_(\w+?)_status(?::s)?`", box)
    return [values.get(f"claim_{k}_status") for k in named], set(named), keys


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


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for every page, driven by chromedriver (no network, no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--window-size=1280,4000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    yield driver
    driver.quit()


def _probe(driver, url):
    """Load ``url`` and wait until its probe has reported; return what it found."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)  # returns once the page's 'load' event has fired
    if not driver.execute_script("return Array.isArray(window.__errs);"):
        pytest.fail(f"the probe script did not run on {url} (a JavaScript error in it?)")
    try:
        el = WebDriverWait(driver, PAGE_TIMEOUT, poll_frequency=0.2).until(
            EC.presence_of_element_located((By.ID, "__probe"))
        )
    except TimeoutException:
        pytest.fail(f"the probe did not report within {PAGE_TIMEOUT} s on {url}")
    return json.loads(el.get_attribute("textContent"))


def test_mathjax_is_served_from_the_build(built):
    assert (built / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js").is_file()
    html = (built / "book/nar-sastry/example1.html").read_text()
    assert "_static/mathjax/es5/tex-mml-chtml.js" in html
    assert "cdn.jsdelivr.net" not in html and "mathjax@3" not in html


def _load(built, server, browser, path):
    page = built / f"{path}.html"
    html = page.read_text()
    if "__probe" not in html:
        page.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    browser.set_window_size(WIDTHS[0], 4000)
    return _probe(browser, f"{server}/{path}.html")


def _check_reading(found, measured, where):
    assert found["note"] == "", (where, found)
    assert found["raw"] == [], f"{where}: raw TeX: {found['raw']}"
    assert found["broken"] == [], (where, found["broken"])
    assert found["errors"] == [], (where, found["errors"])
    for width, m in measured.items():
        assert m["overflow"] <= 1, (
            f"{where} at {width} px scrolls sideways by {m['overflow']} px; too wide: {m['wide']}"
        )
        assert m["bad_alt"] == [], f"{where}: images without a real alt text: {m['bad_alt']}"
        assert m["cut"] == [], f"{where} at {width} px cuts off: {m['cut']}"


@pytest.mark.parametrize("ch", list(chapters.CHAPTERS.values()), ids=list(chapters.CHAPTERS))
def test_chapter_reads_offline(ch, built, server, browser):
    """A chapter at 1280 and 390 px: typeset, no raw TeX, no sideways page, real alt texts, every
    figure numbered and captioned, its results box agreeing with its stored verdicts, code folded."""
    path = ch.path.removesuffix(".ipynb")
    found = _load(built, server, browser, path)
    measured = {w: _measure(browser, w) for w in WIDTHS}
    _check_reading(found, measured, ch.slug)
    assert found["math"] > 0 and found["typeset"] > 0, found
    assert found["images"] > 0, found
    m = measured[WIDTHS[0]]
    assert m["uncaptioned"] == [], f"{ch.slug}: figures without a number and caption: {m['uncaptioned']}"
    assert m["visible_code"] <= MAX_VISIBLE_CODE, (
        f"{ch.slug} shows {m['visible_code']} lines of code unfolded (at most {MAX_VISIBLE_CODE})"
    )
    expected, named, keys = expected_box_verdicts(ch.notebook)
    assert m["verdicts"] is not None, f"{ch.slug} has no results box (an admonition with class 'results')"
    assert named == keys, f"{ch.slug}: the results box names claims {sorted(named)}, the chapter checks {sorted(keys)}"
    assert m["verdicts"] == expected, (
        f"{ch.slug}: the results box shows {m['verdicts']}, the stored claim checks say {expected}"
    )


@pytest.mark.parametrize("path", BACK_MATTER)
def test_back_matter_reads_offline(path, built, server, browser):
    found = _load(built, server, browser, path)
    measured = {w: _measure(browser, w) for w in WIDTHS}
    _check_reading(found, measured, path)


def test_the_measures_can_fail(built, server, browser, tmp_path):
    """A page made wrong on purpose (a wide unscrollable line, an image without alt, raw TeX, an
    uncaptioned image, unfolded code) is caught by each measure."""
    bad = built / "book" / "__bad.html"
    src = (built / "book" / "notation.html").read_text()
    img = next((built / "_images").glob("*.png"))
    junk = (
        '<div style="width:2000px;white-space:nowrap">wide</div>'
        f'<img src="../_images/{img.name}" alt="{img.name}">'
        "<p>raw $x_1$ and \\frac{1}{2}</p>"
        '<div style="overflow:hidden;width:50px">'
        f'<img src="../_images/{img.name}" style="width:300px;max-width:none" '
        'alt="an image wider than the box that hides its overflow"></div>'
        '<div class="cell_input"><pre>' + "x = 1\n" * 90 + "</pre></div>"
    )
    assert "</article>" in src
    bad.write_text(src.replace("</article>", junk + "</article>", 1))
    found = _load(built, server, browser, "book/__bad")
    m = _measure(browser, 390)
    assert found["raw"], found
    assert m["overflow"] > 1 and m["wide"], m
    assert m["bad_alt"] and m["uncaptioned"], m
    assert m["cut"], m
    assert m["visible_code"] >= 90, m
    assert m["verdicts"] is None

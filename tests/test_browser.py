"""The built book read in a real browser with no network: math typeset, figures loaded, no errors.

Headless Chromium (Debian's ``chromium``), driven through Selenium by Debian's ``chromedriver``
(`make test` installs both where the user is root), loads every chapter page from a server on
127.0.0.1. A probe script, inserted at the top of each page of the temporary build, records
errors from the start and, once the page has loaded and MathJax has finished typesetting
(``MathJax.startup.promise``), writes what it found into an element ``#__probe``. The test waits
for that element: it waits on the page's own state, not on a clock, so a slow or busy machine
only makes it slower (the wait's limit, :data:`PAGE_TIMEOUT`, only bounds a page that never
reports).
"""

import functools
import http.server
import json
import shutil
import threading

import pytest
from stepsize.book import registry as chapters

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium
except ImportError:  # pragma: no cover - pinned in pyproject.toml
    selenium = None
pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="Chromium or chromedriver is not installed (`apt-get install chromium "
                              "chromium-driver` as root); the offline browser check is skipped"),
    pytest.mark.skipif(selenium is None, reason="selenium is not installed (`make env`)"),
]

#: Seconds a page may take to report before the test gives up on it (a bound, not a race:
#: the probe reports as soon as the page is done, however long that takes below this).
PAGE_TIMEOUT = 300

PROBE = r"""<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  __errs.push(e.message || ('failed to load ' + (t.src || t.href || t.tagName)));
}, true);
(function () { var ce = console.error; console.error = function () {
  __errs.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
window.addEventListener('load', function () {
  function report(note) {
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
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1280,4000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
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
            EC.presence_of_element_located((By.ID, "__probe")))
    except TimeoutException:
        pytest.fail(f"the probe did not report within {PAGE_TIMEOUT} s on {url}")
    return json.loads(el.get_attribute("textContent"))


def test_mathjax_is_served_from_the_build(built):
    assert (built / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js").is_file()
    html = (built / "book/nar-sastry/example1.html").read_text()
    assert "_static/mathjax/es5/tex-mml-chtml.js" in html
    assert "cdn.jsdelivr.net" not in html and "mathjax@3" not in html


@pytest.mark.parametrize("ch", list(chapters.CHAPTERS.values()), ids=list(chapters.CHAPTERS))
def test_chapter_renders_offline(ch, built, server, browser):
    page = built / ch.path.replace(".ipynb", ".html")
    html = page.read_text()
    if "__probe" not in html:
        page.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    found = _probe(browser, f"{server}/{ch.path.replace('.ipynb', '.html')}")
    assert found["note"] == "", found
    assert found["math"] > 0 and found["typeset"] > 0, found
    assert found["raw"] == [], f"untypeset math: {found['raw']}"
    assert found["images"] > 0 and found["broken"] == [], found
    assert found["errors"] == [], found["errors"]

"""The book builds with Sphinx warnings as errors, from the stored outputs (checked by nbval)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stepsize import chapters
from stepsize.chapters import REPO_ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    config = (REPO_ROOT / "_config.yml").read_text()
    config, n = re.subn(r"execute_notebooks: \w+", 'execute_notebooks: "off"', config)
    assert n == 1
    (tmp / "_config.yml").write_text(config)
    jb = Path(sys.executable).with_name("jupyter-book")
    r = subprocess.run([str(jb), "build", str(REPO_ROOT), "--config", str(tmp / "_config.yml"),
                        "--path-output", str(tmp), "-W", "-n", "--keep-going"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return tmp / "_build" / "html"


@pytest.mark.build
def test_every_chapter_page_exists_with_a_figure(built):
    assert (built / "index.html").exists()
    for ch in chapters.CHAPTERS.values():
        page = built / ch.path.replace(".ipynb", ".html")
        assert page.exists(), page
        html = page.read_text()
        assert "<img" in html, f"{ch.slug}: no figure"
        assert "Claim check" in html, f"{ch.slug}: no claim check"


@pytest.mark.build
def test_glued_numbers_reach_the_page(built):
    html = (built / "book/nar-sastry/example1.html").read_text()
    assert "0.0625" in html  # orbit_amplitude_theory for the default delta = 0.5

"""The book builds with Sphinx warnings as errors, from the stored outputs (checked by nbval)."""

import pytest

from stepsize import chapters
from stepsize.chapters import REPO_ROOT


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

"""The book builds with Sphinx warnings as errors, from the stored outputs (checked by nbval)."""

import pytest
from stepsize.book import registry as chapters


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


@pytest.mark.build
def test_each_chapter_has_binder_and_download_buttons(built):
    from conftest import TEST_REPO_URL

    org_repo = TEST_REPO_URL.removeprefix("https://github.com/")
    for ch in chapters.CHAPTERS.values():
        html = (built / ch.path.replace(".ipynb", ".html")).read_text()
        binder = f"https://mybinder.org/v2/gh/{org_repo}/main?urlpath=lab/tree/{ch.path}"
        assert binder in html, f"{ch.slug}: no Binder button for its notebook"
        depth = ch.path.count("/")
        download = "../" * depth + f"_sources/{ch.path}"
        assert f'href="{download}"' in html, f"{ch.slug}: no download button"
        assert (built / "_sources" / ch.path).exists(), f"{ch.slug}: the downloadable notebook is missing"
        assert "executablebooks/jupyter-book" not in html, f"{ch.slug}: links to Jupyter Book's own repository"
    index = (built / "index.html").read_text()
    assert "mybinder.org" not in index  # not a notebook: nothing to launch


@pytest.mark.build
def test_bibliography_lists_the_three_papers_and_the_cited_works(built):
    html = (built / "book/references.html").read_text().lower()  # the bibliography style lowercases titles
    for title in (
        "Step Size Matters in Deep Learning",
        "On the Convergence of Gradient Descent for Large Learning Rates",
        "Convergence of gradient descent for learning linear neural networks",
        "Gradient-Based Learning Applied to Document Recognition",
        "Optical Recognition of Handwritten Digits",
    ):
        assert title.lower() in html, title
    digits = (built / "book/craciun/digits.html").read_text()
    assert "references.html#id" in digits or "references.html#" in digits  # citations link to it


def test_launch_buttons_only_with_a_repository_address():
    from stepsize.book.sphinx_ext import configure_launch

    base = {
        "launch_buttons": {"binderhub_url": "https://mybinder.org"},
        "repository_url": "https://github.com/executablebooks/jupyter-book",
    }
    off = configure_launch(base, "")
    assert "launch_buttons" not in off and "repository_url" not in off
    assert off["use_repository_button"] is False
    on = configure_launch(base, "https://github.com/org/book.git/")
    assert on["repository_url"] == "https://github.com/org/book" and on["launch_buttons"]
    for bad in ("github.com/org/book", "https://example.com/org/book", "https://github.com/org"):
        with pytest.raises(ValueError, match="STEPSIZE_REPO_URL must look like"):
            configure_launch(base, bad)


@pytest.mark.build
def test_published_address_licence_footer_and_cite_page(built):
    """html_baseurl comes from the same repository address as the launch buttons."""
    from conftest import TEST_REPO_URL
    from stepsize.book.sphinx_ext import pages_url

    base = pages_url(TEST_REPO_URL)
    assert base == "https://example-org.github.io/stepsize-book/"
    page = (built / "book/nar-sastry/example1.html").read_text()
    assert f'<link rel="canonical" href="{base}book/nar-sastry/example1.html"' in page
    assert "creativecommons.org/licenses/by/4.0" in page and "MIT licence" in page  # the footer
    cite = (built / "book/cite.html").read_text()
    assert f"{{{base}}}" in cite and "@BOOK_URL@" not in cite  # the BibTeX url field
    for key in ("nar2018stepsize", "craciun2024large", "nguegnang2024linear"):
        assert key in cite
    index = (built / "index.html").read_text()
    if "Refresh" in index:  # Jupyter Book's redirect to the root page
        index = (built / "book/intro.html").read_text()
    assert 'href="book/cite.html"' in index or 'href="cite.html"' in index

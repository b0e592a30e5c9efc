"""Copy MathJax 3 from the installed ``django-static-mathjax`` wheel into ``_vendor/mathjax``.

The book's ``_config.yml`` serves ``_vendor`` as a static folder and points ``mathjax_path`` at
``mathjax/es5/tex-mml-chtml.js``, so the HTML renders math with no network. Only the one
component script and its woff-v2 fonts are copied (about 1.6 MB). Run: ``python -m stepsize.book.vendor``.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from .registry import REPO_ROOT

PARTS = ("es5/tex-mml-chtml.js", "es5/output/chtml/fonts/woff-v2")


def vendor_mathjax(dest: Path = REPO_ROOT / "_vendor" / "mathjax") -> Path:
    src = Path(str(files("mathjax") / "static" / "mathjax"))
    if not (src / PARTS[0]).is_file():
        raise FileNotFoundError(f"MathJax not found in {src}: is django-static-mathjax installed?")
    for part in PARTS:
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if (src / part).is_dir():
            shutil.copytree(src / part, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src / part, target)
    return dest


if __name__ == "__main__":
    print(f"MathJax copied to {vendor_mathjax()}")

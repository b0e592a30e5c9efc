"""The book's few figure helpers and its one style.

Figures are PNG (nbval ignores PNG data, so figures never make a stored output fragile).
Helpers draw on an ``Axes`` they are given and return nothing to print.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Colours by role, used by every chapter so a reader learns them once: the Okabe-Ito palette
#: (Okabe & Ito 2008), which stays distinguishable under the common colour-vision deficiencies.
COLORS = {
    "theory": "#D55E00",     # vermillion: the paper's formula (drawn dashed as well)
    "measured": "#0072B2",   # blue: the simulation
    "converged": "#009E73",  # bluish green
    "periodic": "#E69F00",   # orange
    "diverged": "#555555",   # dark grey
    "undecided": "#CC79A7",  # reddish purple
}


def use_style() -> None:
    """Set the book's matplotlib style (PNG output, readable sizes, no TeX needed)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "legend.frameon": False,
        "text.usetex": False,
    })
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # outside IPython
        pass


def cobweb(ax, step: Callable[[np.ndarray], np.ndarray], x0: float, n_steps: int,
           xlim: tuple[float, float], color: str = COLORS["measured"]) -> None:
    """Draw the cobweb diagram of the 1-D map ``step`` from ``x0`` on ``ax``.

    The map's graph and the diagonal are drawn over ``xlim``; then the path
    ``(x_k, x_k) -> (x_k, x_{k+1}) -> (x_{k+1}, x_{k+1})`` for ``n_steps`` steps.
    """
    xs = np.linspace(xlim[0], xlim[1], 801)
    ax.plot(xs, step(xs), color="black", lw=1.2, label="GD map $G(x)$")
    ax.plot(xs, xs, color="gray", lw=0.8, ls="--", label="$y = x$")
    x = np.array([float(x0)])
    px, py = [x[0]], [x[0]]
    for _ in range(n_steps):
        y = step(x)
        px += [x[0], y[0]]
        py += [y[0], y[0]]
        x = y
    ax.plot(px, py, color=color, lw=1.0, label=f"GD from $x_0 = {x0:g}$")
    ax.set_xlim(*xlim)
    ax.set_xlabel("$x_k$")
    ax.set_ylabel("$x_{k+1}$")

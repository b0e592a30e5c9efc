"""The book's few figure helpers and its one style.

Figures are PNG; nbval does not compare their bytes (it skips image/png, and `make test` gives it
tests/nbval-sanitize.cfg for glued figures), so figures never make a stored output fragile.
Helpers draw on an ``Axes`` they are given and return nothing to print.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Colours by role, used by every chapter so a reader learns them once: the Okabe-Ito palette
#: (Okabe & Ito 2008), which stays distinguishable under the common colour-vision deficiencies.
COLORS = {
    "theory": "#D55E00",  # vermillion: the paper's formula (drawn dashed as well)
    "measured": "#0072B2",  # blue: the simulation
    "converged": "#009E73",  # bluish green
    "periodic": "#E69F00",  # orange
    "diverged": "#555555",  # dark grey
    "undecided": "#CC79A7",  # reddish purple
}

#: Colours for a series of categories (depths, step sizes, seeds), in order: Okabe-Ito again, without
#: the vermillion that marks theory, so a measured series never looks like the paper's formula.
SERIES = ("#0072B2", "#E69F00", "#009E73", "#56B4E9", "#CC79A7", "#000000")


def use_style() -> None:
    """Set the book's matplotlib style (PNG output, readable sizes, no TeX needed)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
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
        }
    )
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # outside IPython
        pass


def cobweb(
    ax,
    step: Callable[[np.ndarray], np.ndarray],
    x0: float,
    n_steps: int,
    xlim: tuple[float, float],
    color: str = COLORS["measured"],
) -> None:
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


#: Machado, Oliveira & Fernandes (2009) matrices, severity 1, acting on linear RGB: what a viewer with
#: protanopia, deuteranopia or tritanopia sees of a colour.
CVD_MATRICES = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}


def _linear_rgb(hex_colors: list[str]) -> np.ndarray:
    rgb = np.array([[int(h.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)] for h in hex_colors])
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _lab(lin: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear-RGB rows: sRGB -> XYZ -> L*a*b*."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = np.clip(lin, 0, 1) @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def colour_distances(hex_colors: list[str], vision: str | None = None) -> np.ndarray:
    """Pairwise CIELAB distances (ΔE*ab, 1976) between colours, as seen with normal ``vision=None`` or
    with one of :data:`CVD_MATRICES` (simulated in linear RGB, Machado et al. 2009). About 10 and above
    reads as clearly different colours; below about 5 two lines look alike."""
    lin = _linear_rgb(hex_colors)
    if vision is not None:
        lin = lin @ CVD_MATRICES[vision].T
    lab = _lab(lin)
    return np.linalg.norm(lab[:, None, :] - lab[None, :, :], axis=-1)

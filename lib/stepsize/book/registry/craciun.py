"""Chapters of Part II: Crăciun & Ghoshdastidar (2024), *On the Convergence of Gradient Descent
for Large Learning Rates*."""

from __future__ import annotations

from .core import Chapter, Param, Rule, SEED


CHAPTERS = (
    Chapter(
        slug="craciun-toy",
        path="book/craciun/toy.ipynb",
        title="The toy loss: which minima gradient descent can reach",
        part="craciun",
        params=(
            Param("eta", float, 0.4, "step size of panel (a)", low=0.0, high=10.0, low_open=True),
            Param("eta_large", float, 1.1, "step size of panel (b)", low=0.0, high=10.0, low_open=True),
            Param("n_init", int, 20000, "number of random initial points in [-region, region]^2",
                  low=8, high=10**7),
            Param("region", float, 2.0, "half-width of the square of initial points", low=0.0, high=100.0,
                  low_open=True),
            Param("n_steps", int, 2000, "GD steps before each run is classified", low=16, high=10**6),
            SEED,
        ),
        test_overrides={"eta": 0.7, "eta_large": 0.95, "n_init": 4000, "region": 3.0},
    ),
)

CHAPTERS += (
    Chapter(
        slug="craciun-mws",
        path="book/craciun/mws.ipynb",
        title="The size of M_WS and of the trapping region",
        part="craciun",
        params=(
            Param("n_grid", int, 200, "initial points per side of the grid over [-region, region]^2",
                  low=2, high=2000),
            Param("region", float, 3.0, "half-width of the square of initial points", low=0.0, high=100.0,
                  low_open=True),
            Param("n_eta", int, 41, "number of step sizes in [0.1, eta_max]", low=2, high=1000),
            Param("eta_max", float, 1.1, "largest step size of the sweep", low=0.1, high=10.0, low_open=True),
            Param("n_steps", int, 2000, "GD steps before each run is classified", low=16, high=10**6),
            SEED,
        ),
        test_overrides={"n_grid": 80, "region": 2.0, "n_eta": 21, "eta_max": 1.2},
    ),
)

CHAPTERS += (
    Chapter(
        slug="craciun-linear",
        path="book/craciun/linear.ipynb",
        title="Linear networks: a critical learning rate",
        part="craciun",
        params=(
            Param("depth", int, 3, "number of layers H", low=2, high=8),
            Param("dim", int, 4, "input, hidden and output width", low=1, high=16),
            Param("s_top", float, 2.0, "largest singular value of the target map", low=0.0, high=10.0,
                  low_open=True),
            Param("n_samples", int, 20, "number of data points (>= dim)", low=1, high=10**4),
            Param("n_runs", int, 24, "random initialisations per step size", low=1, high=1000),
            Param("n_eta", int, 21, "step sizes in [0.5, 1.5] x eta*", low=2, high=200),
            Param("init_scale", float, 0.5, "scale of the Gaussian initialisation", low=0.0, high=5.0,
                  low_open=True),
            Param("n_steps", int, 1200, "GD steps per run", low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depth": 2, "dim": 3, "s_top": 1.5, "n_runs": 10, "n_eta": 11},
        rules=(Rule(("n_samples", "dim"), lambda m, n: m >= n,
                    "n_samples >= dim (X X^T = I needs dim independent samples)"),),
    ),
)

CHAPTERS += (
    Chapter(
        slug="craciun-digits",
        path="book/craciun/digits.ipynb",
        title="Digits with GELU networks: where convergence stops",
        part="craciun",
        params=(
            Param("preset", str, "quick", "size of the experiment", choices=("quick", "paper")),
            Param("mnist_path", str, "", "folder with MNIST IDX files; empty for scikit-learn's digits"),
            SEED,
        ),
        test_overrides={"seed": 1},
    ),
)

"""Chapters of Part II: Crăciun & Ghoshdastidar (2024), *On the Convergence of Gradient Descent
for Large Learning Rates*."""

from __future__ import annotations

from .core import SEED, Chapter, Param, Rule

#: The square of initial points and the step budget of the toy-loss chapters.
REGION = Param("region", low=0.0, high=100.0, low_open=True)
N_STEPS = Param("n_steps", low=16, high=10**6)

CHAPTERS = (
    Chapter(
        slug="craciun-toy",
        path="book/craciun/toy.ipynb",
        title="The toy loss: which minima gradient descent can reach",
        part="craciun",
        limits=(
            Param("eta", low=0.0, high=10.0, low_open=True),
            Param("eta_large", low=0.0, high=10.0, low_open=True),
            Param("n_init", low=8, high=10**7),
            REGION,
            N_STEPS,
            SEED,
        ),
        test_overrides={"eta": 0.7, "eta_large": 0.95, "n_init": 4000, "region": 3.0},
    ),
)

CHAPTERS += (
    Chapter(
        slug="craciun-mws",
        path="book/craciun/mws.ipynb",
        title="The size of the weakly stable set and of the trapping region",
        part="craciun",
        limits=(
            Param("n_grid", low=2, high=2000),
            REGION,
            Param("n_eta", low=2, high=1000),
            Param("eta_max", low=0.1, high=10.0, low_open=True),
            N_STEPS,
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
        limits=(
            Param("depth", low=2, high=8),
            Param("dim", low=1, high=16),
            Param("s_top", low=0.0, high=10.0, low_open=True),
            Param("n_samples", low=1, high=10**4),
            Param("n_runs", low=1, high=1000),
            Param("n_eta", low=2, high=200),
            Param("init_scale", low=0.0, high=5.0, low_open=True),
            Param("n_steps", low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depth": 2, "dim": 3, "s_top": 1.5, "n_runs": 10, "n_eta": 11},
        rules=(
            Rule(
                ("n_samples", "dim"), lambda m, n: m >= n, "n_samples >= dim (X X^T = I needs dim independent samples)"
            ),
        ),
    ),
)

CHAPTERS += (
    Chapter(
        slug="craciun-digits",
        path="book/craciun/digits.ipynb",
        title="Digits with GELU networks: where convergence stops",
        part="craciun",
        limits=(
            Param("preset", choices=("quick", "paper")),
            SEED,
        ),
        test_overrides={"seed": 1},
    ),
)

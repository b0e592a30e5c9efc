"""Chapters of Part I on identity and diagonal initialisation: Nar & Sastry (2018), Section 3
(Theorems 2 and 3, Lemmas 3 and 4) and the reviewers' questions about them."""

from __future__ import annotations

from .core import SEED, Chapter, Param, Rule

DEPTH = Param("depth", low=2, high=12)
DIM = Param("dim", low=1, high=12)

CHAPTERS = (
    Chapter(
        slug="nar-theorem2",
        path="book/nar-sastry/theorem2.ipynb",
        title="Theorem 2: identity initialisation fits a positive definite target",
        part="nar-sastry",
        limits=(
            DEPTH,
            Param("dim", low=2, high=12),
            Param("rho", low=0.0, high=20.0, low_open=True),
            Param("delta_fraction", low=0.0, high=3.0, low_open=True),
            Param("n_steps", low=100, high=20000),
            SEED,
        ),
        test_overrides={"depth": 3, "rho": 0.5, "delta_fraction": 1.5, "n_steps": 1500},
    ),
)

CHAPTERS += (
    Chapter(
        slug="nar-theorem3",
        path="book/nar-sastry/theorem3.ipynb",
        title="Theorem 3: negative eigenvalues are projected away",
        part="nar-sastry",
        limits=(
            Param("depth", low=2, high=8),
            Param("dim", low=2, high=8),
            Param("n_negative", low=1, high=7),
            Param("delta_fraction", low=0.0, high=3.0, low_open=True),
            Param("n_steps", low=10, high=20000),
            Param("n_long", low=5000, high=10**6),
            Param("seed", low=0, high=2**32 - 1),
        ),
        test_overrides={"depth": 2, "n_negative": 1, "n_steps": 600, "n_long": 5000, "seed": 0},
        rules=(Rule(("n_negative", "dim"), lambda k, n: k < n, "n_negative < dim (R needs a positive eigenvalue)"),),
    ),
)

CHAPTERS += (
    Chapter(
        slug="nar-review-questions",
        path="book/nar-sastry/review-questions.ipynb",
        title="Two reviewers' questions, answered numerically",
        part="nar-sastry",
        limits=(
            Param("depth", low=2, high=8),
            Param("dim", low=2, high=8),
            Param("rho", low=0.0, high=10.0, low_open=True),
            Param("delta_fraction", low=0.0, high=3.0, low_open=True),
            Param("n_init", low=1, high=500),
            Param("n_steps", low=100, high=50000),
            Param("imbalance", low=1.0, high=1000.0),
            SEED,
        ),
        test_overrides={"depth": 4, "rho": 1.5, "n_init": 6, "n_steps": 1500, "imbalance": 10.0},
    ),
)

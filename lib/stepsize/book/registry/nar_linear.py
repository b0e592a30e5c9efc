"""Chapters of Part I, Section 2 of Nar & Sastry (2018): deep linear networks (Theorem 1,
Corollaries 1 and 2, the depth effect)."""

from __future__ import annotations

from .core import SEED, Chapter, Param

CHAPTERS = (
    Chapter(
        slug="nar-theorem1",
        path="book/nar-sastry/theorem1.ipynb",
        title="Theorem 1: one product, many step-size bounds",
        part="nar-sastry",
        limits=(
            Param("depth", low=2, high=6),
            Param("dim", low=1, high=5),
            Param("delta", low=0.0, high=10.0, low_open=True),
            SEED,
        ),
        test_overrides={"depth": 4, "dim": 2, "delta": 0.05, "seed": 1},
    ),
)

CHAPTERS += (
    Chapter(
        slug="nar-corollary1",
        path="book/nar-sastry/corollary1.ipynb",
        title="Corollary 1: deeper networks and larger targets need smaller steps",
        part="nar-sastry",
        limits=(
            Param("depth", low=2, high=10),
            Param("rho", low=0.0, high=100.0, low_open=True),
            Param("n_init", low=1, high=1000),
            Param("n_steps", low=100, high=100000),
            SEED,
        ),
        test_overrides={"depth": 3, "rho": 3.0, "n_init": 10, "seed": 1},
    ),
)

CHAPTERS += (
    Chapter(
        slug="nar-corollary2",
        path="book/nar-sastry/corollary2.ipynb",
        title="Corollary 2: a converged run certifies a small Lipschitz constant",
        part="nar-sastry",
        limits=(
            Param("depth", low=2, high=10),
            Param("delta", low=0.0, high=10.0, low_open=True),
            Param("n_steps", low=100, high=100000),
            SEED,
        ),
        test_overrides={"depth": 5, "delta": 0.02, "seed": 1},
    ),
)

CHAPTERS += (
    Chapter(
        slug="nar-depth",
        path="book/nar-sastry/depth.ipynb",
        title="The depth effect: at a fixed step size, deep networks stop converging",
        part="nar-sastry",
        limits=(
            Param("delta", low=0.0, high=10.0, low_open=True),
            Param("rho", low=0.0, high=100.0, low_open=True),
            Param("max_depth", low=2, high=20),
            Param("n_init", low=1, high=1000),
            Param("n_steps", low=100, high=100000),
            SEED,
        ),
        test_overrides={"delta": 0.1, "rho": 1.5, "max_depth": 10, "n_init": 10},
    ),
)

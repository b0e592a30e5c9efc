"""Chapters of Part I: Nar & Sastry (2018), *Step Size Matters in Deep Learning*."""

from __future__ import annotations

from .core import SEED, Chapter, Param


def _even_above_2(p: int) -> bool:
    return p % 2 == 0 and p > 2


CHAPTERS = (
    Chapter(
        slug="nar-example1",
        path="book/nar-sastry/example1.ipynb",
        title="Example 1: an orbit instead of a point",
        part="nar-sastry",
        limits=(
            Param("delta", low=0.0, high=100.0, low_open=True),
            Param("n_init", low=1, high=10**7),
            Param("n_steps", low=1, high=10**6),
            SEED,
        ),
        test_overrides={"delta": 0.2, "n_init": 2000},
    ),
    Chapter(
        slug="nar-example2",
        path="book/nar-sastry/example2.ipynb",
        title="Example 2: the step size picks the minimum",
        part="nar-sastry",
        limits=(
            Param("delta", low=0.0, high=1.0, low_open=True),
            Param("n_init", low=1, high=10**5),
            Param("n_steps", low=10, high=10**5),
            SEED,
        ),
        test_overrides={"delta": 0.15, "n_init": 500},
    ),
    Chapter(
        slug="nar-example3",
        path="book/nar-sastry/example3.ipynb",
        title="Example 3: the initial point decides",
        part="nar-sastry",
        limits=(
            Param("p", low=4, high=20, rule=_even_above_2, rule_text="an even integer"),
            Param("delta", low=1e-6, high=10.0),
            SEED,
        ),
        test_overrides={"p": 6, "delta": 0.5},
    ),
)

"""Chapters of Part IV: beyond the papers (the step-size atlas)."""

from __future__ import annotations

from .core import SEED, Chapter, Param


def _eta_list(text: str) -> bool:
    """A comma-separated list of 1 to 6 distinct step sizes, each in (0, 2]."""
    try:
        v = [float(t) for t in text.split(",")]
    except ValueError:
        return False
    return 1 <= len(v) <= 6 and len(set(v)) == len(v) and all(0 < x <= 2 for x in v)


CHAPTERS = (
    Chapter(
        slug="beyond-atlas",
        path="book/beyond/atlas.ipynb",
        title="The step-size atlas: what GD does beyond the threshold",
        part="beyond",
        limits=(
            Param("n_eta", low=50, high=10**5),
            Param("n_points", low=4, high=4096),
            Param("n_transient", low=50, high=10**5),
            Param("n_record", low=20, high=10**4),
            Param("n_flips", low=3, high=9),
            Param("preset", choices=("quick", "paper")),
            SEED,
        ),
        test_overrides={"n_eta": 400, "n_points": 16, "n_flips": 4, "seed": 3},
    ),
    Chapter(
        slug="beyond-edge-of-stability",
        path="book/beyond/edge-of-stability.ipynb",
        title="Gradient descent at the edge of stability",
        part="beyond",
        limits=(
            Param(
                "etas",
                rule=_eta_list,
                rule_text="a comma-separated list of 1 to 6 distinct step sizes in (0, 2], e.g. 0.5,0.25",
            ),
            Param("n_seeds", low=1, high=64),
            Param("n_samples", low=20, high=1797),
            Param("width", low=2, high=256),
            Param("n_steps", low=100, high=10**5),
            Param("every", low=1, high=10**4),
            Param("init_scale", low=0.05, high=3.0),
            Param("preset", choices=("quick", "paper")),
            SEED,
        ),
        test_overrides={"etas": "0.5,0.3", "n_seeds": 1, "n_steps": 600, "n_samples": 128, "seed": 2},
    ),
    Chapter(
        slug="beyond-one-law",
        path="book/beyond/one-law.ipynb",
        title="One inequality across the three papers",
        part="beyond",
        limits=(
            Param("n_factors", low=2, high=200),
            Param("n_starts", low=1, high=1000),
            Param("n_steps", low=100, high=10**5),
            SEED,
        ),
        test_overrides={"n_factors": 6, "n_starts": 4, "n_steps": 1500, "seed": 1},
    ),
)

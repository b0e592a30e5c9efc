"""Chapters of Part IV: beyond the papers (the step-size atlas)."""

from __future__ import annotations

from .core import Chapter, Param, SEED

CHAPTERS = (
    Chapter(
        slug="beyond-atlas",
        path="book/beyond/atlas.ipynb",
        title="The step-size atlas: what GD does beyond the threshold",
        part="beyond",
        params=(
            Param("n_eta", int, 1600, "step sizes sampled in the bifurcation diagram", low=50, high=10**5),
            Param("n_points", int, 64, "initial points per step size", low=4, high=4096),
            Param("n_transient", int, 600, "GD steps discarded before recording", low=50, high=10**5),
            Param("n_record", int, 200, "GD steps recorded (attractor and Lyapunov exponent)", low=20, high=10**4),
            Param("n_flips", int, 6, "period-doubling flips located exactly (periods 1, 2, 4, ...)", low=3, high=9),
            Param("preset", str, "quick", "size of the experiment (paper: a finer atlas, more flips)",
                  choices=("quick", "paper")),
            SEED,
        ),
        test_overrides={"n_eta": 400, "n_points": 16, "n_flips": 4, "seed": 3},
    ),
)

"""Chapters of Part IV: beyond the papers (the step-size atlas)."""

from __future__ import annotations

from .core import Chapter, Param, SEED


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
    Chapter(
        slug="beyond-edge-of-stability",
        path="book/beyond/edge-of-stability.ipynb",
        title="Gradient descent at the edge of stability",
        part="beyond",
        params=(
            Param("etas", str, "0.5,0.35,0.25", "comma-separated step sizes (1 to 6, each in (0, 2])",
                  rule=_eta_list, rule_text="a comma-separated list of 1 to 6 distinct step sizes in (0, 2], e.g. 0.5,0.25"),
            Param("n_seeds", int, 2, "initialisations per step size", low=1, high=64),
            Param("n_samples", int, 256, "training images (UCI digits)", low=20, high=1797),
            Param("width", int, 24, "units in each of the two hidden layers", low=2, high=256),
            Param("n_steps", int, 2000, "full-batch GD steps", low=100, high=10**5),
            Param("every", int, 100, "steps between two sharpness measurements", low=1, high=10**4),
            Param("init_scale", float, 0.6, "factor on the LeCun-normal initial weights", low=0.05, high=3.0),
            Param("preset", str, "quick", "size of the experiment (paper: more seeds, samples and steps)",
                  choices=("quick", "paper")),
            SEED,
        ),
        test_overrides={"etas": "0.5,0.3", "n_seeds": 1, "n_steps": 600, "n_samples": 128, "seed": 2},
    ),
    Chapter(
        slug="beyond-one-law",
        path="book/beyond/one-law.ipynb",
        title="One inequality across the three papers",
        part="beyond",
        params=(
            Param("n_factors", int, 16, "step sizes per family (0.1 to 1.6 times its reference 2/lambda_max)",
                  low=2, high=200),
            Param("n_starts", int, 16, "initial points per step size", low=1, high=1000),
            Param("n_steps", int, 3000, "GD steps before each run is classified", low=100, high=10**5),
            SEED,
        ),
        test_overrides={"n_factors": 6, "n_starts": 4, "n_steps": 1500, "seed": 1},
    ),
)

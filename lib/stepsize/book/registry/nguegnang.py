"""Chapters of Part III: Nguegnang, Rauhut & Terstiege, *Convergence of gradient descent for
learning linear neural networks* (deep linear networks with balanced initialisation)."""

from __future__ import annotations

from .core import SEED, Chapter, Param, Rule

PRESET = Param("preset", choices=("quick", "paper"))


def _depth_list(text: str) -> bool:
    """A comma-separated list of 1 to 5 distinct depths, each an integer in [2, 10]."""
    try:
        Ns = [int(t) for t in text.split(",")]
    except ValueError:
        return False
    return 1 <= len(Ns) <= 5 and len(set(Ns)) == len(Ns) and all(2 <= N <= 10 for N in Ns)


DEPTHS_RULE = "a comma-separated list of 1 to 5 distinct depths in [2, 10], e.g. 2,3,5"
DEPTHS = Param("depths", rule=_depth_list, rule_text=DEPTHS_RULE)
#: The step budget of every chapter of this part (extended automatically for undecided runs).
N_STEPS = Param("n_steps", low=10, high=10**6)

CHAPTERS = (
    Chapter(
        slug="nguegnang-balancedness",
        path="book/nguegnang/balancedness.ipynb",
        title="Balancedness: kept by the flow, nearly kept by gradient descent",
        part="nguegnang",
        limits=(
            PRESET,
            Param("depth", low=2, high=10),
            N_STEPS,
            SEED,
        ),
        test_overrides={"depth": 2, "n_steps": 1500, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-constant-step",
        path="book/nguegnang/constant-step.ipynb",
        title="Constant steps: at the bound, below it, above it",
        part="nguegnang",
        limits=(
            PRESET,
            DEPTHS,
            N_STEPS,
            SEED,
        ),
        test_overrides={"depths": "2,4", "n_steps": 2000, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-vs-nar",
        path="book/nguegnang/vs-nar.ipynb",
        title="Two step bounds against depth: necessary and sufficient",
        part="nguegnang",
        limits=(
            PRESET,
            DEPTHS,
            Param("rho", low=0.0, high=10.0, low_open=True),
            Param("n_grid", low=2, high=200),
            N_STEPS,
            SEED,
        ),
        test_overrides={"depths": "2,3", "rho": 1.0, "n_grid": 8, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-global-minimum",
        path="book/nguegnang/global-minimum.ipynb",
        title="Where gradient descent ends: global minima and fixed-rank minima",
        part="nguegnang",
        limits=(
            Param("n_init", low=1, high=10000),
            Param("hidden", low=2, high=20),
            Param("d", low=3, high=30),
            N_STEPS,
            SEED,
        ),
        test_overrides={"n_init": 16, "hidden": 2, "d": 4, "seed": 1},
        rules=(Rule(("hidden", "d"), lambda r, d: r < d, "hidden < d (a bottleneck)"),),
    ),
    Chapter(
        slug="nguegnang-decreasing-step",
        path="book/nguegnang/decreasing-step.ipynb",
        title="Decreasing steps: allowed, but slower",
        part="nguegnang",
        limits=(
            PRESET,
            DEPTHS,
            Param("k0", low=1.0, high=1e6),
            N_STEPS,
            SEED,
        ),
        test_overrides={"depths": "2,3", "k0": 100.0, "n_steps": 1500, "seed": 1},
    ),
)

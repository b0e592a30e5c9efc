"""Chapters of Part III: Nguegnang, Rauhut & Terstiege, *Convergence of gradient descent for
learning linear neural networks* (deep linear networks with balanced initialisation)."""

from __future__ import annotations

from .core import Chapter, Param, Rule, SEED

PRESET = Param("preset", str, "quick", "problem sizes: quick (small, default) or paper (d 70, rank 25, slow)",
               choices=("quick", "paper"))



def _depth_list(text: str) -> bool:
    """A comma-separated list of 1 to 5 distinct depths, each an integer in [2, 10]."""
    try:
        Ns = [int(t) for t in text.split(",")]
    except ValueError:
        return False
    return 1 <= len(Ns) <= 5 and len(set(Ns)) == len(Ns) and all(2 <= N <= 10 for N in Ns)


#: The step budget (:func:`stepsize.balanced.step_budget`) and its automatic extension (:func:`stepsize.balanced.step_cap`).
STEPS_HELP = ("GD step budget per run (paper preset: at least 5000); undecided runs continue up to 16x it (quick) "
              "or 50x (paper)")

DEPTHS_RULE = "a comma-separated list of 1 to 5 distinct depths in [2, 10], e.g. 2,3,5"

CHAPTERS = (
    Chapter(
        slug="nguegnang-balancedness",
        path="book/nguegnang/balancedness.ipynb",
        title="Balancedness: kept by the flow, nearly kept by gradient descent",
        part="nguegnang",
        params=(
            PRESET,
            Param("depth", int, 3, "number of factors N", low=2, high=10),
            Param("n_steps", int, 3000, "GD step budget per run (paper preset: at least 5000)", low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depth": 2, "n_steps": 1500, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-constant-step",
        path="book/nguegnang/constant-step.ipynb",
        title="Constant steps: at the bound, below it, above it",
        part="nguegnang",
        params=(
            PRESET,
            Param("depths", str, "2,3,5", "comma-separated depths N (each 2..10)",
                  rule=_depth_list, rule_text=DEPTHS_RULE),
            Param("n_steps", int, 3000, STEPS_HELP, low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depths": "2,4", "n_steps": 2000, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-vs-nar",
        path="book/nguegnang/vs-nar.ipynb",
        title="Two step bounds against depth: necessary and sufficient",
        part="nguegnang",
        params=(
            PRESET,
            Param("depths", str, "2,3,4,6,8", "comma-separated depths N at which the critical step is measured",
                  rule=_depth_list, rule_text=DEPTHS_RULE),
            Param("rho", float, 2.0, "largest singular value of the target R", low=0.0, high=10.0, low_open=True),
            Param("n_grid", int, 16, "step sizes per depth in the sweep", low=2, high=200),
            Param("n_steps", int, 2000, STEPS_HELP, low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depths": "2,3", "rho": 1.0, "n_grid": 8, "seed": 1},
    ),
    Chapter(
        slug="nguegnang-global-minimum",
        path="book/nguegnang/global-minimum.ipynb",
        title="Where gradient descent ends: global minima and fixed-rank minima",
        part="nguegnang",
        params=(
            Param("n_init", int, 64, "random balanced initialisations per depth", low=1, high=10000),
            Param("hidden", int, 3, "hidden width r (the bottleneck), from 2 to d - 1", low=2, high=20),
            Param("d", int, 6, "input and output dimension", low=3, high=30),
            Param("n_steps", int, 2500, "GD step budget per run; undecided runs continue up to 16x it", low=10, high=10**6),
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
        params=(
            PRESET,
            Param("depths", str, "2,3,5", "comma-separated depths N (each 2..10)",
                  rule=_depth_list, rule_text=DEPTHS_RULE),
            Param("k0", float, 500.0, "offset k0 of the schedule c / (k + k0)^gamma", low=1.0, high=1e6),
            Param("n_steps", int, 3000, STEPS_HELP, low=10, high=10**6),
            SEED,
        ),
        test_overrides={"depths": "2,3", "k0": 100.0, "n_steps": 1500, "seed": 1},
    ),
)

"""Chapters on two-layer ReLU networks: Nar & Sastry (2018), Section 4 (Theorem 4, Figure 2)."""

from __future__ import annotations

from .core import Chapter, Param, Rule

_SEED = Param("seed", int, 0, "first seed of the instances (seed, seed + 1, ...)",
              low=0, high=2**32 - 1000)
_WIDTH = Param("width", int, 20, "number of hidden ReLU units", low=1, high=200)
_N_INST = Param("n_instances", int, 16, "number of random instances, all run in one batch",
                low=1, high=1024)
_PRESET = Param("preset", str, "quick", "quick (the parameters as given) or paper (at least 256 instances; "
                "periodic orbit: at least 1e5 steps, theorem 4: switch bisection at 20001 steps)",
                choices=("quick", "paper"))

CHAPTERS = (
    Chapter(
        slug="nar-theorem4",
        path="book/nar-sastry/theorem4.ipynb",
        title="Theorem 4: a ReLU network that will not settle",
        part="nar-sastry",
        params=(
            Param("delta_small", float, 1e-4, "the step size that converges in Figure 2",
                  low=0.0, high=1e-2, low_open=True),
            Param("delta_large", float, 3e-4, "the step size that oscillates in Figure 2 (> delta_small)",
                  low=0.0, high=1e-2, low_open=True),
            Param("n_steps", int, 20001, "full-batch GD steps per run (the paper: 20001)", low=30, high=200000),
            Param("switch_steps", int, 5000, "GD steps per run in the bisection for the switch step",
                  low=30, high=200000),
            _WIDTH,
            _SEED,
            _N_INST,
            _PRESET,
        ),
        test_overrides={"n_steps": 2001, "seed": 8, "n_instances": 4, "width": 16, "switch_steps": 1000},
        rules=(Rule(("delta_small", "delta_large"), lambda a, b: a < b, "delta_small < delta_large"),),
    ),
    Chapter(
        slug="nar-periodic-orbit",
        path="book/nar-sastry/periodic-orbit.ipynb",
        title="Is the oscillation a true orbit?",
        part="nar-sastry",
        params=(
            Param("delta", float, 3e-4, "the large step size of Figure 2", low=0.0, high=1e-2, low_open=True),
            Param("n_steps", int, 20001, "full-batch GD steps per run (the paper: 20001)",
                  low=30, high=1000000),
            _WIDTH,
            _SEED,
            _N_INST,
            _PRESET,
        ),
        test_overrides={"n_steps": 3000, "seed": 6, "n_instances": 3},
    ),
)

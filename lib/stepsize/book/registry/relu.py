"""Chapters on two-layer ReLU networks: Nar & Sastry (2018), Section 4 (Theorem 4, Figure 2)."""

from __future__ import annotations

from .core import Chapter, Param, Rule

_SEED = Param("seed", low=0, high=2**32 - 1000)
_WIDTH = Param("width", low=1, high=200)
_N_INST = Param("n_instances", low=1, high=1024)
_PRESET = Param("preset", choices=("quick", "paper"))

CHAPTERS = (
    Chapter(
        slug="nar-theorem4",
        path="book/nar-sastry/theorem4.ipynb",
        title="Theorem 4: a ReLU network that will not settle",
        part="nar-sastry",
        limits=(
            Param("delta_small", low=0.0, high=1e-2, low_open=True),
            Param("delta_large", low=0.0, high=1e-2, low_open=True),
            Param("n_steps", low=30, high=200000),
            Param("switch_steps", low=30, high=200000),
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
        limits=(
            Param("delta", low=0.0, high=1e-2, low_open=True),
            Param("n_steps", low=30, high=1000000),
            _WIDTH,
            _SEED,
            _N_INST,
            _PRESET,
        ),
        test_overrides={"n_steps": 3000, "seed": 6, "n_instances": 3},
    ),
)

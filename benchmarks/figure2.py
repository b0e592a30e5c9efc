"""Benchmark 1: the Nar & Sastry Figure 2 loop (1000 grid points, width 20, full-batch GD).

Microseconds per run-step for (a) the obvious per-step numpy loop, (b) the lib, one run, (c) the lib
batched over 16 runs, (d) the same loop in PyTorch on the CPU if torch is installed (in a child
process: torch's OpenMP threads keep spinning after their work and would slow later rows).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from common import median_time


def _figure2_setup():
    """The Figure 2 problem of the benchmark: 16 instances (1000 grid points, width 20), the first
    one alone, and the step size."""
    from stepsize.models import relu

    inst = relu.make_instances(list(range(16)), width=20, n_points=1000)
    return inst, inst.row(0), 1e-4


def bench_figure2(repeats: int, n_steps: int = 300) -> list[tuple[str, float | None, str]]:
    from stepsize.models import relu

    inst, one, delta = _figure2_setup()
    rows = []

    t, _ = median_time(
        lambda: relu.train_plain(one.w0[0], one.v0[0], inst.x, one.y[0], one.b[0], delta, n_steps), repeats
    )
    plain = t / n_steps * 1e6
    rows.append(("(a) plain per-step numpy loop, 1 run", plain, f"{n_steps} steps"))

    t, _ = median_time(
        lambda: relu.train((one.w0, one.v0), inst.x, one.y, one.b, delta, n_steps, record=False), repeats
    )
    rows.append(("(b) lib `relu.train`, 1 run", t / n_steps * 1e6, f"{n_steps} steps"))

    t, _ = median_time(
        lambda: relu.train((inst.w0, inst.v0), inst.x, inst.y, inst.b, np.full(16, delta), n_steps, record=False),
        repeats,
    )
    rows.append(("(c) lib `relu.train`, batched over 16 runs", t / (16 * n_steps) * 1e6, f"{n_steps} steps x 16 runs"))

    torch_us, note = _torch_in_subprocess(repeats, n_steps)
    rows.append(("(d) PyTorch on the CPU, 1 run", torch_us, note))
    return rows


def _torch_in_subprocess(repeats: int, n_steps: int) -> tuple[float | None, str]:
    """Row (d), measured in a child process: torch's OpenMP threads keep spinning after their work and
    would slow every later measurement in this process."""
    import json
    import subprocess

    r = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run.py")), "--torch-row", str(repeats), str(n_steps)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if r.returncode != 0:
        return None, "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["us"] is None:
        return None, "skipped: torch is not installed"
    return res["us"], f"{n_steps} steps, torch {res['version']}"


def torch_row(repeats: int, n_steps: int) -> dict:
    """The Figure 2 loop in PyTorch (float64, CPU, all cores), one run; µs per step."""
    try:
        import torch
    except ImportError:
        return {"us": None, "version": None}
    inst, one, delta = _figure2_setup()
    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.tensor(inst.x, dtype=torch.float64)
    y = torch.tensor(one.y[0], dtype=torch.float64)
    b = torch.tensor(one.b[0], dtype=torch.float64)

    def torch_loop():
        w = torch.tensor(one.w0[0], dtype=torch.float64)
        v = torch.tensor(one.v0[0], dtype=torch.float64)
        for _ in range(n_steps):
            pre = x[:, None] * v - b
            h = torch.relu(pre)
            r = h @ w - y
            gw = 2 * h.T @ r
            gv = 2 * ((r[:, None] * (pre > 0) * w) * x[:, None]).sum(0)
            w = w - delta * gw
            v = v - delta * gv

    t, _ = median_time(torch_loop, repeats)
    return {"us": t / n_steps * 1e6, "version": torch.__version__}


def figure2_section(fig2: list, load_now: str = "") -> list[str]:
    plain = fig2[0][1]
    out = [
        "## 1. Figure 2 loop (Nar & Sastry): microseconds per run-step",
        "",
        *([f"Load average {load_now} when measured.", ""] if load_now else []),
        "| implementation | µs per run-step | × plain | note |",
        "|---|---|---|---|",
    ]
    for name, us, note in fig2:
        out.append(
            f"| {name} | – | – | {note} |" if us is None else f"| {name} | {us:.1f} | {plain / us:.1f} | {note} |"
        )
    batched, torch_us = fig2[2][1], fig2[3][1]
    verdict = (
        f"Target (c) ≤ 40 µs and ≥ 5× (a): {'met' if batched <= 40 and plain / batched >= 5 else 'not met'}"
        f" ({batched:.1f} µs, {plain / batched:.1f}×)"
    )
    if torch_us is not None:
        verdict += f"; ≥ 6× (d): {'met' if torch_us / batched >= 6 else 'not met'} ({torch_us / batched:.1f}×)"
    return out + [
        "",
        verdict + ".",
        "",
        (
            "torch is not a dependency of the book: row (d) appears when it is installed in `.venv` "
            "(here: `.venv/bin/pip install torch==2.13.0`, the CPU build), and is skipped otherwise."
        ),
        "",
    ]

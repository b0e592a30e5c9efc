"""Benchmark 4: the deep linear loss ``1/2 tr(P Sxx P^T) - <P, Syx> + 1/2 ||Y||^2`` of a batch.

Before: one three-operand ``einsum("bij,jk,bik->b", P, Sxx, P)`` (numpy contracts it without BLAS);
after (:func:`stepsize.linear.loss`): ``P @ Sxx`` first (batched BLAS), then a two-operand
contraction. Microseconds per call for a batch of product matrices of the deep linear chapters' size.
"""

from __future__ import annotations

import numpy as np
from common import median_time


def loss_before(Ws, prob) -> np.ndarray:
    """The three-operand formulation, kept here as the reference of the benchmark and its test."""
    from stepsize.models import linear

    P = linear.product(Ws)
    quad = np.einsum("bij,jk,bik->b", P, prob.Sxx, P)
    lin = np.einsum("bij,ij->b", P, prob.Syx)
    return np.maximum(0.5 * quad - lin + 0.5 * prob.yy, 0.0)


def setup(B: int = 64, d: int = 20, depth: int = 4, m: int = 100, seed: int = 0):
    from stepsize.models import linear

    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((d, m)), rng.standard_normal((d, m))
    prob = linear.from_data(X, Y)
    return linear.random_init(rng, B, [d] * (depth + 1), scale=0.5), prob


def bench_linear_loss(repeats: int, calls: int = 200) -> list[tuple[str, float, str]]:
    from stepsize.models import linear

    Ws, prob = setup()
    B, d = Ws[0].shape[0], Ws[0].shape[1]
    rows = []
    for name, fn in (
        ("before: three-operand `einsum`", loss_before),
        ("after: `P @ Sxx`, then two operands", linear.loss),
    ):
        t, _ = median_time(lambda fn=fn: [fn(Ws, prob) for _ in range(calls)], repeats)
        rows.append((name, t / calls * 1e6, f"batch of {B}, {d} x {d}, depth {len(Ws)}"))
    return rows


def linear_section(rows: list, load_now: str) -> list[str]:
    ref = rows[0][1]
    out = [
        "## 4. Deep linear loss: microseconds per call",
        "",
        f"Load average {load_now} when measured.",
        "",
        "| implementation | µs per call | × before | note |",
        "|---|---|---|---|",
    ]
    out += [f"| {name} | {us:.0f} | {ref / us:.2f} | {note} |" for name, us, note in rows]
    return out + ["", "Equal to rounding (`tests/test_linear.py`).", ""]

"""Benchmark 2: a basin map of L(x, y) = (1 - xy)^2 / 2, 10^6 points x 1000 GD steps, fates classified.

The lib's vectorised path against a per-point Python loop (timed on a sample, scaled to 10^6 points).
"""

from __future__ import annotations

import numpy as np
from common import median_time


def bench_basin(repeats: int, n_points: int = 10**6, n_steps: int = 1000, sample: int = 20000) -> dict:
    from stepsize.models import toy

    side = round(np.sqrt(n_points))
    g = np.linspace(-3.0, 3.0, side)
    X, Y = np.meshgrid(g, g)
    x0, y0 = X.ravel(), Y.ravel()
    eta = 0.4
    t_vec, _ = median_time(lambda: toy.fates(x0, y0, eta, n_steps), repeats, warmup=1)
    work = int(toy.fates(x0, y0, eta, n_steps).steps.sum())  # point-steps actually taken (early stops)
    rng = np.random.default_rng(0)
    idx = rng.choice(x0.size, size=sample, replace=False)
    xs, ys = x0[idx].tolist(), y0[idx].tolist()

    def plain():
        for a, b in zip(xs, ys):
            toy.fate_plain(a, b, eta, n_steps)

    t_s, _ = median_time(plain, repeats, warmup=0)
    t_plain = t_s / sample * x0.size
    return {"n": x0.size, "sample": sample, "work": work, "t_vec": t_vec, "t_plain": t_plain, "repeats": repeats}

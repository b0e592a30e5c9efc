import numpy as np
import pytest


def finite_diff(f, x, h=1e-6):
    """Central differences of a scalar function of a float array (same shape as x)."""
    g = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.fixture
def fd():
    return finite_diff

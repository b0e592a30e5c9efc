"""Scalar losses of Nar & Sastry (2018), Section 1, with hand-written derivatives.

Each loss is a :class:`ScalarLoss`: the function, its first and second derivative, all vectorised
over arrays of points. Where the paper's surviving text lost its formula, the docstring says what
was reconstructed (fits every surviving word, but is not the paper's own) or derived by us.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ScalarLoss:
    """A loss ``f: R -> R`` with ``df = f'`` and ``d2f = f''`` and its local minimisers."""

    name: str
    f: Fn
    df: Fn
    d2f: Fn
    minima: tuple[float, ...] = field(default_factory=tuple)


def example1() -> ScalarLoss:
    """Example 1: ``f(x) = (2/3)|x|^{3/2}``.

    Convex and C^1 with ``f'(x) = sign(x) |x|^{1/2}``; ``f''(x) = 1 / (2 |x|^{1/2})`` for
    ``x != 0`` (unbounded near the minimiser 0, so no step size is small enough everywhere).
    """

    def f(x):
        return (2.0 / 3.0) * np.abs(x) ** 1.5

    def df(x):
        return np.sign(x) * np.sqrt(np.abs(x))

    def d2f(x):
        with np.errstate(divide="ignore"):
            return 0.5 / np.sqrt(np.abs(x))

    return ScalarLoss("example1", f, df, d2f, minima=(0.0,))


def example1_steps_to_cycle(x_max: float, delta: float, margin: int = 10) -> int:
    """Steps that bring GD on Example 1 from any ``|x0| <= x_max`` onto its 2-cycle ``+-delta^2/4``.

    In ``u = x / delta^2`` the map is ``u -> u - sign(u) sqrt|u|`` (our derivation): far from 0 it
    moves ``|u|`` down by ``sqrt|u|`` per step, so reaching ``|u| = O(1)`` takes at most about
    ``2 sqrt(u0) = 2 sqrt(x_max) / delta`` steps (the continuous bound ``du/dk = -sqrt u``); from
    there the cycle, whose multiplier is 0, attracts within a few steps (``margin``).
    """
    if not (x_max >= 0 and delta > 0):
        raise ValueError("need x_max >= 0 and delta > 0")
    return math.ceil(2.0 * math.sqrt(x_max) / delta) + int(margin)


def example2() -> ScalarLoss:
    """Example 2 (reconstructed, not the paper's formula): ``f(x) = (x^2 + 1)(x - 1)^2 (x - 2)^2``.

    It has exactly the properties the paper states: non-convex, two local minima, at ``x = 1`` with
    ``f''(1) = 4`` and at ``x = 2`` with ``f''(2) = 10`` (a local maximum near 1.5561 between them).

    ``f'(x) = 2x (x-1)^2 (x-2)^2 + 2 (x^2+1)(x-1)(x-2)(2x-3)``.
    """

    def f(x):
        return (x**2 + 1) * (x - 1) ** 2 * (x - 2) ** 2

    def df(x):
        a, b = x - 1, x - 2
        return 2 * x * a**2 * b**2 + 2 * (x**2 + 1) * a * b * (2 * x - 3)

    def d2f(x):
        # f = u * q**2 with u = x^2 + 1 and q = (x-1)(x-2) = x^2 - 3x + 2, q' = 2x - 3, q'' = 2.
        u, du, d2u = x**2 + 1, 2 * x, 2.0
        q, dq, d2q = x**2 - 3 * x + 2, 2 * x - 3, 2.0
        return d2u * q**2 + 2 * du * 2 * q * dq + u * (2 * dq**2 + 2 * q * d2q)

    return ScalarLoss("example2", f, df, d2f, minima=(1.0, 2.0))


def example3(p: int) -> ScalarLoss:
    """Example 3 (reconstructed, not the paper's formula): ``f(x) = x^p / p`` with ``p`` even and ``p > 2``.

    Convex, minimiser 0, ``f'(x) = x^{p-1}``, ``f''(x) = (p-1) x^{p-2}``: the curvature grows
    without bound, so whether GD converges depends on where it starts.
    """
    if not (isinstance(p, (int, np.integer)) and p > 2 and p % 2 == 0):
        raise ValueError(f"p must be an even integer > 2; got {p!r}")

    def f(x):
        return x**p / p

    def df(x):
        return x ** (p - 1)

    def d2f(x):
        return (p - 1) * x ** (p - 2)

    return ScalarLoss(f"example3(p={p})", f, df, d2f, minima=(0.0,))

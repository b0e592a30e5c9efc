"""Two-layer ReLU networks with a fixed bias (Nar & Sastry 2018, Section 4), batched over runs.

The network maps a scalar input to a scalar output,

    f(x) = sum_j w_j relu(v_j x - b_j),         j = 1, ..., m (the width),

with trainable ``w, v`` and a fixed bias ``b``. Parameters of ``B`` independent runs (step sizes,
instances) are arrays of shape ``(B, m)`` and advance in one array computation.

Loss. As in the authors' Figure-2 notebook, the loss is the plain sum of squares

    L(w, v) = sum_i (f(x_i) - y_i)^2          (no 1/2, no 1/N).

A step ``delta`` on this loss is the step ``2 delta`` on the 1/2-normalised loss of the paper's
Theorem 4, so every stability limit in notebook units is half the one in 1/2-loss units.

Gradients (away from the kinks ``v_j x_i = b_j``), with ``r_i = f(x_i) - y_i`` and
``D_ij = 1[v_j x_i - b_j > 0]``:

    dL/dw_j = 2 sum_i r_i relu(v_j x_i - b_j),   dL/dv_j = 2 w_j sum_i r_i x_i D_ij.

``theta`` packs one run's parameters as ``[w, v]`` (length ``2m``) for the Hessian, the GD map and
the period-2 orbit solver.

Two modules build on this one: :mod:`stepsize.models.relu_fates` (long batched runs with checkpoints and the
fate of each run, decided by :func:`stepsize.dynamics.decide_fates`) and :mod:`stepsize.models.relu_orbit`
(fixed points and 2-cycles solved within an activation pattern and verified with the true map; the
simpler :func:`period2_orbit` below ignores the kinks and is kept for smooth maps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------
# Instances (Figure 2's set-up)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One or several Figure-2 problems: grid ``x`` (N,), bias ``b``, target ``y`` and start.

    ``b, w_target, v_target, w0, v0`` have shape ``(B, m)``; ``y`` has shape ``(B, N)``; ``seeds``
    (B,) records which seed made each row.
    """

    x: np.ndarray
    b: np.ndarray
    w_target: np.ndarray
    v_target: np.ndarray
    y: np.ndarray
    w0: np.ndarray
    v0: np.ndarray
    seeds: np.ndarray

    def row(self, k: int) -> Instance:
        """Instance ``k`` alone (arrays keep their leading axis of length 1)."""
        s = slice(k, k + 1)
        return Instance(
            self.x, self.b[s], self.w_target[s], self.v_target[s], self.y[s], self.w0[s], self.v0[s], self.seeds[s]
        )


def grid(n_points: int = 1000) -> np.ndarray:
    """The notebook's inputs ``x_i = i / n_points``, i = 0, ..., n_points - 1 (``arange(0, 1, 1e-3)``)."""
    return np.arange(n_points) / n_points


def make_instances(seeds: np.ndarray | list[int], width: int = 20, n_points: int = 1000) -> Instance:
    """Figure-2 instances, one per seed (Nar & Sastry 2018, Fig. 2; set-up of the authors' notebook).

    For each seed, ``default_rng(seed)`` draws, in this order, ``b ~ N(0, 1)^m`` (fixed), the target
    network ``w*, v* ~ N(0, 1)^m`` (so the target ``y_i = f*(x_i)`` is exactly representable) and the
    start ``w0, v0 ~ N(0, 1)^m``. The notebook drew with TensorFlow; these are numpy draws of the same
    distributions, not the paper's numbers.
    """
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
    x = grid(n_points)
    rows = []
    for s in seeds:  # a few scalars per seed; the heavy work is batched elsewhere
        rng = np.random.default_rng(int(s))
        rows.append(rng.standard_normal((5, width)))
    d = np.stack(rows)  # (B, 5, m)
    b, wt, vt, w0, v0 = (d[:, k] for k in range(5))
    y = forward(wt, vt, b, x)
    return Instance(x, b, wt, vt, y, w0, v0, seeds)


# ---------------------------------------------------------------------------------------------
# Dense reference formulas (any batch shape, any x)
# ---------------------------------------------------------------------------------------------


def preactivation(v: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``z_ij = v_j x_i - b_j``, shape ``(..., N, m)`` for ``v, b`` of shape ``(..., m)``."""
    return v[..., None, :] * x[:, None] - b[..., None, :]


def forward(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Network output ``f(x_i) = sum_j w_j relu(v_j x_i - b_j)``, shape ``(..., N)``."""
    h = np.maximum(preactivation(v, b, x), 0.0)
    return np.einsum("...nm,...m->...n", h, w)


def loss(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum-of-squares loss ``L = sum_i (f(x_i) - y_i)^2`` (the notebook's, no 1/2), shape ``(...)``."""
    return np.sum((forward(w, v, b, x) - y) ** 2, axis=-1)


def gradients(
    w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hand-written ``(dL/dw, dL/dv)`` of the sum-of-squares loss (formulas in the module docstring)."""
    z = preactivation(v, b, x)
    h = np.maximum(z, 0.0)
    r = np.einsum("...nm,...m->...n", h, w) - y
    gw = 2.0 * np.einsum("...n,...nm->...m", r, h)
    gv = 2.0 * w * np.einsum("...n,...nm->...m", r * x, (z > 0).astype(float))
    return gw, gv


def pack(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``theta = [w, v]`` along the last axis."""
    return np.concatenate([w, v], axis=-1)


def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`."""
    m = theta.shape[-1] // 2
    return theta[..., :m], theta[..., m:]


def jacobian(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Jacobian of the outputs for one run: ``J_i = (h_i, x_i D_i w)``, shape ``(N, 2m)``.

    This is the ``J_i`` of the proof of Theorem 4 (Nar & Sastry 2018, Appendix): ``h_i`` the hidden
    activations, ``D_i`` the 0/1 diagonal of active units.
    """
    z = preactivation(v, b, x)
    return np.concatenate([np.maximum(z, 0.0), x[:, None] * (z > 0) * w], axis=-1)


def hessian(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact Hessian of ``L = sum (f - y)^2`` for one run (away from kinks), shape ``(2m, 2m)``.

    ``H = 2 J^T J + 2 sum_i r_i d^2 f_i``; the only second derivatives of ``f_i`` are
    ``d^2 f_i / dw_j dv_j = x_i D_ij`` (f is bilinear in (w_j, v_j) on each linear piece).
    """
    z = preactivation(v, b, x)
    act = z > 0
    J = np.concatenate([np.maximum(z, 0.0), x[:, None] * act * w], axis=-1)
    r = J[:, : w.shape[-1]] @ w - y
    m = w.shape[-1]
    H = 2.0 * J.T @ J
    c = 2.0 * (r * x) @ act
    H[np.arange(m), m + np.arange(m)] += c
    H[m + np.arange(m), np.arange(m)] += c
    return H


def gauss_newton(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gauss-Newton matrix ``2 J^T J`` of the sum-of-squares loss (equals the Hessian where r = 0)."""
    J = jacobian(w, v, b, x)
    return 2.0 * J.T @ J


def sharpness(w: np.ndarray, v: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray | None = None) -> float:
    """Largest eigenvalue of the Hessian of ``sum (f - y)^2`` (Gauss-Newton if ``y`` is None).

    GD on this loss can stay at a minimum only if ``delta <= 2 / lambda_max`` (linear stability).
    """
    H = gauss_newton(w, v, b, x) if y is None else hessian(w, v, b, x, y)
    return float(np.linalg.eigvalsh(H)[-1])


# ---------------------------------------------------------------------------------------------
# Theorem 4 (its exact published inequality is unknown; both forms below are derived, [D])
# ---------------------------------------------------------------------------------------------


def theorem4_quantity(x: np.ndarray, fhat: np.ndarray) -> dict[str, np.ndarray]:
    """[D] The two candidate forms of Theorem 4's quantity at an estimate ``fhat`` (shape (..., N)).

    * ``per_sample``  = max_i |x_i| |fhat(x_i)|  -- proved necessary condition (paper-math.md):
      lambda_max(H_half) >= 2 |x_i fhat(x_i)| for every i;
    * ``aggregated``  = sum_i |x_i| |fhat(x_i)|  -- fits the reviewer's 3.8e-4, only checked
      numerically (not proved).
    """
    a = np.abs(x * fhat)
    return {"per_sample": a.max(axis=-1), "aggregated": a.sum(axis=-1)}


def theorem4_bound(x: np.ndarray, fhat: np.ndarray, form: str = "aggregated", loss: str = "sum") -> np.ndarray:
    """[D] Largest step at which GD can stay at a solution with estimate ``fhat`` (Nar & Sastry, Thm 4).

    On the 1/2-normalised loss the condition reads ``delta <= 1 / q`` with ``q`` from
    :func:`theorem4_quantity` (``form`` = "per_sample" or "aggregated"). On the notebook's
    sum-of-squares loss (``loss="sum"``) the step is halved: ``delta <= 1 / (2 q)``.
    """
    if form not in ("per_sample", "aggregated"):
        raise ValueError("form must be 'per_sample' or 'aggregated'")
    if loss not in ("sum", "half"):
        raise ValueError("loss must be 'sum' or 'half'")
    q = theorem4_quantity(x, fhat)[form]
    return 1.0 / (2.0 * q) if loss == "sum" else 1.0 / q


# ---------------------------------------------------------------------------------------------
# Training: the fast batched path and the plain reference loop
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Training:
    """Result of :func:`train` for ``B`` runs.

    ``w, v`` (B, m): parameters after ``n_steps`` steps; ``f_last`` (B, N): estimate after
    ``n_steps`` steps, ``f_prev`` after ``n_steps - 1``; ``loss`` (B, n_steps + 1): loss of every
    iterate; ``gap1`` (B, n_steps + 1): ``max_i |f_k - f_{k-1}|`` (odd/even difference, NaN at k = 0);
    ``gap2``: ``max_i |f_k - f_{k-2}|`` (distance to a 2-cycle, NaN for k < 2); ``diverged`` (B,).
    With ``record=False`` the gaps are kept for the last step only (shape (B, 1)). ``retired_at``
    (B,): the step after which a run left the batch of :func:`train` (at rest bit for bit, or
    diverged), -1 if it stayed to the end.
    """

    w: np.ndarray
    v: np.ndarray
    f_last: np.ndarray
    f_prev: np.ndarray
    loss: np.ndarray
    gap1: np.ndarray
    gap2: np.ndarray
    diverged: np.ndarray
    retired_at: np.ndarray | None = None


def _boundaries(
    v: np.ndarray, b: np.ndarray, xs: np.ndarray, grid: _Grid | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's activity on the sorted grid ``xs``: boundary index ``k`` and direction ``pos``.

    ``v_j x - b_j > 0`` holds for ``x > b_j / v_j`` if ``v_j > 0`` (active on ``[k, N)``) and for
    ``x < b_j / v_j`` if ``v_j < 0`` (active on ``[0, k)``); ``v_j = 0`` (measure zero) is active
    everywhere if ``b_j < 0`` and nowhere otherwise, written as ``k = 0`` resp. ``N`` with ``pos``.
    With ``grid`` (a strictly increasing ``xs``) the counts come from :func:`_count_le` instead of
    two binary searches; they are the same integers.
    """
    pos = v > 0
    neg = v < 0
    t = b / np.where(neg | pos, v, 1.0)
    if grid is None:
        k = np.where(pos, np.searchsorted(xs, t, side="right"), np.searchsorted(xs, t, side="left"))
    else:
        k = _count_le(t, grid, neg)
    zero = ~(pos | neg)
    if zero.any():
        pos = pos | zero
        k = np.where(zero, np.where(b < 0, 0, xs.size), k)
    return k, pos


@dataclass(frozen=True)
class _Grid:
    """A strictly increasing grid ``xs`` prepared for :func:`_count_le`.

    ``pad = [-inf, xs, +inf]``, so ``pad[k] = xs[k - 1]`` and ``pad[k + 1] = xs[k]``; ``lo, hi``: the
    range clip (beyond it every count is 0 or N); ``x0, scale``: the linear guess of the index.
    """

    xs: np.ndarray
    pad: np.ndarray
    lo: float
    hi: float
    x0: float
    scale: float

    @staticmethod
    def of(xs: np.ndarray) -> _Grid | None:
        """The prepared grid, or None when ``xs`` is too short or not strictly increasing."""
        if xs.size < 2 or not np.all(np.diff(xs) > 0) or not np.all(np.isfinite(xs)):
            return None
        span = float(xs[-1] - xs[0])
        pad = np.concatenate([[-np.inf], xs, [np.inf]])
        return _Grid(xs, pad, float(xs[0]) - 1.0, float(xs[-1]) + 1.0, float(xs[0]), (xs.size - 1) / span)


def _count_le(t: np.ndarray, grid: _Grid, strict: np.ndarray) -> np.ndarray:
    """``#{i : x_i <= t}`` for every entry of ``t``, exactly ``searchsorted(xs, t, "right")``, and
    ``#{i : x_i < t}`` (``searchsorted(xs, t, "left")``) where ``strict``.

    A linear guess ``k = floor((t - x_0) (N - 1) / (x_{N-1} - x_0)) + 1`` (exact on an evenly spaced
    grid up to rounding) is kept where ``x_{k-1} <= t < x_k`` holds (checked, with ``x_{-1} = -inf``,
    ``x_N = +inf``); the other entries (uneven grids, rounding at a grid point, NaN) are searched.
    ``t`` is first clipped to ``[x_0 - 1, x_{N-1} + 1]``, which changes no count. On a strictly
    increasing grid the strict count is one less exactly where ``x_{k-1} = t``.
    """
    N = grid.xs.size
    tc = np.clip(t, grid.lo, grid.hi)
    k = np.floor((tc - grid.x0) * grid.scale).astype(np.int64)
    k += 1
    np.clip(k, 0, N, out=k)
    ok = (grid.pad[k] <= tc) & (tc < grid.pad[k + 1])
    if not ok.all():
        bad = ~ok
        k[bad] = np.searchsorted(grid.xs, t[bad], side="right")
    k -= strict & (grid.pad[k] == tc)
    return k


def _outputs(seg_a: np.ndarray, seg_c: np.ndarray, bnd: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The estimates ``f(x_i) = A_s x_i + C_s`` on the sorted grid, (B, N), from the segments."""
    B = seg_a.shape[0]
    cnt = (bnd[:, 1:] - bnd[:, :-1]).ravel()
    xflat = np.tile(xs, B)
    return (np.repeat(seg_a.ravel(), cnt) * xflat + np.repeat(seg_c.ravel(), cnt)).reshape(B, xs.size)


def train(
    params0: tuple[np.ndarray, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    b: np.ndarray,
    deltas: float | np.ndarray,
    n_steps: int,
    *,
    record: bool = False,
    blowup: float = 1e30,
    retire: bool = True,
    check_every: int = 16,
) -> Training:
    """Full-batch GD ``theta <- theta - delta grad L`` on the sum-of-squares loss, ``B`` runs at once.

    ``params0 = (w0, v0)`` of shape ``(B, m)`` or ``(m,)``; ``b`` (B, m) or (m,); ``y`` (B, N) or
    (N,); ``deltas`` scalar or (B,). ``B`` is the broadcast batch size. A run whose loss exceeds
    ``blowup`` (or overflows) is marked diverged and continues as NaN.

    Speed: with a scalar input each unit is active on one end of the sorted grid (a prefix or a
    suffix), so its ``m`` boundaries cut the grid into ``m + 1`` segments on which the network is
    linear, ``f(x_i) = A_s x_i + C_s``. The slopes and offsets come from cumulative sums over the
    sorted units. The loss and the gradients need only the segment sums of ``r`` and ``r x``, which
    follow from prefix sums of ``1, x, x^2, y, xy, y^2`` over the grid, computed once: a step costs
    O(m log m) per run, independent of N (the outputs on the grid are formed only where recorded,
    and for the last three steps). Agrees with the dense :func:`gradients` to rounding (tested; the
    loss is accurate to about 1e-15 sum y^2); :func:`train_plain` is the straightforward loop.

    Retirement (``retire=True``, only without ``record``): every ``check_every`` steps, a run whose
    last step left ``w`` and ``v`` unchanged bit for bit (it sits on a fixed point of the
    floating-point map, so every later iterate is the same) or that diverged (NaN for ever) leaves
    the batch, and its remaining losses, estimates and gaps are filled in with the values it would
    have computed. Every operation acts on each run's row alone, so the runs that stay give the same
    numbers bit for bit; ``retire=False`` keeps every run to the end (tested to agree exactly).
    """
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    N = xs.size
    grid = _Grid.of(xs)
    w0, v0 = (np.asarray(p, dtype=float) for p in params0)
    b = np.asarray(b, dtype=float)
    y = np.asarray(y, dtype=float)[..., order]
    deltas = np.asarray(deltas, dtype=float)
    if np.any(~np.isfinite(deltas)) or np.any(deltas <= 0):
        raise ValueError("deltas: every step size must be a finite number > 0")
    B = int(
        np.broadcast_shapes(
            np.atleast_2d(w0).shape[:1],
            np.atleast_2d(v0).shape[:1],
            np.atleast_2d(b).shape[:1],
            np.atleast_2d(y).shape[:1],
            np.atleast_1d(deltas).shape,
        )[0]
    )
    m = w0.shape[-1]
    w = np.array(np.broadcast_to(w0, (B, m)), dtype=float)
    v = np.array(np.broadcast_to(v0, (B, m)), dtype=float)
    b = np.ascontiguousarray(np.broadcast_to(b, (B, m)))
    y = np.ascontiguousarray(np.broadcast_to(y, (B, N)))
    d = np.array(np.broadcast_to(deltas, (B,))[:, None])

    # precomputed once: prefix sums over the sorted grid of 1, x, x^2, y, x y, y^2, laid out as
    # (6, B * (N + 1)) so that one gather gives each moment's segment ends as a contiguous (B, m + 2)
    xb = np.broadcast_to(xs, (B, N))
    mom = np.stack([np.ones((B, N)), xb, xb * xb, y, xb * y, y * y], axis=0)
    M = np.concatenate([np.zeros((6, B, 1)), np.cumsum(mom, axis=2)], axis=2).reshape(6, B * (N + 1))
    del mom, xb
    losses = np.empty((B, n_steps + 1))
    n_gap = n_steps + 1 if record else 1
    gap1 = np.full((B, n_gap), np.nan)
    gap2 = np.full((B, n_gap), np.nan)
    # results of every run (filled for a run when it retires, for the others at the end)
    w_out, v_out = np.empty((B, m)), np.empty((B, m))
    f_out, fp_out = np.empty((B, N)), np.empty((B, N))
    lk_out = np.empty(B)
    rows = np.arange(B)  # original index of each run still in the batch
    retired_at = np.full(B, -1, dtype=np.int64)
    retire = retire and not record and check_every > 0
    f = f_prev = f_prev2 = None

    def layout(n: int):
        """Index offsets and buffers for a batch of ``n`` runs (the cumulative sums start at 0)."""
        bnd = np.empty((n, m + 2), dtype=np.int64)
        bnd[:, 0], bnd[:, -1] = 0, N
        return (
            np.arange(n)[:, None] * m,
            np.arange(n)[:, None] * (N + 1),
            bnd,
            np.zeros((2, n, m + 1)),
            np.zeros((2, n, m + 1)),
        )

    off_m, off_n, bnd, cp, cn = layout(B)

    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps + 1):
            kb, pos = _boundaries(v, b, xs, grid)
            perm = np.argsort(kb, axis=1, kind="stable")
            pf = perm + off_m
            ks = np.take(kb, pf)
            ps = np.take(pos, pf)
            q = np.take(np.stack([w * v, -w * b]).reshape(2, -1), pf, axis=1)  # (2, B, m), sorted units
            qp = np.where(ps, q, 0.0)  # units active on a suffix [k, N)
            np.cumsum(qp, axis=2, out=cp[:, :, 1:])
            np.cumsum(q - qp, axis=2, out=cn[:, :, 1:])
            seg = cp + cn[:, :, -1:] - cn  # (2, B, m+1): slope A and offset C on each segment
            A, C = seg
            bnd[:, 1:-1] = ks
            G = np.take(M, bnd + off_n, axis=1)  # (6, B, m + 2)
            sm = G[:, :, 1:] - G[:, :, :-1]  # segment sums of 1, x, x^2, y, xy, y^2
            rr = A * sm[1:3] + C * sm[0:2] - sm[3:5]  # sums of r and of r x over each segment
            lk = np.sum(A * (rr[1] - sm[4]) + C * (rr[0] - sm[3]) + sm[5], axis=1)
            bad = ~(lk <= blowup)
            if bad.any():
                w[bad] = np.nan
                v[bad] = np.nan
            losses[rows, k] = lk
            if record or k >= n_steps - 2:  # outputs on the grid, only where they are used
                f_prev2, f_prev, f = f_prev, f, _outputs(A, C, bnd, xs)
                if record or k == n_steps:
                    j = k if record else 0
                    if f_prev is not None:
                        gap1[rows, j] = np.abs(f - f_prev).max(axis=1)
                    if f_prev2 is not None:
                        gap2[rows, j] = np.abs(f - f_prev2).max(axis=1)
            if k == n_steps:
                break
            pref = np.cumsum(rr, axis=2)  # sums over segments 0..s
            head = pref[:, :, :-1]  # sums over [0, ks[p])
            S = np.empty((2, rows.size * m))
            S[:, pf.ravel()] = np.where(ps, pref[:, :, -1:] - head, head).reshape(2, -1)
            S0, S1 = S.reshape(2, rows.size, m)
            gw = 2.0 * (v * S1 - b * S0)
            gv = 2.0 * w * S1
            w_new = w - d * gw
            v_new = v - d * gv
            if retire and k % check_every == 0 and k < n_steps - 2:
                still = np.all(w_new.view(np.int64) == w.view(np.int64), axis=1)
                still &= np.all(v_new.view(np.int64) == v.view(np.int64), axis=1)
                gone = bad | still
                n_gone = int(gone.sum())
                if n_gone >= max(1, rows.size // 32):
                    # theta_{k+1} = theta_k: every later loss is lk and every later estimate f(theta_k);
                    # a diverged run is NaN from here on
                    orig = rows[gone]
                    st = still & ~bad
                    losses[orig, k + 1 :] = np.where(st[gone], lk[gone], np.nan)[:, None]
                    fr = _outputs(A[gone], C[gone], bnd[gone], xs)
                    fr[bad[gone]] = np.nan
                    f_out[orig], fp_out[orig] = fr, fr
                    gap1[orig, 0] = np.where(st[gone], 0.0, np.nan)
                    gap2[orig, 0] = gap1[orig, 0]
                    w_out[orig], v_out[orig] = w_new[gone], v_new[gone]
                    lk_out[orig] = np.where(st[gone], lk[gone], np.nan)
                    retired_at[orig] = k
                    keep = ~gone
                    rows = rows[keep]
                    if rows.size == 0:
                        break
                    w_new, v_new, b, d = w_new[keep], v_new[keep], b[keep], d[keep]
                    M = M.reshape(6, -1, N + 1)[:, keep].reshape(6, -1)
                    off_m, off_n, bnd, cp, cn = layout(rows.size)
            w, v = w_new, v_new
    if rows.size:
        if f_prev is None:
            f_prev = f
        w_out[rows], v_out[rows], lk_out[rows] = w, v, lk
        f_out[rows], fp_out[rows] = f, f_prev
    inv = np.argsort(order)
    finite = np.all(np.isfinite(f_out), axis=1) & np.all(np.isfinite(w_out) & np.isfinite(v_out), axis=1)
    diverged = ~(finite & (lk_out <= blowup))
    return Training(w_out, v_out, f_out[:, inv], fp_out[:, inv], losses, gap1, gap2, diverged, retired_at)


def train_plain(
    w0: np.ndarray, v0: np.ndarray, x: np.ndarray, y: np.ndarray, b: np.ndarray, delta: float, n_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: one run, the obvious per-step numpy loop (the benchmark's baseline).

    Each step forms the ``(N, m)`` pre-activations, the ReLU and its mask, the output, and the
    gradients of :func:`gradients`. Returns ``(w, v, losses)`` with ``losses`` of length n_steps + 1.
    """
    w = np.array(w0, dtype=float)
    v = np.array(v0, dtype=float)
    losses = np.empty(n_steps + 1)
    for k in range(n_steps + 1):
        z = np.outer(x, v) - b
        h = np.maximum(z, 0.0)
        r = h @ w - y
        losses[k] = r @ r
        if k == n_steps:
            break
        gw = 2.0 * h.T @ r
        gv = 2.0 * w * ((z > 0).T @ (r * x))
        w = w - delta * gw
        v = v - delta * gv
    return w, v, losses


LABELS = ("converged", "higher-loss", "period-2", "irregular", "diverged")
#: Labels of runs whose odd and even estimates differ visibly (or that blew up).
OSCILLATING = ("period-2", "irregular", "diverged")


def classify_training(
    t: Training, y: np.ndarray, *, visible: float = 1e-3, cycle: float = 1e-3, fit: float = 1e-3
) -> np.ndarray:
    """Label each run by its last three estimates (needs ``record=True``); object array (B,).

    With ``scale = max_i |y_i|`` of the run's target and ``gap1 = max|f_n - f_{n-1}|``,
    ``gap2 = max|f_n - f_{n-2}|``:

    * ``"converged"``: ``gap1 < visible * scale`` and loss ``<= fit * sum y^2``;
    * ``"higher-loss"``: ``gap1 < visible * scale`` but a larger loss (at rest at a clearly worse fit,
      e.g. after units died);
    * ``"period-2"``: odd and even estimates differ visibly and ``gap2 <= cycle * gap1``;
    * ``"irregular"``: they differ visibly and the motion is not 2-periodic;
    * ``"diverged"``: overflow or loss above ``blowup``.

    "period-2" means 2-periodic to the eye after ``n`` steps, not a proved orbit (see
    :func:`period2_orbit`). Works with ``record=False`` (uses the last step only).
    """
    y = np.atleast_2d(y)
    scale = np.abs(y).max(axis=1)
    g1, g2, L = t.gap1[:, -1], t.gap2[:, -1], t.loss[:, -1]
    still = g1 < visible * scale
    out = np.where(
        still,
        np.where(L <= fit * np.sum(y**2, axis=1), "converged", "higher-loss"),
        np.where(g2 <= cycle * g1, "period-2", "irregular"),
    )
    return np.where(t.diverged, "diverged", out).astype(object)


@dataclass(frozen=True)
class Sweep:
    """Runs of :func:`sweep`: instance ``s`` at step size ``deltas[d]`` is row ``s * D + d`` of
    ``training``; ``labels``, ``gap1`` (odd/even difference), ``gap2`` and ``loss`` are (S, D)."""

    instances: Instance
    deltas: np.ndarray
    training: Training
    labels: np.ndarray
    gap1: np.ndarray
    gap2: np.ndarray
    loss: np.ndarray

    def shares(self) -> dict[str, np.ndarray]:
        """For each label, the share of instances with it at each step size, shape (D,)."""
        return {lab: np.mean(self.labels == lab, axis=0) for lab in LABELS}

    def estimate(self, s: int, d: int) -> tuple[np.ndarray, np.ndarray]:
        """``(f_{n-1}, f_n)``: the last two estimates of instance ``s`` at ``deltas[d]``."""
        k = s * self.deltas.size + d
        return self.training.f_prev[k], self.training.f_last[k]


def sweep(instances: Instance, deltas: np.ndarray | list[float], n_steps: int, **kw) -> Sweep:
    """Train every instance at every step size from its own start, all in one :func:`train` call.

    Keyword arguments go to :func:`train` (by default ``record=False``: only the loss history and
    the final gaps are kept).
    """
    kw.setdefault("record", False)
    deltas = np.atleast_1d(np.asarray(deltas, dtype=float))
    S, D = instances.seeds.size, deltas.size

    def rep(a):
        return np.repeat(a, D, axis=0)

    t = train(
        (rep(instances.w0), rep(instances.v0)),
        instances.x,
        rep(instances.y),
        rep(instances.b),
        np.tile(deltas, S),
        n_steps,
        **kw,
    )
    labels = classify_training(t, rep(instances.y)).reshape(S, D)
    return Sweep(
        instances,
        deltas,
        t,
        labels,
        t.gap1[:, -1].reshape(S, D),
        t.gap2[:, -1].reshape(S, D),
        t.loss[:, -1].reshape(S, D),
    )


# ---------------------------------------------------------------------------------------------
# The GD map of one run, and its period-2 orbits
# ---------------------------------------------------------------------------------------------


def gd_map(
    b: np.ndarray, x: np.ndarray, y: np.ndarray, delta: float
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """GD map ``G(theta) = theta - delta grad L(theta)`` of one run and its Jacobian ``I - delta H``."""
    b, y = np.ravel(b), np.ravel(y)

    def step(theta: np.ndarray) -> np.ndarray:
        w, v = unpack(theta)
        return theta - delta * pack(*gradients(w, v, b, x, y))

    def jac(theta: np.ndarray) -> np.ndarray:
        w, v = unpack(theta)
        return np.eye(theta.size) - delta * hessian(w, v, b, x, y)

    return step, jac


@dataclass(frozen=True)
class Orbit2:
    """A period-2 orbit ``{theta, G(theta)}`` found by :func:`period2_orbit`.

    ``residual``: ``|G(G(theta)) - theta|`` (max norm); ``separation``: ``|G(theta) - theta|``;
    ``multipliers``: eigenvalues of ``DG(G(theta)) DG(theta)`` (the Floquet multipliers), sorted by
    decreasing modulus; ``iterations``: Newton steps taken.
    """

    theta: np.ndarray
    image: np.ndarray
    residual: float
    separation: float
    multipliers: np.ndarray
    iterations: int

    @property
    def max_multiplier(self) -> float:
        return float(np.abs(self.multipliers[0])) if self.multipliers.size else 0.0


def floquet_multipliers(
    jac: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, image: np.ndarray, keep: np.ndarray | None = None
) -> np.ndarray:
    """Eigenvalues of ``DG(image) DG(theta)``, sorted by decreasing modulus.

    ``keep`` (boolean, length of theta) restricts to a coordinate subspace, e.g. to drop parameters of
    units that are inactive at every data point (they never move: multiplier exactly 1).
    """
    M = jac(image) @ jac(theta)
    if keep is not None:
        M = M[np.ix_(keep, keep)]
    mu = np.linalg.eigvals(M)
    return mu[np.argsort(-np.abs(mu), kind="stable")]


def period2_orbit(
    step: Callable[[np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray], np.ndarray],
    theta0: np.ndarray,
    *,
    tol: float = 1e-13,
    max_iter: int = 50,
    keep: np.ndarray | None = None,
    rcond: float = 1e-10,
) -> Orbit2:
    """Damped Newton's method on ``F(theta) = G(G(theta)) - theta`` from ``theta0``.

    ``DF = DG(G(theta)) DG(theta) - I``. Each step solves ``DF s = -F`` by least squares, with
    singular values below ``rcond`` times the largest cut off (near-neutral directions, e.g. units
    that share one activation pattern, would otherwise give huge steps), restricted to the
    coordinates ``keep`` if given; the step is halved until ``max|F|`` decreases. Stops when
    ``max|F| <= tol (1 + max|theta|)``. The result is a true 2-cycle when the residual is at
    rounding level and ``separation > 0`` (a fixed point also solves ``F = 0``).
    """
    theta = np.array(theta0, dtype=float).ravel()
    idx = np.arange(theta.size) if keep is None else np.flatnonzero(keep)

    def F_of(th):
        return step(step(th)) - th

    F = F_of(theta)
    res = np.max(np.abs(F))
    it = 0
    while it < max_iter and res > tol * (1.0 + np.max(np.abs(theta))):
        it += 1
        g = step(theta)
        DF = (jac(g) @ jac(theta))[np.ix_(idx, idx)] - np.eye(idx.size)
        s = np.zeros_like(theta)
        s[idx] = np.linalg.lstsq(DF, -F[idx], rcond=rcond)[0]
        lam = 1.0
        for _ in range(40):
            trial = theta + lam * s
            Ft = F_of(trial)
            rt = np.max(np.abs(Ft))
            if rt < res:
                break
            lam *= 0.5
        else:
            break  # no decrease along the Newton direction: stop where we are
        theta, F, res = trial, Ft, rt
    g = step(theta)
    residual = float(np.max(np.abs(step(g) - theta)))
    separation = float(np.max(np.abs(g - theta)))
    mu = floquet_multipliers(jac, theta, g, keep)
    return Orbit2(theta, g, residual, separation, mu, it)


def active_units(theta: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Boolean (m,): units active at some data point for parameters ``theta = [w, v]``."""
    _, v = unpack(np.ravel(theta))
    return (preactivation(v, np.ravel(b), x) > 0).any(axis=0)

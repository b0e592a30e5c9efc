"""Full-batch GD on a small tanh network with squared loss, and its sharpness (edge of stability).

Cohen et al. (ICLR 2021) observed that full-batch GD with step ``eta`` on a neural network usually
drives the sharpness ``lambda_max`` of the training loss's Hessian *up* (progressive sharpening)
until it reaches ``2/eta``, and then keeps it hovering near ``2/eta`` while the loss still falls,
non-monotonically. This module provides what is needed to measure it:

* a fully connected tanh network ``f(x) = W_L tanh(... tanh(x W_1 + b_1) ...) + b_L`` and the loss
  ``L(theta) = (1/2n) sum_i ||f(x_i) - y_i||^2``, batched over ``B`` networks at once
  (parameters ``(B, P)``);
* the hand-written gradient (backpropagation) and the *exact* Hessian-vector product by
  Pearlmutter's R-operator (forward-over-backward), both tested against finite differences;
* the sharpness by self-checking Lanczos (:func:`stepsize.sharpness.top_eigenpair_hvp`), warm-started
  from the previous top eigenvector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..sharpness import NotConverged, top_eigenpair_hvp


@dataclass(frozen=True)
class Net:
    """Layer sizes ``(d_in, h_1, ..., d_out)``; parameters are packed as ``W_1, b_1, ..., W_L, b_L``."""

    sizes: tuple[int, ...]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for m, k in zip(self.sizes[:-1], self.sizes[1:]):
            out += [(m, k), (k,)]
        return out

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes))

    def unpack(self, theta: np.ndarray) -> list[np.ndarray]:
        """Views of ``theta`` ``(B, P)`` as ``[W_1 (B, m, k), b_1 (B, k), ...]``."""
        out, i = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(theta[:, i : i + n].reshape((theta.shape[0],) + s))
            i += n
        return out

    def init(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """LeCun-normal weights (variance ``1/fan_in``), zero biases: ``(batch, P)``."""
        parts = []
        for m, k in zip(self.sizes[:-1], self.sizes[1:]):
            parts += [rng.standard_normal((batch, m * k)) / np.sqrt(m), np.zeros((batch, k))]
        return np.concatenate(parts, axis=1)


def _forward(net: Net, theta: np.ndarray, X: np.ndarray):
    ps = net.unpack(theta)
    acts = [np.broadcast_to(X, (theta.shape[0],) + X.shape)]
    L = len(ps) // 2
    for l in range(L):
        z = acts[-1] @ ps[2 * l] + ps[2 * l + 1][:, None, :]
        acts.append(np.tanh(z) if l < L - 1 else z)
    return ps, acts


def loss(net: Net, theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``L = (1/2n) sum_i ||f(x_i) - y_i||^2`` for each of the ``B`` networks, shape ``(B,)``."""
    _, acts = _forward(net, theta, X)
    r = acts[-1] - Y
    return 0.5 * np.einsum("bij,bij->b", r, r) / X.shape[0]


def loss_and_grad(net: Net, theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss ``(B,)`` and its gradient ``(B, P)`` by backpropagation."""
    ps, acts = _forward(net, theta, X)
    n = X.shape[0]
    r = acts[-1] - Y
    g = r / n
    L = len(ps) // 2
    grads: list[np.ndarray] = [None] * len(ps)  # type: ignore[list-item]
    for l in range(L - 1, -1, -1):
        a = acts[l]
        grads[2 * l] = np.swapaxes(a, 1, 2) @ g
        grads[2 * l + 1] = g.sum(axis=1)
        if l > 0:
            g = (g @ np.swapaxes(ps[2 * l], 1, 2)) * (1.0 - a * a)
    flat = np.concatenate([x.reshape(theta.shape[0], -1) for x in grads], axis=1)
    return 0.5 * np.einsum("bij,bij->b", r, r) / n, flat


def hvp(net: Net, theta: np.ndarray, v: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The exact Hessian-vector product ``H(theta) v``, ``(B, P)``, by Pearlmutter's R-operator.

    Forward: ``R(z_l) = R(a_{l-1}) W_l + a_{l-1} V_l + c_l``, ``R(a_l) = (1 - a_l^2) R(z_l)``.
    Backward: ``R(g_L) = R(z_L)/n``; ``R(dW_l) = R(a_{l-1})^T g_l + a_{l-1}^T R(g_l)``;
    ``R(g_{l-1}) = (R(g_l) W_l^T + g_l V_l^T)(1 - a^2) - 2 (g_l W_l^T) a R(a)``.
    """
    ps, acts = _forward(net, theta, X)
    vs = net.unpack(v)
    n = X.shape[0]
    L = len(ps) // 2
    B = theta.shape[0]
    Ra = [np.zeros((B,) + X.shape)]
    for l in range(L):
        Rz = Ra[-1] @ ps[2 * l] + acts[l] @ vs[2 * l] + vs[2 * l + 1][:, None, :]
        Ra.append((1.0 - acts[l + 1] ** 2) * Rz if l < L - 1 else Rz)
    g = (acts[-1] - Y) / n
    Rg = Ra[-1] / n
    out: list[np.ndarray] = [None] * len(ps)  # type: ignore[list-item]
    for l in range(L - 1, -1, -1):
        a, Rai = acts[l], Ra[l]
        out[2 * l] = np.swapaxes(Rai, 1, 2) @ g + np.swapaxes(a, 1, 2) @ Rg
        out[2 * l + 1] = Rg.sum(axis=1)
        if l > 0:
            WT, VT = np.swapaxes(ps[2 * l], 1, 2), np.swapaxes(vs[2 * l], 1, 2)
            ga = g @ WT
            Rga = Rg @ WT + g @ VT
            Rg = Rga * (1.0 - a * a) - 2.0 * ga * a * Rai
            g = ga * (1.0 - a * a)
    return np.concatenate([x.reshape(B, -1) for x in out], axis=1)


def sharpness(
    net: Net, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, v0: np.ndarray | None = None, rtol: float = 1e-6
) -> tuple[float, np.ndarray]:
    """``lambda_max`` of the training loss's Hessian at one network ``theta`` ``(P,)``, and its eigenvector.

    Lanczos on :func:`hvp` (residual-verified; raises :class:`NotConverged`), started from ``v0``
    when given (the previous top eigenvector: a few iterations suffice then).
    """
    th = theta[None, :]

    def op(v: np.ndarray) -> np.ndarray:
        return hvp(net, th, v[None, :], X, Y)[0]

    P = theta.size
    try:  # warm start; atol 0 keeps the residual test purely relative
        return top_eigenpair_hvp(op, P, rtol=rtol, atol=0.0, maxiter=50 * P, v0=v0)
    except NotConverged:
        if v0 is None:
            raise
        return top_eigenpair_hvp(op, P, rtol=rtol, atol=0.0, maxiter=50 * P)  # cold restart


@dataclass(frozen=True)
class EosRun:
    """Training curves of ``B`` runs: ``loss[b, k]`` every step, ``sharp[b, j]`` at ``sharp_steps[j]``."""

    etas: np.ndarray
    loss: np.ndarray
    sharp_steps: np.ndarray
    sharp: np.ndarray
    diverged: np.ndarray


def train(
    net: Net,
    theta0: np.ndarray,
    etas: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    n_steps: int,
    every: int,
    blowup: float = 1e6,
    *,
    workers: int | None = None,
) -> EosRun:
    """Full-batch GD ``theta <- theta - eta_b grad L`` for every run ``b`` at once, tracking the sharpness.

    The sharpness of each run is measured every ``every`` steps (and at the end) by :func:`sharpness`,
    warm-started from that run's previous eigenvector. A run whose loss exceeds ``blowup`` or is not
    finite is diverged: it stops being updated and its later values are NaN. The sharpness checks of
    the runs share ``workers`` threads (default: one per core, at most 2, when the batch is large),
    BLAS at one thread each (so the results do not depend on the machine's number of cores).
    """
    theta = np.array(theta0, dtype=float)
    B = theta.shape[0]
    etas = np.asarray(etas, dtype=float).reshape(B, 1)
    steps = np.unique(np.r_[np.arange(0, n_steps, every), n_steps])
    losses = np.full((B, n_steps + 1), np.nan)
    sharp = np.full((B, steps.size), np.nan)
    vecs: list[np.ndarray | None] = [None] * B
    dead = np.zeros(B, dtype=bool)
    from .mlp import _parallel

    if workers is None:  # threads pay only on large batches (the paper preset), not on the quick one
        big = B * X.shape[0] * max(net.sizes) >= 1 << 18
        workers = max(1, min(2, os.cpu_count() or 1)) if big else 1
    run, close = _parallel(workers)
    try:
        _train_loop(net, theta, etas, X, Y, n_steps, steps, losses, sharp, vecs, dead, blowup, run)
    finally:
        close()
    return EosRun(etas=etas[:, 0], loss=losses, sharp_steps=steps, sharp=sharp, diverged=dead)


def _train_loop(net, theta, etas, X, Y, n_steps, steps, losses, sharp, vecs, dead, blowup, run) -> None:
    j = 0
    for k in range(n_steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            lval, g = loss_and_grad(net, theta, X, Y)
        dead |= ~(np.isfinite(lval) & (lval < blowup))
        losses[~dead, k] = lval[~dead]
        if j < steps.size and k == steps[j]:
            live = np.flatnonzero(~dead)
            # runs are independent: their Lanczos runs share the worker threads (same results)
            for b, (lam, vec) in zip(live, run(lambda b, th=theta: sharpness(net, th[b], X, Y, vecs[b]), live)):
                sharp[b, j], vecs[b] = lam, vec
            j += 1
        if k < n_steps:
            theta = np.where(dead[:, None], theta, theta - etas * g)


def digits_task(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` images of the UCI digits shipped with scikit-learn (8x8, scaled to [0, 1] and
    centred), with one-hot targets; drawn with ``default_rng(seed)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.choice(d.data.shape[0], size=n_samples, replace=False)
    X = d.data[idx] / 16.0
    X = X - X.mean(axis=0)
    Y = np.eye(10)[d.target[idx]]
    return X, Y


@dataclass(frozen=True)
class EdgeSummary:
    """Per run: did the sharpness reach the edge ``eta lambda / 2 >= reach``, where, and what followed.

    ``ratio_after`` is the median of ``eta lambda_max / 2`` over the measurements after the edge was
    reached (NaN where it was not); ``loss_edge`` / ``loss_final`` the loss then and at the end;
    ``sharpening`` the sharpness at the edge over the initial sharpness; ``share_up`` the share of
    steps after the edge at which the loss went up (the non-monotone descent).
    """

    reached: np.ndarray
    step_reached: np.ndarray
    ratio_after: np.ndarray
    loss_edge: np.ndarray
    loss_final: np.ndarray
    sharpening: np.ndarray
    share_up: np.ndarray


def edge_summary(run: EosRun, reach: float = 0.95) -> EdgeSummary:
    """Summarise :func:`train`'s runs against the edge ``2/eta`` (see :class:`EdgeSummary`)."""
    B = run.etas.size
    ratio = run.etas[:, None] * run.sharp / 2.0
    out = {
        k: np.full(B, np.nan)
        for k in ("step_reached", "ratio_after", "loss_edge", "loss_final", "sharpening", "share_up")
    }
    reached = np.zeros(B, dtype=bool)
    for b in range(B):
        ok = np.flatnonzero(np.nan_to_num(ratio[b], nan=-1.0) >= reach)
        out["loss_final"][b] = run.loss[b, -1]
        if run.diverged[b] or ok.size == 0:
            continue
        j = int(ok[0])
        reached[b] = True
        k = int(run.sharp_steps[j])
        out["step_reached"][b] = k
        out["ratio_after"][b] = float(np.nanmedian(ratio[b, j:]))
        out["loss_edge"][b] = run.loss[b, k]
        out["sharpening"][b] = run.sharp[b, j] / run.sharp[b, 0]
        tail = run.loss[b, k:]
        out["share_up"][b] = float(np.mean(np.diff(tail) > 0)) if tail.size > 1 else np.nan
    return EdgeSummary(reached=reached, **out)

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

from dataclasses import dataclass

import numpy as np

from ..sharpness import NotConverged, top_eigenpair_hvp, top_eigenpair_lanczos


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
    return hvp_operator(net, theta, X, Y)(v)


def hvp_operator(net: Net, theta: np.ndarray, X: np.ndarray, Y: np.ndarray):
    """``v -> H(theta) v`` (``(B, P) -> (B, P)``, the products of :func:`hvp`) with everything that does
    not depend on ``v`` computed once: the forward pass, the backpropagated ``g_l``, ``g_l W_l^T``,
    ``1 - a_l^2`` and ``2 (g_l W_l^T) a_l``. Since ``R(a_0) = 0`` (the inputs do not depend on
    ``theta``), its products are left out. A Lanczos run on one network then pays only the
    ``v``-dependent half of each product; the values are those of :func:`hvp`'s formulas, operation
    for operation.
    """
    ps, acts = _forward(net, theta, X)
    n = X.shape[0]
    L = len(ps) // 2
    B = theta.shape[0]
    d = [None] + [1.0 - acts[l] * acts[l] for l in range(1, L)]  # 1 - a_l^2 at the hidden layers
    gs: list = [None] * L  # g_l: the gradient of the loss with respect to z_l (over n)
    gas: list = [None] * L  # g_l W_l^T
    c2: list = [None] * L  # 2 (g_l W_l^T) a_{l-1}
    g = (acts[-1] - Y) / n
    for l in range(L - 1, -1, -1):
        gs[l] = g
        if l > 0:
            ga = g @ np.swapaxes(ps[2 * l], 1, 2)
            gas[l], c2[l] = ga, 2.0 * ga * acts[l]
            g = ga * d[l]
    WTs = [np.swapaxes(ps[2 * l], 1, 2) for l in range(L)]
    XT = np.swapaxes(acts[0], 1, 2)

    def apply(v: np.ndarray) -> np.ndarray:
        vs = net.unpack(v)
        Ra: list = [None]  # R(a_0) = 0
        for l in range(L):
            Rz = acts[l] @ vs[2 * l] if l == 0 else Ra[-1] @ ps[2 * l] + acts[l] @ vs[2 * l]
            Rz = Rz + vs[2 * l + 1][:, None, :]
            Ra.append(d[l + 1] * Rz if l < L - 1 else Rz)
        Rg = Ra[-1] / n
        out: list[np.ndarray] = [None] * len(ps)  # type: ignore[list-item]
        for l in range(L - 1, -1, -1):
            if l == 0:
                out[0] = XT @ Rg
            else:
                out[2 * l] = np.swapaxes(Ra[l], 1, 2) @ gs[l] + np.swapaxes(acts[l], 1, 2) @ Rg
            out[2 * l + 1] = Rg.sum(axis=1)
            if l > 0:
                Rga = Rg @ WTs[l] + gs[l] @ np.swapaxes(vs[2 * l], 1, 2)
                Rg = Rga * d[l] - c2[l] * Ra[l]
        return np.concatenate([x.reshape(B, -1) for x in out], axis=1)

    return apply


def sharpness(
    net: Net,
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    v0: np.ndarray | None = None,
    rtol: float = 1e-6,
    *,
    warm_lanczos: bool = True,
) -> tuple[float, np.ndarray]:
    """``lambda_max`` of the training loss's Hessian at one network ``theta`` ``(P,)``, and its eigenvector.

    Lanczos on :func:`hvp_operator` (residual-verified; raises :class:`NotConverged`). Started from
    ``v0`` (the previous top eigenvector along the run) it is the early-stopping
    :func:`~stepsize.sharpness.top_eigenpair_lanczos`, stopped at a Ritz residual ``rtol lambda``
    (``warm_lanczos=False``: ARPACK from ``v0``), falling back to ARPACK from ``v0`` and then from a
    fixed start when that fails; without ``v0``, ARPACK (:func:`~stepsize.sharpness.top_eigenpair_hvp`,
    Ritz residual ``1e-2 rtol lambda``) from a fixed start. Every route ends with the same check, a
    true residual ``||H v - lambda v|| <= 10 rtol lambda``; the eigenvalue is then within
    ``residual^2 / gap`` of the true one (about 1e-12 relative here), far below what any verdict reads.
    """
    apply = hvp_operator(net, theta[None, :], X, Y)

    def op(v: np.ndarray) -> np.ndarray:
        return apply(v[None, :])[0]

    P = theta.size
    if v0 is not None and warm_lanczos:
        try:
            return top_eigenpair_lanczos(op, v0, rtol=rtol, atol=0.0, maxiter=min(P, 150), stop=rtol)
        except NotConverged:
            pass
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


class _Chunk:
    """GD on a contiguous slice of the runs with its buffers allocated once.

    :meth:`loss_and_grad` performs the operations of :func:`loss_and_grad` in the same order into
    reused arrays (``out=``), network by network the same BLAS calls, so the slice's values are
    bit for bit those of the whole batch: the chunking (and the thread that runs a chunk) does not
    change a result.
    """

    def __init__(self, net: Net, theta: np.ndarray, etas: np.ndarray, X: np.ndarray, Y: np.ndarray):
        self.net, self.X, self.Y = net, X, Y
        self.theta = np.array(theta, dtype=float)  # (c, P), updated in place
        c, n = self.theta.shape[0], X.shape[0]
        self.etas = np.asarray(etas, dtype=float).reshape(c, 1)
        self.ps = net.unpack(self.theta)
        self.grad = np.empty_like(self.theta)
        self.gps = net.unpack(self.grad)
        self.acts = [np.broadcast_to(X, (c,) + X.shape)] + [np.empty((c, n, k)) for k in net.sizes[1:]]
        self.gs = [np.empty((c, n, k)) for k in net.sizes[1:]]  # g_l, the gradient with respect to z_l
        self.tmp = [np.empty((c, n, k)) for k in net.sizes[1:]]
        self.step = np.empty_like(self.theta)
        self.dead = np.zeros(c, dtype=bool)

    def loss_and_grad(self) -> np.ndarray:
        """The loss ``(c,)``; the gradient is left in ``self.grad``."""
        ps, acts, gs, tmp = self.ps, self.acts, self.gs, self.tmp
        L = len(ps) // 2
        n = self.X.shape[0]
        for l in range(L):
            z = np.matmul(acts[l], ps[2 * l], out=acts[l + 1])
            np.add(z, ps[2 * l + 1][:, None, :], out=z)
            if l < L - 1:
                np.tanh(z, out=z)
        r = np.subtract(acts[-1], self.Y, out=tmp[-1])
        lval = 0.5 * np.einsum("bij,bij->b", r, r) / n
        g = np.divide(r, n, out=gs[-1])
        for l in range(L - 1, -1, -1):
            a = acts[l]
            np.matmul(np.swapaxes(a, 1, 2), g, out=self.gps[2 * l])
            np.sum(g, axis=1, out=self.gps[2 * l + 1])
            if l > 0:
                ga = np.matmul(g, np.swapaxes(ps[2 * l], 1, 2), out=gs[l - 1])
                d = np.multiply(a, a, out=tmp[l - 1])
                np.subtract(1.0, d, out=d)
                g = np.multiply(ga, d, out=ga)
        return lval

    def run(self, k0: int, k1: int, losses: np.ndarray, rows: slice, blowup: float) -> None:
        """Steps ``k0..k1``: the update with the gradient of step ``k - 1`` (for ``k > 0``), then the loss
        and gradient of step ``k`` (the update of step ``k1`` is left for the next call)."""
        live = ~self.dead
        for k in range(k0, k1 + 1):
            if k > 0:  # theta <- theta - eta g on the runs alive after step k - 1
                np.multiply(self.etas, self.grad, out=self.step)
                np.subtract(self.theta, self.step, out=self.theta, where=live[:, None])
            lval = self.loss_and_grad()
            self.dead |= ~(np.isfinite(lval) & (lval < blowup))
            live = ~self.dead
            losses[rows, k] = np.where(live, lval, losses[rows, k])


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
    chunk: int = 5,
    warm_lanczos: bool = True,
) -> EosRun:
    """Full-batch GD ``theta <- theta - eta_b grad L`` for every run ``b`` at once, tracking the sharpness.

    The sharpness of each run is measured every ``every`` steps (and at the end) by :func:`sharpness`,
    warm-started from that run's previous eigenvector. A run whose loss exceeds ``blowup`` or is not
    finite is diverged: it stops being updated and its later values are NaN. The runs are trained in
    slices of ``chunk`` networks with reused buffers, and the slices (and then the sharpness checks of
    the runs) share ``workers`` threads (default: one per core, at most 2, when the batch is large),
    BLAS at one thread each: the results are bit for bit those of one batch on one thread, whatever
    ``chunk``, ``workers`` or the threads' timing.
    """
    theta = np.array(theta0, dtype=float)
    B = theta.shape[0]
    etas = np.asarray(etas, dtype=float).reshape(B)
    steps = np.unique(np.r_[np.arange(0, n_steps, every), n_steps])
    losses = np.full((B, n_steps + 1), np.nan)
    sharp = np.full((B, steps.size), np.nan)
    vecs: list[np.ndarray | None] = [None] * B
    from ..parallel import default_workers, pool

    if workers is None:  # threads pay only on large batches (the paper preset), not on the quick one
        big = B * X.shape[0] * max(net.sizes) >= 1 << 18
        workers = default_workers() if big else 1
    c = max(1, int(chunk))
    rows = [slice(i, min(i + c, B)) for i in range(0, B, c)]
    parts = [_Chunk(net, theta[r], etas[r], X, Y) for r in rows]
    run, close = pool(workers)

    def measure(b: int) -> tuple[float, np.ndarray]:
        th = parts[b // c].theta[b % c]
        return sharpness(net, th, X, Y, vecs[b], warm_lanczos=warm_lanczos)

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            k0 = 0
            for j, k1 in enumerate(steps):
                run(lambda i, k0=k0, k1=int(k1): parts[i].run(k0, k1, losses, rows[i], blowup), range(len(parts)))
                k0 = int(k1) + 1
                dead = np.concatenate([p.dead for p in parts])
                live = np.flatnonzero(~dead)
                # runs are independent: their Lanczos runs share the worker threads (same results)
                for b, (lam, vec) in zip(live, run(measure, live)):
                    sharp[b, j], vecs[b] = lam, vec
    finally:
        close()
    dead = np.concatenate([p.dead for p in parts])
    return EosRun(etas=etas, loss=losses, sharp_steps=steps, sharp=sharp, diverged=dead)


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

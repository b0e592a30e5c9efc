"""Fast batched GD/SGD for the GELU networks of :mod:`stepsize.mlp`, with exact Hessian-vector
products and the book's one fate rule (:func:`stepsize.dynamics.decide_fates`).

Parameters of a batch of ``B`` networks are one flat array ``theta`` of shape ``(B, P)``: for each
layer ``W_l`` (``d_l x d_{l-1}``, row-major) followed by ``b_l``. The same model as
:mod:`stepsize.mlp` (GELU hidden layers, linear output, MSE averaged over samples and outputs),
with three changes for speed, none of which changes the arithmetic's precision (float64):

* GELU in its exponential form: the tanh-form GELU ``z/2 (1 + tanh(u))``, ``u = c (z + a z^3)``,
  equals ``z * s`` with ``s = 1 / (1 + exp(-2u))`` (the logistic function of ``2u``), which needs one
  ``exp`` instead of a ``tanh`` and fewer temporaries; it agrees with :func:`stepsize.mlp.gelu` to
  rounding (tested); the forward pass leaves ``z^2`` in a buffer for ``gelu'`` in the backward pass
  (one pass over each activation array fewer, the same numbers bit for bit);
* networks are processed in chunks of a few, by up to two worker threads with BLAS at one thread
  each (:func:`default_workers`), with work buffers reused across steps (no allocator churn), and
  every update is fused in place; the sharpness checks of runs that settle at the same step share
  the threads too; joint batches with enough work (activations times the cap, :data:`PROCESS_WORK`;
  the digits chapter's quick and paper presets) go to two processes instead (:func:`gd_fates_joint`),
  which do not share Python's global lock; a sharpness check does the parameters' share of its
  Hessian-vector products once (:func:`hvp_at`);
* runs that are decided (diverged, or converged *and* linearly stable) leave the batch.

Every network is computed on its own (no reduction mixes two networks, and each network's sums are
taken row by row, :func:`row_sumsq`), so the result of each run is bit-for-bit the same whatever the
chunk size, its chunk partners, the order in which chunks are processed, or the process (tested).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..dynamics import Fate, decide_fates
from ..shares import wilson
from ..sharpness import NotConverged, lambda_max_hvp
from .mlp import Layers

_C = float(np.sqrt(2.0 / np.pi))
_A = 0.044715


# ---------------------------------------------------------------------------------------------
# Layout of the flat parameter vector
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where ``W_l`` and ``b_l`` of each layer sit in the flat vector of length ``P``."""

    sizes: tuple[int, ...]
    offsets: tuple[tuple[int, int, int], ...]  # (start of W_l, start of b_l, end of b_l)
    P: int

    @staticmethod
    def of(sizes) -> Layout:
        sizes = tuple(int(s) for s in sizes)
        offs, o = [], 0
        for l in range(len(sizes) - 1):
            w = o + sizes[l + 1] * sizes[l]
            e = w + sizes[l + 1]
            offs.append((o, w, e))
            o = e
        return Layout(sizes, tuple(offs), o)

    def views(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W_l (c, d_l, d_{l-1}), b_l (c, d_l))]`` as views into ``theta`` of shape ``(c, P)``."""
        c = theta.shape[0]
        return [
            (theta[:, o:w].reshape(c, self.sizes[l + 1], self.sizes[l]), theta[:, w:e])
            for l, (o, w, e) in enumerate(self.offsets)
        ]


def flatten(layers: Layers) -> np.ndarray:
    """The layers of :mod:`stepsize.mlp` as one flat array ``(B, P)``."""
    B = layers[0][0].shape[0]
    return np.concatenate([np.concatenate([W.reshape(B, -1), b], axis=1) for W, b in layers], axis=1)


def unflatten(theta: np.ndarray, sizes) -> Layers:
    """Inverse of :func:`flatten` (copies)."""
    return [(W.copy(), b.copy()) for W, b in Layout.of(sizes).views(np.atleast_2d(theta))]


# ---------------------------------------------------------------------------------------------
# GELU, exponential form
# ---------------------------------------------------------------------------------------------
def gelu_s(z: np.ndarray, s: np.ndarray | None = None, zz: np.ndarray | None = None) -> np.ndarray:
    """``s = 1 / (1 + exp(-2 c z (1 + a z^2)))``, so that ``gelu(z) = z s`` (tanh form, exactly).

    With ``zz`` (a buffer like ``z``), ``z^2`` is left there for :func:`gelu_prime_s` (``squared=True``),
    which then does not compute it again; ``s`` is the same bit for bit either way.
    """
    if zz is None:
        s = np.multiply(z, z, out=s)
        s *= -2.0 * _C * _A
    else:
        np.multiply(z, z, out=zz)
        s = np.multiply(zz, -2.0 * _C * _A, out=s)
    s -= 2.0 * _C
    s *= z
    with np.errstate(over="ignore", under="ignore"):
        np.exp(s, out=s)
    s += 1.0
    np.reciprocal(s, out=s)
    return s


def gelu_exp(z: np.ndarray) -> np.ndarray:
    """``gelu(z) = z / (1 + exp(-2u))``, ``u = c (z + a z^3)``: the tanh form of :func:`stepsize.mlp.gelu`."""
    return z * gelu_s(z)


def gelu_prime_s(
    z: np.ndarray,
    s: np.ndarray,
    out: np.ndarray | None = None,
    tmp: np.ndarray | None = None,
    squared: bool = False,
) -> np.ndarray:
    """``gelu'(z) = s + 2 z s (1 - s) u'`` with ``u' = c (1 + 3 a z^2)`` and ``s`` of :func:`gelu_s`.

    With ``squared``, ``tmp`` already holds ``z^2`` (the ``zz`` of :func:`gelu_s`) and is overwritten;
    the result is the same bit for bit.
    """
    g = np.subtract(1.0, s, out=out)
    g *= s
    g *= z
    q = tmp if squared else np.multiply(z, z, out=tmp)
    q *= 6.0 * _C * _A
    q += 2.0 * _C
    g *= q
    g += s
    return g


def gelu_second_s(z: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``gelu''(z) = 4 s (1 - s) [u' - z (2 s - 1) u'^2 + 3 a c z^2]`` (``u'' = 6 a c z``)."""
    up = _C * (1.0 + 3.0 * _A * z * z)
    return 4.0 * s * (1.0 - s) * (up - z * (2.0 * s - 1.0) * up * up + 3.0 * _A * _C * z * z)


# ---------------------------------------------------------------------------------------------
# Loss, gradient and Hessian-vector product of a chunk of networks
# ---------------------------------------------------------------------------------------------
class Workspace:
    """Work buffers for chunks of at most ``c`` networks on inputs of ``N`` samples (reused)."""

    def __init__(self, layout: Layout, c: int, N: int):
        d = layout.sizes
        self.layout, self.c, self.N = layout, c, N
        self.z = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 2)]
        self.s = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 2)]
        self.h = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 2)]
        self.out = np.empty((c, N, d[-1]))
        self.ones = np.ones((1, N))
        self.dl = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 1)]
        self.t1 = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 2)]
        self.t2 = [np.empty((c, N, d[l + 1])) for l in range(len(d) - 2)]
        self.sq = np.empty(c * max(N * d[-1], layout.P))  # squares for row_sumsq


def row_sumsq(a: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """``sum_j a_ij^2`` per row of the 2-D ``a`` (``tmp`` a buffer of its shape).

    numpy's pairwise sum along the last axis, row by row: each row's value is the same bit for bit
    whichever other rows share the array (``einsum("bp,bp->b")`` is not: its sum for one row changed
    with the number of rows, measured), so a run's loss and norms do not depend on the chunk it is in.
    """
    np.multiply(a, a, out=tmp)
    return np.add.reduce(tmp, axis=1)


def _mm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.matmul(a, b, out=out)


def value_and_grad(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, ws: Workspace, grad: np.ndarray | None
) -> np.ndarray:
    """MSE per network (shape ``(c,)``) and its gradient written into ``grad`` ``(c, P)``.

    ``theta`` is ``(c, P)`` with ``c <= ws.c``; ``X`` is ``(N, d_0)`` (shared) or ``(c, N, d_0)``,
    ``Y`` likewise. Backpropagation as in :func:`stepsize.mlp.loss_and_grad`; with ``grad=None``
    only the loss is computed.
    """
    c = theta.shape[0]
    lay = ws.layout
    Wb = lay.views(theta)
    nL = len(Wb)
    h = X
    hs = []
    for l in range(nL - 1):
        W, b = Wb[l]
        z = _mm(h, np.swapaxes(W, 1, 2), ws.z[l][:c])
        z += b[:, None, :]
        s = gelu_s(z, ws.s[l][:c], None if grad is None else ws.t2[l][:c])  # z^2 kept for the backward pass
        h = np.multiply(z, s, out=ws.h[l][:c])
        hs.append(h)
    W, b = Wb[-1]
    out = _mm(h, np.swapaxes(W, 1, 2), ws.out[:c])
    out += b[:, None, :]
    out -= Y
    N, K = out.shape[1], out.shape[2]
    lo = row_sumsq(out.reshape(c, N * K), ws.sq[: c * N * K].reshape(c, N * K)) / (N * K)
    if grad is None:
        return lo
    gWb = lay.views(grad)
    delta = out
    delta *= 2.0 / (N * K)
    for l in range(nL - 1, -1, -1):
        gW, gb = gWb[l]
        h_prev = hs[l - 1] if l > 0 else X
        if h_prev.ndim == 2:
            h_prev = np.broadcast_to(h_prev, (c,) + h_prev.shape)
        _mm(np.swapaxes(delta, 1, 2), h_prev, gW)
        np.matmul(ws.ones[:, : delta.shape[1]], delta, out=gb[:, None, :])  # sum over samples, by BLAS
        if l > 0:
            W = Wb[l][0]
            nd = _mm(delta, W, ws.dl[l - 1][:c])
            nd *= gelu_prime_s(ws.z[l - 1][:c], ws.s[l - 1][:c], ws.t1[l - 1][:c], ws.t2[l - 1][:c], squared=True)
            delta = nd
    return lo


def loss_flat(theta: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """MSE of each network of ``theta`` ``(B, P)`` (convenience, allocates)."""
    theta = np.atleast_2d(theta)
    ws = Workspace(Layout.of(sizes), theta.shape[0], X.shape[-2])
    return value_and_grad(theta, X, Y, ws, np.empty_like(theta))


def grad_flat(theta: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Gradient ``(B, P)`` of each network's MSE (convenience, allocates)."""
    theta = np.atleast_2d(theta)
    ws = Workspace(Layout.of(sizes), theta.shape[0], X.shape[-2])
    g = np.empty_like(theta)
    value_and_grad(theta, X, Y, ws, g)
    return g


def hvp_at(theta: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The operator ``v -> H(theta_i) v_i`` of exact Hessian-vector products of the MSE, by the
    R-operator (forward-over-backward differentiation of the backpropagation of :func:`value_and_grad`).

    ``theta`` is ``(c, P)`` (or ``(P,)``), the operator takes ``v`` of the same shape. With ``R{.}``
    the directional derivative along ``v``: ``R z_l = R h_{l-1} W_l^T + h_{l-1} V_l^T + Vb_l``,
    ``R h_l = gelu'(z_l) R z_l``, ``R delta_L = 2 R f / (N K)``,
    ``R delta_{l-1} = (R delta_l W_l + delta_l V_l) gelu'(z_{l-1}) + (delta_l W_l) gelu''(z_{l-1}) R z_{l-1}``,
    ``R dW_l = R delta_l^T h_{l-1} + delta_l^T R h_{l-1}``, ``R db_l = sum_i R delta_l``.

    What depends on ``theta`` alone (the forward pass with its ``exp``, ``gelu'``, ``gelu''``, the
    ``delta_l`` and ``(delta_l W_l) gelu''(z_{l-1})``) is computed once, here; each product then does
    only the work that depends on ``v`` (a Lanczos run asks for dozens at one ``theta``). The
    arithmetic of each product is unchanged (the same operations in the same order: :func:`hvp` is
    this operator applied once, and tests hold both to finite differences).
    """
    single = np.ndim(theta) == 1
    theta = np.atleast_2d(theta)
    lay = Layout.of(sizes)
    Wb = lay.views(theta)
    nL = len(Wb)
    h = X
    hs, gps, g2s = [], [], []  # h_l, gelu'(z_l), gelu''(z_l) per hidden layer
    for l in range(nL - 1):
        W, b = Wb[l]
        z = np.matmul(h, np.swapaxes(W, 1, 2)) + b[:, None, :]
        s = gelu_s(z)
        h = z * s
        hs.append(h), gps.append(gelu_prime_s(z, s)), g2s.append(gelu_second_s(z, s))
    W, b = Wb[-1]
    f = np.matmul(h, np.swapaxes(W, 1, 2)) + b[:, None, :]
    N, K = f.shape[1], f.shape[2]
    delta = (f - Y) * (2.0 / (N * K))
    deltas, dWg2 = [None] * nL, [None] * nL  # delta_l, and (delta_l W_l) gelu''(z_{l-1}) for l > 0
    for l in range(nL - 1, -1, -1):
        deltas[l] = delta
        if l > 0:
            dW = np.matmul(delta, Wb[l][0])
            dWg2[l] = dW * g2s[l - 1]
            delta = dW * gps[l - 1]
    del g2s

    def apply(v: np.ndarray) -> np.ndarray:
        v2 = np.atleast_2d(v)
        Vb = lay.views(v2)
        h, Rh = X, None
        Rzs, Rhs = [], []
        for l in range(nL - 1):
            W, (V, vb) = Wb[l][0], Vb[l]
            Rz = np.matmul(h, np.swapaxes(V, 1, 2)) + vb[:, None, :]
            if Rh is not None:
                Rz += np.matmul(Rh, np.swapaxes(W, 1, 2))
            Rh = gps[l] * Rz
            h = hs[l]
            Rzs.append(Rz), Rhs.append(Rh)
        W, (V, vb) = Wb[-1][0], Vb[-1]
        Rf = np.matmul(h, np.swapaxes(V, 1, 2)) + vb[:, None, :]
        if Rh is not None:
            Rf += np.matmul(Rh, np.swapaxes(W, 1, 2))
        Rdelta = Rf * (2.0 / (N * K))
        out = np.empty_like(v2)
        Ob = lay.views(out)
        for l in range(nL - 1, -1, -1):
            oW, ob = Ob[l]
            h_prev = hs[l - 1] if l > 0 else X
            RgW = np.matmul(np.swapaxes(Rdelta, 1, 2), h_prev)
            if l > 0:
                RgW += np.matmul(np.swapaxes(deltas[l], 1, 2), Rhs[l - 1])
            oW[...] = RgW
            ob[...] = Rdelta.sum(axis=1)
            if l > 0:
                W, V = Wb[l][0], Vb[l][0]
                Rdelta = (np.matmul(Rdelta, W) + np.matmul(deltas[l], V)) * gps[l - 1] + dWg2[l] * Rzs[l - 1]
        return out[0] if single else out

    return apply


def hvp(theta: np.ndarray, v: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Exact Hessian-vector products ``H(theta_i) v_i`` of the MSE (``theta`` and ``v`` ``(c, P)`` or
    ``(P,)``): :func:`hvp_at` applied once."""
    return hvp_at(theta, sizes, X, Y)(v)


def dense_hessian_fd(theta: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The Hessian of one network ``theta`` ``(P,)`` by central differences of the gradient (for tests)."""
    P = theta.size
    E = np.eye(P) * h
    gp = grad_flat(theta[None, :] + E, sizes, X, Y)
    gm = grad_flat(theta[None, :] - E, sizes, X, Y)
    H = (gp - gm) / (2 * h)
    return 0.5 * (H + H.T)


def sharpness(theta: np.ndarray, sizes, X: np.ndarray, Y: np.ndarray, *, rtol: float = 1e-7) -> float:
    """``lambda_max`` of the MSE Hessian at one network ``theta`` ``(P,)``: Lanczos on :func:`hvp`
    (:func:`stepsize.sharpness.lambda_max_hvp`, residual-checked); NaN if it did not converge."""
    op = hvp_at(theta[None, :], sizes, X, Y)  # the theta-only work once, not at every product
    try:
        return lambda_max_hvp(lambda v: op(v[None, :])[0], theta.size, rtol=rtol)
    except NotConverged:
        return float("nan")


# ---------------------------------------------------------------------------------------------
# GD with fates
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GDFates:
    """Outcome of :func:`gd_fates`, one entry per run.

    ``kind`` (values of :class:`stepsize.dynamics.Fate`), ``eta_sharpness`` (``eta * lambda_max``
    where the run stopped; NaN if it diverged), ``steps`` (steps taken), ``settled`` (its update
    stayed below ``update_tol`` over the trailing window when it stopped), ``final_loss``,
    ``final_grad_norm``, ``loss`` ``(n_record + 1, B)`` the loss before each of the first
    ``n_record`` steps and after the last (NaN once a run diverged), ``stopped_early`` (an
    undecided run stopped before the cap because its group's share was already decided).
    """

    kind: np.ndarray
    eta_sharpness: np.ndarray
    steps: np.ndarray
    settled: np.ndarray
    final_loss: np.ndarray
    final_grad_norm: np.ndarray
    loss: np.ndarray
    stopped_early: np.ndarray
    theta: np.ndarray = field(repr=False)

    def mask(self, fate: Fate) -> np.ndarray:
        return self.kind == int(fate)


def group_decided(conv: int, active: int, n: int, threshold: float = 0.5) -> bool:
    """Whether a group's share of converged runs is decided against ``threshold`` whatever its
    ``active`` (still undecided) runs do: the Wilson interval of ``conv / n`` lies above it, or
    that of ``(conv + active) / n`` lies below it."""
    return wilson(conv, n)[0] > threshold or wilson(conv + active, n)[1] < threshold


def chunk_size(layout: Layout, N: int, target: int = 1 << 16) -> int:
    """Networks per chunk so that one activation buffer holds about ``target`` numbers."""
    return max(1, target // max(1, N * max(layout.sizes[1:])))


def per_worker_chunk(c: int, n: int, workers: int) -> int:
    """Networks per chunk for ``n`` runs: ``c`` (:func:`chunk_size`), or fewer, ``ceil(n / workers)``,
    when that leaves a worker thread without a chunk (at the digits chapter's quick size one chunk
    held a whole batch of 40 small networks and the second core idled). A run's arithmetic does not
    depend on its chunk (tested), so neither does the result."""
    return max(1, min(c, -(-n // max(1, workers))))


class _closing:
    """Context manager calling ``close()`` on exit, also on an exception."""

    def __init__(self, close):
        self.close = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def default_workers() -> int:
    """Worker threads of :func:`gd_fates` when not given (:func:`stepsize.parallel.default_workers`)."""
    from ..parallel import default_workers as dw

    return dw()


def _pool(lay: Layout, c: int, N: int, workers: int):
    """``(buffers, run_chunks, close)``: per-thread work buffers and a runner of chunk jobs.

    ``run_chunks(job, items)`` calls ``job(item)`` for every item (in threads when ``workers > 1``)
    and returns the results in the order of ``items``; each job writes only its own rows, so the
    result does not depend on which thread ran which job, nor when.
    """
    import threading

    local = threading.local()

    def buffers():
        if not hasattr(local, "ws"):
            local.ws, local.G = Workspace(lay, c, N), np.empty((c, lay.P))
        return local.ws, local.G

    from ..parallel import pool

    # one BLAS thread per worker: the matrices of a chunk are small, and threads inside BLAS cost
    # more than they give (and would compete with the workers); each job in a copy of the caller's
    # context, so numpy's error state (np.errstate) holds there too
    run_chunks, close = pool(workers)
    return buffers, run_chunks, close


def _chunk_step(
    ws: Workspace,
    G: np.ndarray,
    Th: np.ndarray,
    sl: slice,
    X: np.ndarray,
    Y: np.ndarray,
    eta: np.ndarray | None,
    lo: np.ndarray,
    gn: np.ndarray,
    tn: np.ndarray,
) -> None:
    """One GD step on the rows ``sl`` of ``Th``, in place: loss, gradient norm and parameter norm at
    ``theta_k`` into ``lo``, ``gn``, ``tn``, then ``theta_{k+1} = theta_k - eta g`` fused in place
    (no step when ``eta`` is None)."""
    g = G[: sl.stop - sl.start]
    t = Th[sl]
    lo[sl] = value_and_grad(t, X, Y, ws, g)
    sq = ws.sq[: g.size].reshape(g.shape)
    gn[sl] = np.sqrt(row_sumsq(g, sq))
    tn[sl] = np.sqrt(row_sumsq(t, sq))
    if eta is not None:  # fused in place: theta <- theta - eta g
        g *= eta[:, None]
        t -= g


def gd_steps(
    theta0: np.ndarray,
    sizes,
    X: np.ndarray,
    Y: np.ndarray,
    eta: np.ndarray,
    n_steps: int,
    *,
    chunk: int | None = None,
    workers: int | None = None,
    chunk_order_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain full-batch GD: ``n_steps`` steps of the arithmetic of :func:`gd_fates` on every run (no
    fates, no run leaves the batch). Returns the parameters after the steps and the loss before
    each step ``(n_steps, B)``; bit-for-bit the iterates of :func:`gd_fates` while no run stops (for
    benchmarks and tests)."""
    lay = Layout.of(sizes)
    Th = np.array(np.atleast_2d(theta0), dtype=float, copy=True)
    B, N = Th.shape[0], X.shape[0]
    eta = np.broadcast_to(np.asarray(eta, dtype=float), (B,)).copy()
    c = chunk or chunk_size(lay, N)
    nw = default_workers() if workers is None else workers
    buffers, run_chunks, close = _pool(lay, c, N, nw)
    losses = np.empty((n_steps, B))
    gn, tn = np.empty(B), np.empty(B)
    c = c if chunk else per_worker_chunk(c, B, nw)
    with np.errstate(over="ignore", invalid="ignore"), _closing(close):
        for k in range(n_steps):
            starts = list(range(0, B, c))
            if chunk_order_seed is not None:
                starts = [starts[j] for j in np.random.default_rng(chunk_order_seed + k).permutation(len(starts))]

            def job(a, k=k):
                sl = slice(a, min(a + c, B))
                _chunk_step(*buffers(), Th, sl, X, Y, eta[sl], losses[k], gn, tn)

            run_chunks(job, starts)
    return Th, losses


def gd_fates(
    theta0: np.ndarray,
    sizes,
    X: np.ndarray,
    Y: np.ndarray,
    eta: np.ndarray,
    *,
    n_steps: int,
    max_steps: int,
    window: int = 100,
    update_tol: float = 3e-4,
    check_every: int = 25,
    blowup: float = 1e8,
    groups: np.ndarray | None = None,
    chunk: int | None = None,
    chunk_order_seed: int | None = None,
    workers: int | None = None,
) -> GDFates:
    """Full-batch GD ``theta <- theta - eta grad L`` on every run, each classified by the one rule.

    Every run takes at least ``n_steps`` steps (unless it diverges), at most ``max_steps`` (the
    stated cap). Every ``check_every`` steps after ``n_steps``:

    * a run whose loss is not finite or exceeds ``blowup`` times its initial loss is ``DIVERGED``
      (checked every step; it leaves the batch);
    * a run is *settled* when its update is small at every step of the trailing ``window``:
      ``eta ||grad L(theta_k)|| <= update_tol (1 + ||theta_k||)`` (the relative test of
      :func:`stepsize.dynamics.settled_period` for period 1);
      for a settled run ``eta * lambda_max(H)`` is computed (:func:`sharpness`) and
      :func:`stepsize.dynamics.decide_fates` decides: ``CONVERGED`` (it leaves the batch) only when
      it is below 2, otherwise the run goes on;
    * with ``groups`` (one label per run, e.g. its depth and step size), the runs of a group whose
      share of converged runs is already decided against 1/2 (:func:`group_decided`) stop.

    Runs still going at the cap, or stopped with their group, are ``UNDECIDED`` (their
    ``eta * lambda_max`` at the end is computed too). ``chunk`` networks are processed at a time;
    ``chunk_order_seed`` shuffles the order of the chunks at every step (the result does not depend
    on it nor on ``chunk``: tested). ``workers`` threads (default :func:`default_workers`) process
    chunks, and the sharpness of runs checked at the same step, in parallel, each with its own
    buffers and BLAS limited to one thread (every run's arithmetic is unchanged: tested).
    :func:`gd_fates_joint` runs several batches in step, with a stopping rule that sees them all.
    """
    rule = None if groups is None else group_rule([groups])
    problem = Problem(theta0, sizes, eta)
    return gd_fates_joint(
        [problem],
        X,
        Y,
        n_steps=n_steps,
        max_steps=max_steps,
        window=window,
        update_tol=update_tol,
        check_every=check_every,
        blowup=blowup,
        rule=rule,
        chunk=chunk,
        chunk_order_seed=chunk_order_seed,
        workers=workers,
    )[0]


def group_rule(groups: list[np.ndarray]):
    """The stopping rule of :func:`gd_fates`'s ``groups`` for :func:`gd_fates_joint`: ``groups[i]``
    labels the runs of batch ``i``; the runs of a group (of one batch) whose share of converged runs
    is already decided against 1/2 (:func:`group_decided`) stop. Batches do not see each other, so
    the joint run gives every batch what :func:`gd_fates` gives it alone (tested)."""
    labels = [np.asarray(g) for g in groups]

    def rule(kinds):
        stops = []
        for lab, kind in zip(labels, kinds):
            stop = np.zeros(kind.size, dtype=bool)
            for gval in np.unique(lab):
                ing = lab == gval
                conv = int(np.sum(ing & (kind == int(Fate.CONVERGED))))
                active = int(np.sum(ing & (kind == int(Fate.UNDECIDED))))
                if active and group_decided(conv, active, int(ing.sum())):
                    stop |= ing
            stops.append(stop)
        return stops

    return rule


@dataclass(frozen=True)
class Problem:
    """One batch of :func:`gd_fates_joint`: initial parameters ``theta0`` ``(B, P)`` of networks of
    layer ``sizes``, and one step size per run."""

    theta0: np.ndarray
    sizes: tuple[int, ...] | list[int]
    eta: np.ndarray


def gd_fates_joint(
    problems: list[Problem],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    n_steps: int,
    max_steps: int,
    window: int = 100,
    update_tol: float = 3e-4,
    check_every: int = 25,
    blowup: float = 1e8,
    rule=None,
    chunk: int | None = None,
    chunk_order_seed: int | None = None,
    workers: int | None = None,
    processes: bool | None = None,
) -> list[GDFates]:
    """:func:`gd_fates` on several batches (e.g. one per depth) in step, with one stopping ``rule``.

    At every check (the steps at which :func:`gd_fates` decides fates) and after the runs decided
    there have left, ``rule(kinds)`` is called with each batch's current ``kind`` array (runs still
    going are ``UNDECIDED``) and returns, per batch, a boolean mask of runs to stop now (an entry for
    a run that has left already is ignored). Stopped runs are ``UNDECIDED`` with ``stopped_early``.
    Each run's arithmetic, and so every run that is not stopped, is the same as with
    :func:`gd_fates` on its batch alone (tested).

    With ``processes`` (default: when ``workers > 1`` and the batches' activations times the cap,
    ``sum B N width * max_steps``, reach :data:`PROCESS_WORK`), the runs of every batch are
    dealt to ``workers`` separate processes (run ``i`` to process ``i mod workers``), each one thread
    with BLAS at one thread; only the ``kind`` arrays and the stop masks cross at every check, the
    rule still sees every run. Threads in one process lose about a fifth of two cores to Python's
    global lock between numpy calls (measured at the digits chapter's paper size: 0.84-1.0 ms per
    network step against 0.69 for two processes); the result is the same bit for bit (tested).
    """
    if not 0 < n_steps <= max_steps:
        raise ValueError("gd_fates: need 0 < n_steps <= max_steps")
    nw = default_workers() if workers is None else workers
    if processes is None:
        work = sum(np.atleast_2d(p.theta0).shape[0] * X.shape[0] * max(p.sizes[1:]) for p in problems)
        processes = nw > 1 and work * max_steps >= PROCESS_WORK
    args = (n_steps, max_steps, window, update_tol, check_every, blowup, chunk, chunk_order_seed)
    if processes and nw > 1:
        return _joint_in_processes(problems, X, Y, args, rule, nw)
    runs = [_gd_run(p, X, Y, *args, workers) for p in problems]
    results: list[GDFates | None] = [None] * len(runs)
    kinds: list[np.ndarray | None] = [None] * len(runs)

    def advance(i, send):
        try:
            kinds[i] = runs[i].send(send)
        except StopIteration as fin:
            results[i] = fin.value
            kinds[i] = fin.value.kind

    for i in range(len(runs)):
        advance(i, None)
    while any(r is None for r in results):
        stops = rule(list(kinds)) if rule is not None else [None] * len(runs)
        for i in range(len(runs)):
            if results[i] is None:
                advance(i, stops[i])
    return results


#: Activation-steps (``sum B N width`` over the batches, times ``max_steps``) from which
#: :func:`gd_fates_joint` uses processes: starting two costs about a second, which a run this long
#: wins back. Measured on an AVX2 Zen 3: the digits chapter's quick preset (three depths together,
#: 2.2e8) took 8.4-9.1 s in processes against 9.8-12.4 s in threads and 10.4-13.3 s depth by depth
#: in threads; a single quick depth (7.2e7) gained at depth 3 and lost at depth 1.
PROCESS_WORK = 100_000_000


def _joint_in_processes(problems: list[Problem], X, Y, args: tuple, rule, nw: int) -> list[GDFates]:
    """:func:`gd_fates_joint` with the runs of every batch dealt to ``nw`` processes (``spawn``)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parts = []  # per process: per batch, the indices of its runs
    for w in range(nw):
        parts.append([np.arange(np.atleast_2d(p.theta0).shape[0])[w::nw] for p in problems])
    procs, conns = [], []
    try:
        for w in range(nw):
            sub = []
            for p, ix in zip(problems, parts[w]):
                th = np.atleast_2d(p.theta0)
                eta = np.broadcast_to(np.asarray(p.eta, dtype=float), (th.shape[0],))
                sub.append(Problem(th[ix], p.sizes, eta[ix].copy()))
            here, there = ctx.Pipe()
            pr = ctx.Process(target=_joint_worker, args=(there, sub, X, Y, args), daemon=True)
            pr.start()
            there.close()
            procs.append(pr)
            conns.append(here)
        sizes_b = [np.atleast_2d(p.theta0).shape[0] for p in problems]
        kinds = [np.full(b, int(Fate.UNDECIDED), dtype=np.int8) for b in sizes_b]
        done = [[False] * len(problems) for _ in range(nw)]
        finals: list[list[GDFates | None]] = [[None] * len(problems) for _ in range(nw)]
        stops: list | None = None
        while True:
            for w, cn in enumerate(conns):
                cn.send(
                    None
                    if stops is None
                    else [None if m is None else np.asarray(m, bool)[ix] for m, ix in zip(stops, parts[w])]
                )
            for w, cn in enumerate(conns):
                try:
                    msg = cn.recv()
                except EOFError:
                    raise RuntimeError(f"gd_fates_joint: worker process {w} ended without an answer") from None
                if msg[0] == "error":
                    raise RuntimeError(f"gd_fates_joint: worker process {w} failed:\n{msg[1]}")
                for i, (state, val) in enumerate(msg[1]):
                    if state == "done":
                        done[w][i], finals[w][i] = True, val
                        kinds[i][parts[w][i]] = val.kind
                    elif val is not None:  # None: finished before, its final kinds are in place
                        kinds[i][parts[w][i]] = val
            if all(all(d) for d in done):
                break
            stops = rule([k.copy() for k in kinds]) if rule is not None else None
        for cn in conns:
            cn.send("stop")
    finally:  # closing the pipes ends a worker still waiting for an answer (after an error here)
        for cn in conns:
            cn.close()
        for pr in procs:
            pr.join(timeout=10)
            if pr.is_alive():
                pr.terminate()
    out = []
    for i, b in enumerate(sizes_b):  # every field back in the order of the runs (loss: runs on axis 1)
        fields = {}
        for f in dataclasses.fields(GDFates):
            pieces = [getattr(finals[w][i], f.name) for w in range(nw)]
            axis = 1 if f.name == "loss" else 0
            shape = list(pieces[0].shape)
            shape[axis] = b
            a = np.empty(shape, dtype=pieces[0].dtype)
            for w, piece in enumerate(pieces):
                np.moveaxis(a, axis, 0)[parts[w][i]] = np.moveaxis(piece, axis, 0)
            fields[f.name] = a
        out.append(GDFates(**fields))
    return out


def _joint_worker(conn, problems: list[Problem], X, Y, args: tuple) -> None:
    """One process of :func:`_joint_in_processes`: its share of the runs, in one thread; per check
    it reports ``[("kind", kind) | ("done", GDFates)]`` (a finished batch's result once, then
    ``("kind", None)``) and receives the stop masks (or None)."""
    import traceback

    try:
        from ..parallel import _one_blas_thread

        _one_blas_thread()
        runs = [_gd_run(p, X, Y, *args, 1) for p in problems]
        finished = [False] * len(runs)
        first = True
        while True:
            req = conn.recv()
            if req == "stop":
                return
            state: list = []
            for i, r in enumerate(runs):
                if finished[i]:  # its result was sent once already
                    state.append(("kind", None))
                    continue
                try:
                    state.append(("kind", r.send(None if first or req is None else req[i]).copy()))
                except StopIteration as fin:
                    finished[i] = True
                    state.append(("done", fin.value))
            first = False
            conn.send(("ok", state))
    except Exception:  # noqa: BLE001 -- any failure goes to the parent, which raises it with this traceback
        conn.send(("error", traceback.format_exc()))


def _gd_run(
    problem: Problem,
    X: np.ndarray,
    Y: np.ndarray,
    n_steps: int,
    max_steps: int,
    window: int,
    update_tol: float,
    check_every: int,
    blowup: float,
    chunk: int | None,
    chunk_order_seed: int | None,
    workers: int | None,
):
    """The GD loop of :func:`gd_fates` as a generator: it yields ``kind`` at every check before the
    cap and receives a mask of runs to stop (or None); it returns the :class:`GDFates`."""
    sizes = problem.sizes
    theta0 = np.atleast_2d(problem.theta0)
    lay = Layout.of(sizes)
    B = theta0.shape[0]
    eta = np.broadcast_to(np.asarray(problem.eta, dtype=float), (B,)).copy()
    N = X.shape[0]
    c_max = chunk or chunk_size(lay, N)
    nw = default_workers() if workers is None else workers
    buffers, run_chunks, close = _pool(lay, c_max, N, nw)
    theta = np.array(theta0, dtype=float, copy=True)
    act = np.arange(B)
    Th = theta.copy()
    loss_rec = np.full((n_steps + 1, B), np.nan)
    ring = np.full((window, B), np.inf)
    L0 = np.full(B, np.nan)
    kind = np.full(B, int(Fate.UNDECIDED), dtype=np.int8)
    es = np.full(B, np.nan)
    steps = np.zeros(B, dtype=np.int64)
    settled = np.zeros(B, dtype=bool)
    final_loss = np.full(B, np.nan)
    final_gn = np.full(B, np.nan)
    early = np.zeros(B, dtype=bool)
    lam_checked = np.full(B, -1, dtype=np.int64)

    def sharp(i_local: int, i: int) -> float:
        return eta[i] * sharpness(Th[i_local], sizes, X, Y)

    k = 0
    with np.errstate(over="ignore", invalid="ignore"), _closing(close):
        while act.size:
            n = act.size
            lo = np.empty(n)
            gn = np.empty(n)
            c = c_max if chunk else per_worker_chunk(c_max, n, nw)
            starts = list(range(0, n, c))
            if chunk_order_seed is not None:  # process the chunks in a shuffled order (tests)
                starts = [starts[j] for j in np.random.default_rng(chunk_order_seed + k).permutation(len(starts))]
            step = k < max_steps

            tn = np.empty(n)

            def job(a, act=act, Th=Th, lo=lo, gn=gn, tn=tn, n=n, step=step, c=c):
                sl = slice(a, min(a + c, n))
                _chunk_step(*buffers(), Th, sl, X, Y, eta[act[sl]] if step else None, lo, gn, tn)

            run_chunks(job, starts)
            # Th now holds theta_{k+1}; lo, gn belong to theta_k.
            if k == 0:
                L0[act] = lo
            if k <= n_steps:
                loss_rec[k, act] = lo
            ring[k % window, act] = eta[act] * gn / (1.0 + tn)  # relative size of the update
            final_loss[act], final_gn[act] = lo, gn
            bad = ~(lo <= blowup * L0[act])  # NaN counts as bad
            done = np.zeros(n, dtype=bool)
            if bad.any():
                kind[act[bad]] = int(Fate.DIVERGED)
                steps[act[bad]] = k
                done |= bad
            at_cap = k >= max_steps
            if (k >= n_steps and (k - n_steps) % check_every == 0) or at_cap:
                sett = (k + 1 >= window) & np.all(ring[:, act] <= update_tol, axis=0) & ~done
                settled[act] = sett
                # eta*lambda_max of newly settled runs (re-checked every 4 checks if unstable)
                need = np.flatnonzero(sett & ((lam_checked[act] < 0) | (k - lam_checked[act] >= 4 * check_every)))
                # Th[j] is theta_{k+1}; step back to theta_k is not needed: the run is settled.
                # Runs are independent: their Lanczos runs share the worker threads.
                if need.size:
                    es[act[need]] = run_chunks(lambda j, act=act: sharp(j, act[j]), list(need))
                    lam_checked[act[need]] = k
                period = np.where(sett, 1, 0)
                kd = decide_fates(period, done, es[act])
                conv = (kd == int(Fate.CONVERGED)) & ~done
                kind[act[conv]] = int(Fate.CONVERGED)
                steps[act[conv]] = k
                done |= conv
                if at_cap:
                    stop = ~done
                else:
                    req = yield kind
                    stop = np.zeros(n, dtype=bool) if req is None else np.asarray(req, dtype=bool)[act] & ~done
                    early[act[stop]] = True
                redo = [j for j in np.flatnonzero(stop) if np.isnan(es[act[j]]) or lam_checked[act[j]] != k]
                if redo:
                    es[act[redo]] = run_chunks(lambda j, act=act: sharp(j, act[j]), redo)
                steps[act[stop]] = k
                done |= stop
            if done.any():
                theta[act[done]] = Th[done]
                keep = ~done
                act, Th = act[keep], Th[keep]
            k += 1
    es[kind == int(Fate.DIVERGED)] = np.nan
    return GDFates(
        kind=kind,
        eta_sharpness=es,
        steps=steps,
        settled=settled,
        final_loss=final_loss,
        final_grad_norm=final_gn,
        loss=loss_rec,
        stopped_early=early,
        theta=theta,
    )


# ---------------------------------------------------------------------------------------------
# The digits chapter's presets (our choices: the paper's sizes were not recovered)
# ---------------------------------------------------------------------------------------------
#: ``n_steps`` is the base budget (every run takes at least that many GD steps; the short test of
#: :func:`stepsize.mlp.converged` is read on it), ``max_steps`` the cap up to which undecided runs
#: are extended, ``update_tol`` and ``window`` the settled test of :func:`gd_fates`. ``leave`` says
#: when undecided runs stop before the cap: ``"group"``, once the share of their (depth, step size)
#: group is decided (:func:`group_rule`: each depth's groups as if the depth ran alone; the depths
#: run in step in one :func:`gd_fates_joint`, which can then share processes); ``"verdict"``, all depths in
#: step (:func:`gd_fates_joint`), once the pooled share of their step size is decided, and every run
#: once no end of the undecided runs could change the chapter's verdicts
#: (:func:`stepsize.book.claims.digits.verdict_rule`).
PRESETS: dict[str, dict] = {
    "quick": {
        "n_train": 100,
        "width": 12,
        "depths": (1, 2, 3),
        "etas": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0),
        "runs_gd": 5,
        "runs_sgd": 10,
        "n_steps": 150,
        "max_steps": 1500,
        "update_tol": 3e-4,
        "window": 100,
        "n_epochs": 10,
        "batch_size": 20,
        "leave": "group",
    },
    # X 1000 x 64, width 32, 13 step sizes x 20 runs, depths 1-4 (the paper's sizes are unknown).
    # Budget, from pilot runs at this size (2-3 runs per step size): with 1 hidden layer every run
    # converged within 1700 steps at every step size up to 4, with 2 every converging run within
    # 2700; with 3 and 4 some runs converge as late as 2900 steps, while others sit at
    # eta * lambda_max ~ 2 to the cap. So up to eta = 4 most runs converge and the transition lies
    # beyond: at 6 and 8 runs of 1 and 2 hidden layers diverge within 10 steps (pilot, 3 runs each),
    # which is why the grid goes on to 8. Runs leave once the verdicts are fixed ("verdict").
    "paper": {
        "n_train": 1000,
        "width": 32,
        "depths": (1, 2, 3, 4),
        "etas": (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0),
        "runs_gd": 20,
        "runs_sgd": 100,
        "n_steps": 300,
        "max_steps": 3000,
        "update_tol": 3e-4,
        "window": 100,
        "n_epochs": 20,
        "batch_size": 64,
        "leave": "verdict",
    },
}

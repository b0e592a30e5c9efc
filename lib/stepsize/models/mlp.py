"""Fully connected GELU networks with the mean squared error, in numpy, batched over runs.

The experiments of Crăciun & Ghoshdastidar (2024), Figs. 3 and 4, train GELU networks with the MSE
loss by full-batch gradient descent and by SGD with a fixed step size. Their widths, depths, step
grid, iteration counts and convergence test were not recoverable (tag [U] in ``paper-math.md``);
this module provides the pieces, the chapter states its own choices.

A batch of ``B`` independent networks (one per initialisation and step size) is a list of layers
``[(W_1, b_1), ..., (W_L, b_L)]`` with ``W_l`` of shape ``(B, d_l, d_{l-1})`` and ``b_l`` of shape
``(B, d_l)``. Hidden layers apply GELU, the output layer is linear:

    h_0 = x,   z_l = W_l h_{l-1} + b_l,   h_l = gelu(z_l) (l < L),   f(x) = z_L,
    loss = mean over samples and outputs of (f(x) - y)^2       (PyTorch's ``MSELoss``).

GELU uses the tanh form ``gelu(z) = z/2 (1 + tanh(c (z + 0.044715 z^3)))``, ``c = sqrt(2/pi)``
(PyTorch's ``approximate='tanh'``): numpy has no ``erf`` (``scipy.special.erf`` is about ten times
slower than ``exp`` here).

The fast path for long GD runs (flat parameters, exponential form of the same GELU, exact
Hessian-vector products, the book's fate rule) is :mod:`stepsize.models.mlp_gd`; :func:`converged` below
is only a short-budget heuristic, kept for the tables that report it.
"""

from __future__ import annotations

import gzip
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Layers = list[tuple[np.ndarray, np.ndarray]]

_C = float(np.sqrt(2.0 / np.pi))
_A = 0.044715


# ---------------------------------------------------------------------------------------------
# Activation
# ---------------------------------------------------------------------------------------------
def gelu(z: np.ndarray) -> np.ndarray:
    """``gelu(z) = z/2 (1 + tanh(c (z + a z^3)))``, ``c = sqrt(2/pi)``, ``a = 0.044715``."""
    return 0.5 * z * (1.0 + np.tanh(_C * z * (1.0 + _A * z * z)))


def gelu_prime(z: np.ndarray) -> np.ndarray:
    """``gelu'(z) = 1/2 (1 + t) + z/2 (1 - t^2) c (1 + 3 a z^2)`` with ``t = tanh(c (z + a z^3))``."""
    t = np.tanh(_C * z * (1.0 + _A * z * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _C * (1.0 + 3.0 * _A * z * z)


def _gelu_with_tanh(
    z: np.ndarray, t: np.ndarray | None = None, h: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gelu` and its ``t = tanh(c z (1 + a z^2))``, computed in place on two buffers (new
    ones, or ``t`` and ``h`` when given).

    The same operations in the same order as :func:`gelu` (bit-for-bit equal), with fewer
    temporaries; ``t`` is kept so that the backward pass needs no second ``tanh``.
    """
    t = np.multiply(z, _A, out=t)
    t *= z
    t += 1.0
    h = np.multiply(z, _C, out=h)
    t *= h
    np.tanh(t, out=t)
    np.multiply(z, 0.5, out=h)
    h *= t + 1.0
    return h, t


def _gelu_prime_from(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """:func:`gelu_prime` from ``z`` and the ``t`` of :func:`_gelu_with_tanh` (bit-for-bit equal)."""
    g = np.multiply(z, 0.5)
    q = np.multiply(t, t)
    np.subtract(1.0, q, out=q)
    g *= q
    g *= _C
    np.multiply(z, 3.0 * _A, out=q)
    q *= z
    q += 1.0
    g *= q
    np.add(t, 1.0, out=q)
    q *= 0.5
    g += q
    return g


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def init(rng: np.random.Generator, B: int, sizes: list[int] | tuple[int, ...], scale: float = 1.0) -> Layers:
    """``B`` networks with layer widths ``sizes = (d_0, ..., d_L)``: ``W_l ~ N(0, scale^2 / d_{l-1})``
    (LeCun normal), ``b_l = 0``."""
    return [
        (rng.standard_normal((B, sizes[l + 1], sizes[l])) * (scale / np.sqrt(sizes[l])), np.zeros((B, sizes[l + 1])))
        for l in range(len(sizes) - 1)
    ]


def _affine(h: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``z = h W^T + b`` for ``h`` of shape ``(N, d)`` (shared) or ``(B, N, d)``; returns ``(B, N, d')``
    (in ``out`` when given)."""
    z = np.matmul(h, np.swapaxes(W, 1, 2), out=out)
    z += b[:, None, :]
    return z


def forward(layers: Layers, X: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Network outputs ``(B, N, d_L)`` and, per hidden layer, ``(z_l, h_l, t_l)`` (kept for backprop;
    ``t_l`` is the ``tanh`` inside the GELU)."""
    h = X
    cache = []
    for W, b in layers[:-1]:
        z = _affine(h, W, b)
        h, t = _gelu_with_tanh(z)
        cache.append((z, h, t))
    W, b = layers[-1]
    return _affine(h, W, b), cache


def loss(layers: Layers, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """MSE ``mean_{i,k} (f(x_i)_k - y_ik)^2`` per network, shape ``(B,)``."""
    out, _ = forward(layers, X)
    return np.mean((out - Y) ** 2, axis=(1, 2))


class LossBuffers:
    """Work buffers of :func:`loss_into` for ``c`` networks on ``N`` samples, widths at most ``width``
    and ``K`` outputs (each buffer contiguous, as BLAS writes it)."""

    def __init__(self, c: int, N: int, width: int, K: int):
        self.c, self.N = c, N
        self._flat = [np.empty(c * N * width) for _ in range(4)]  # z, t and two h (alternating)
        self._out = np.empty(c * N * K)

    def take(self, i: int, c: int, d: int) -> np.ndarray:
        return self._flat[i][: c * self.N * d].reshape(c, self.N, d)

    def out(self, c: int, K: int) -> np.ndarray:
        return self._out[: c * self.N * K].reshape(c, self.N, K)


def loss_into(layers: Layers, X: np.ndarray, Y: np.ndarray, buf: LossBuffers) -> np.ndarray:
    """:func:`loss` (the same operations in the same order, so bit-for-bit the same values, tested)
    for at most ``buf.c`` networks on the ``buf.N`` samples ``X`` (shared), in reused buffers: no
    array is allocated per layer, so the full-batch records of :func:`sgd` do not churn the allocator."""
    c = layers[0][0].shape[0]
    h = X
    for l, (W, b) in enumerate(layers[:-1]):
        d = W.shape[1]
        z = _affine(h, W, b, out=buf.take(0, c, d))
        h, _ = _gelu_with_tanh(z, buf.take(1, c, d), buf.take(2 + l % 2, c, d))
    W, b = layers[-1]
    out = _affine(h, W, b, out=buf.out(c, W.shape[1]))
    out -= Y
    np.square(out, out=out)
    return np.mean(out, axis=(1, 2))


def loss_and_grad(layers: Layers, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, Layers]:
    """Loss per network and its gradient, by hand-written backpropagation.

    With ``delta_L = 2 (f - y) / (N d_L)`` and ``delta_{l-1} = (delta_l W_l) * gelu'(z_{l-1})``:
    ``dL/dW_l = delta_l^T h_{l-1}``, ``dL/db_l = sum_i delta_l``. ``X`` is ``(N, d_0)`` or
    ``(B, N, d_0)`` (one mini-batch per run), ``Y`` likewise with ``d_L`` columns.
    """
    out, cache = forward(layers, X)
    r = out - Y
    N, K = out.shape[1], out.shape[2]
    lo = np.mean(r * r, axis=(1, 2))
    delta = r * (2.0 / (N * K))
    grads: Layers = [None] * len(layers)  # type: ignore[list-item]
    for l in range(len(layers) - 1, -1, -1):
        W, _ = layers[l]
        h_prev = cache[l - 1][1] if l > 0 else X
        gW = np.matmul(np.swapaxes(delta, 1, 2), h_prev)
        grads[l] = (gW, delta.sum(axis=1))
        if l > 0:
            z, _, t = cache[l - 1]
            delta = np.matmul(delta, W) * _gelu_prime_from(z, t)
    return lo, grads


def grad_norm(grads: Layers) -> np.ndarray:
    """Euclidean norm of all gradient entries per network, shape ``(B,)``."""
    return np.sqrt(sum(np.sum(gW**2, axis=(1, 2)) + np.sum(gb**2, axis=1) for gW, gb in grads))


def _step(layers: Layers, grads: Layers, eta: np.ndarray) -> Layers:
    e2, e1 = eta[:, None, None], eta[:, None]
    return [(W - e2 * gW, b - e1 * gb) for (W, b), (gW, gb) in zip(layers, grads)]


@dataclass(frozen=True)
class Training:
    """A batch of training runs: ``loss`` (T + 1, B) full-batch loss at each record point (NaN/inf
    once a run blew up), ``grad_norm`` (T + 1, B) at the same points, ``final`` the last networks."""

    loss: np.ndarray
    grad_norm: np.ndarray
    final: Layers


def gd(layers: Layers, X: np.ndarray, Y: np.ndarray, eta: float | np.ndarray, n_steps: int) -> Training:
    """Full-batch GD ``theta <- theta - eta grad L(theta)`` for ``n_steps`` steps, one ``eta`` per run.

    Records the loss and gradient norm before every step and after the last. Overflow in a run
    that diverges gives inf/NaN for that run only (floating point warnings silenced locally).
    """
    B = layers[0][0].shape[0]
    eta = np.broadcast_to(np.asarray(eta, dtype=float), (B,))
    L = np.empty((n_steps + 1, B))
    G = np.empty((n_steps + 1, B))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n_steps + 1):
            lo, g = loss_and_grad(layers, X, Y)
            L[k], G[k] = lo, grad_norm(g)
            if k < n_steps:
                layers = _step(layers, g, eta)
    return Training(loss=L, grad_norm=G, final=layers)


def sgd(
    layers: Layers,
    X: np.ndarray,
    Y: np.ndarray,
    eta: float | np.ndarray,
    n_epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    *,
    chunk: int | None = None,
    workers: int | None = None,
    grad_norms: bool = True,
) -> Training:
    """SGD with a fixed step: each epoch every run draws its own random permutation of the data and
    takes ``floor(N / batch_size)`` steps on mini-batches (MSE averaged over the mini-batch).

    Records the full-batch loss and gradient norm before the first epoch and after each epoch.
    With ``grad_norms=False`` only the loss is recorded (a forward pass instead of forward and
    backward; the same losses bit for bit, tested) and ``grad_norm`` is NaN: at the digits chapter's
    paper size the full-batch records were about half of the SGD time.
    Networks are independent, so they are processed in chunks of ``chunk`` (default: about 2^19
    activations of the full batch per chunk; 16 networks at the digits chapter's paper size, where
    that was faster than 8) by ``workers`` threads (default: one per core, at most 2), BLAS at one
    thread each; the random permutations are drawn for the whole batch as before, so every run is
    bit-for-bit the same whatever the chunks and threads (tested). The loss-only records go through
    :func:`loss_into`, a few networks at a time in each thread's reused buffers (at that size 2.2
    times faster than :func:`loss` in one thread, the same values bit for bit).
    """
    B = layers[0][0].shape[0]
    N = X.shape[0]
    nb = max(N // batch_size, 1)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), (B,))
    L = np.empty((n_epochs + 1, B))
    G = np.empty((n_epochs + 1, B))
    from ..parallel import default_workers, pool

    if workers is None:
        workers = default_workers()
    widest = max(W.shape[1] for W, _ in layers)
    c = chunk or max(1, (1 << 19) // max(1, N * widest))
    parts = {a: [(W[a : a + c], b[a : a + c]) for W, b in layers] for a in range(0, B, c)}
    run, close = pool(workers)
    local = threading.local()
    sub_c = max(1, min(c, (1 << 16) // max(1, N * widest)))  # networks per record sub-chunk

    def buffers() -> LossBuffers:
        if not hasattr(local, "buf"):
            local.buf = LossBuffers(sub_c, N, widest, layers[-1][0].shape[1])
        return local.buf

    def epoch(a, ep, perm):
        ls, sl = parts[a], slice(a, min(a + c, B))
        if grad_norms:
            lo, g = loss_and_grad(ls, X, Y)
            L[ep, sl], G[ep, sl] = lo, grad_norm(g)
        else:  # in sub-chunks of a few networks, in this thread's buffers (cache-sized, reused)
            buf = buffers()
            for i in range(0, sl.stop - sl.start, buf.c):
                sub = [(W[i : i + buf.c], b[i : i + buf.c]) for W, b in ls]
                L[ep, sl.start + i : sl.start + i + sub[0][0].shape[0]] = loss_into(sub, X, Y, buf)
            G[ep, sl] = np.nan
        if perm is None:
            return
        for j in range(nb):
            idx = perm[sl, j * batch_size : (j + 1) * batch_size]
            _, gb = loss_and_grad(ls, X[idx], Y[idx])
            ls = _step(ls, gb, eta[sl])
        parts[a] = ls

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            for ep in range(n_epochs + 1):
                perm = None if ep == n_epochs else np.argsort(rng.random((B, N)), axis=1)
                run(lambda a, ep=ep, perm=perm: epoch(a, ep, perm), list(parts))
    finally:
        close()
    final = [
        (np.concatenate([parts[a][l][0] for a in parts]), np.concatenate([parts[a][l][1] for a in parts]))
        for l in range(len(layers))
    ]
    return Training(loss=L, grad_norm=G, final=final)


def converged(tr: Training, window: float = 0.25, below: float = np.inf) -> np.ndarray:
    """A *short test*, not the fate rule: it counts transients as converged (a run at the edge of
    stability can decrease its loss monotonically for a while and oscillate again later). Fates
    are decided by :func:`stepsize.models.mlp_gd.gd_fates` (settled and ``eta * lambda_max < 2``).

    By this test a run converged when its loss stayed finite, ended below its initial value, and did not
    increase over the last ``window`` share of the record points (for GD a monotone decrease, the
    behaviour of a run near a stable minimum; for SGD the records are per epoch), and, if given,
    ended below ``below`` (e.g. a share of the loss of the best constant predictor, so that a
    network that collapsed to a constant output does not count). Shape ``(B,)``.
    """
    L = tr.loss
    k0 = min(int(np.floor((L.shape[0] - 1) * (1.0 - window))), L.shape[0] - 2)
    with np.errstate(invalid="ignore"):
        finite = np.all(np.isfinite(L), axis=0)
        tail = L[k0:]
        mono = np.all(np.diff(tail, axis=0) <= 1e-12 * np.abs(tail[:-1]), axis=0)
        return finite & (L[-1] < L[0]) & (L[-1] < below) & mono


def constant_predictor_loss(Y: np.ndarray) -> float:
    """MSE of the best constant output (the mean target): ``mean((Y - mean_i Y_i)^2)``."""
    return float(np.mean((Y - Y.mean(axis=0)) ** 2))


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def one_hot(labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Rows ``e_{label}`` (the MSE target encoding), shape ``(N, n_classes)``."""
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with the package, no download):
    inputs scaled to [0, 1], shape ``(1797, 64)``, and integer labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(float) / 16.0, d.target.astype(np.int64)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format, optionally gzipped): magic ``0x0000 08 nd``, ``nd``
    big-endian int32 sizes, then unsigned bytes."""
    path = Path(path)
    with _open(path) as f:
        zero, dtype, nd = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise ValueError(f"{path}: not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * nd, f.read(4 * nd))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values, found {data.size}")
    return data.reshape(shape)


def load_mnist_idx(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training set from ``folder`` holding ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte`` (each optionally ``.gz``): inputs ``(60000, 784)`` in [0, 1], labels."""
    folder = Path(folder).expanduser()

    def find(stem: str) -> Path:
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
            if (folder / name).exists():
                return folder / name
        raise FileNotFoundError(f"{folder}: no {stem}[.gz]")

    images = read_idx(find("train-images-idx3-ubyte"))
    labels = read_idx(find("train-labels-idx1-ubyte"))
    return images.reshape(images.shape[0], -1).astype(float) / 255.0, labels.astype(np.int64)


def load(
    path: str = "", n: int | None = None, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Inputs, one-hot targets and the data set's name: MNIST from the IDX files in the folder
    ``path``, or scikit-learn's digits when ``path`` is empty. ``n`` samples are drawn without
    replacement (all if ``None``)."""
    if path:
        X, labels = load_mnist_idx(path)
        name = "MNIST"
    else:
        X, labels = load_digits_data()
        name = "digits (scikit-learn)"
    if n is not None and n < X.shape[0]:
        rng = rng or np.random.default_rng(0)
        pick = np.sort(rng.choice(X.shape[0], size=n, replace=False))
        X, labels = X[pick], labels[pick]
    return X, one_hot(labels), name

"""One inequality across the book: every model's GD runs, classified by the one rule, against ``eta lambda_max <= 2``.

Each *family* is a model of the book on a small instance (so that ``D G`` can be formed by central
differences inside :func:`stepsize.dynamics.classify`): the scalar losses (Nar & Sastry's Example 2,
the double well), the toy loss of Crăciun & Ghoshdastidar, deep linear networks with an
identity-like (Nar & Sastry) and with a balanced (Nguegnang et al.) initialisation, the two-layer
ReLU network of Nar & Sastry's Figure 2 (few units) and a small tanh network. All runs of a family —
many step sizes times many initial points — are one batched call of ``classify``.

The law tested is *not* built into the classification: a run counts as **settled** when its
iterates stopped moving over the trailing window (``Fates.eta_sharpness`` is finite exactly for
those), and its ``eta lambda_max`` is then measured independently from ``D G``. The claim is that no
settled run sits above 2 (the classifier calls such a run undecided, never converged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..dynamics import Fate, Fates, classify, jacobian_fd
from ..sharpness import lambda_max_dense

Grad = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Family:
    """A model on one instance: ``grad`` maps states ``(n, d)`` (or ``(n,)``) to gradients; ``eta_ref``
    is ``2 / lambda_max`` at a reference minimum (the step sizes are multiples of it); ``start`` draws
    ``n`` initial states."""

    name: str
    grad: Grad
    eta_ref: float
    start: Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class FamilyRuns:
    """A family's runs: step size per run, the fates, and ``eta lambda_max / 2`` where each run stopped.

    ``transient`` marks settled runs above the law (``eta lambda_max / 2 > 1 + tol``) that, continued
    for ``n_continue`` more steps, did not stay settled: they were passing an unstable point slowly.
    ``stays_above`` marks those that stayed settled there (a counter-example to the law).
    """

    name: str
    eta: np.ndarray
    fates: Fates
    half_eta_sharpness: np.ndarray  # at the limit for settled runs, at the last iterate otherwise; NaN if diverged
    transient: np.ndarray
    stays_above: np.ndarray

    @property
    def settled(self) -> np.ndarray:
        """Runs whose iterates stopped moving (whatever their stability)."""
        return np.isfinite(self.fates.eta_sharpness)


def half_eta_sharpness_at(grad: Grad, x: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``eta lambda_max(H(x)) / 2`` with ``H`` from central differences of ``grad`` (NaN rows stay NaN)."""
    H = jacobian_fd(grad, x)
    H = 0.5 * (H + np.swapaxes(H, 1, 2))
    out = np.full(H.shape[0], np.nan)
    ok = np.all(np.isfinite(H.reshape(H.shape[0], -1)), axis=1)
    if ok.any():
        out[ok] = eta[ok] * lambda_max_dense(H[ok], symmetric_tol=1e-3) / 2.0
    return out


#: Numerical tolerance of the law: ``eta lambda_max / 2 <= 1 + LAW_TOL`` (central differences of the
#: gradient with relative step 1e-6 are accurate to far better than this).
LAW_TOL = 1e-4


def run_family(
    fam: Family,
    factors: np.ndarray,
    n_starts: int,
    n_steps: int,
    seed: int,
    *,
    tol: float = 1e-10,
    max_period: int = 4,
    n_continue: int = 20000,
) -> FamilyRuns:
    """Every step size ``factor * eta_ref`` from ``n_starts`` initial states, classified by ``classify``.

    Settled runs above the law are continued ``n_continue`` steps (a continuation check) and marked
    ``transient`` if they then move, ``stays_above`` if they stay.
    """
    rng = np.random.default_rng(seed)
    eta = np.repeat(np.asarray(factors, dtype=float) * fam.eta_ref, n_starts)
    x0 = fam.start(rng, eta.size)
    e = eta if x0.ndim == 1 else eta[:, None]

    def step(x: np.ndarray) -> np.ndarray:
        return x - e * fam.grad(x)

    d = 1 if x0.ndim == 1 else x0.shape[1]
    fates = classify(step, x0, n_steps, tol=tol, max_period=max_period, stability_max_dim=max(32, d))
    half = np.where(np.isfinite(fates.eta_sharpness), fates.eta_sharpness / 2.0, np.nan)
    other = ~np.isfinite(half) & (fates.kind != int(Fate.DIVERGED))
    if other.any():  # not settled: the sharpness where the run stopped, for the picture
        x_last = np.where(np.isfinite(fates.final), fates.final, 0.0)
        h = half_eta_sharpness_at(fam.grad, x_last, eta)
        half = np.where(other, h, half)
    above = np.isfinite(fates.eta_sharpness) & (half > 1.0 + LAW_TOL)
    transient = np.zeros(eta.size, dtype=bool)
    stays = np.zeros(eta.size, dtype=bool)
    if above.any():
        idx = np.flatnonzero(above)
        ea = eta[idx] if x0.ndim == 1 else eta[idx, None]
        again = classify(
            lambda x: x - ea * fam.grad(x),
            fates.final[idx],
            n_continue,
            tol=tol,
            max_period=max_period,
            stability_max_dim=max(32, d),
        )
        still = np.isfinite(again.eta_sharpness) & (again.eta_sharpness / 2.0 > 1.0 + LAW_TOL)
        stays[idx[still]] = True
        transient[idx[~still]] = True
    return FamilyRuns(
        name=fam.name, eta=eta, fates=fates, half_eta_sharpness=half, transient=transient, stays_above=stays
    )


# --- the families ---


def scalar_family(name: str, df: Grad, curvature: float, lo: float, hi: float) -> Family:
    """A scalar loss with derivative ``df``; reference minimum of curvature ``curvature``; starts in ``[lo, hi]``."""
    return Family(name, df, 2.0 / curvature, lambda rng, n: rng.uniform(lo, hi, size=n))


def toy_family() -> Family:
    """``L = (1 - xy)^2 / 2``; the flattest minimum (1, 1) has ``lambda_max = 2``; starts in ``[0.2, 2]^2``."""

    from . import toy

    return Family("toy loss", toy.grad_xy, 1.0, lambda rng, n: rng.uniform(0.2, 2.0, size=(n, 2)))


def linear_family(name: str, R: np.ndarray, depth: int, init: str) -> Family:
    """A deep linear network ``1/2 ||R - W_L ... W_1||^2`` (square layers, whitened data).

    ``init="identity"``: Nar & Sastry's ``W_j = I + 0.2 N(0,1)/sqrt(d)``; ``init="balanced"``: Nguegnang
    et al.'s balanced start ``W_j = s Q_j`` (``Q_j`` orthogonal, so ``W_{j+1}^T W_{j+1} = W_j W_j^T``),
    ``s`` uniform in ``[0.5, 1.5]``. The reference minimum is the balanced solution ``R^{1/L}``.
    """
    from . import linear

    R = np.asarray(R, dtype=float)
    d = R.shape[0]
    prob = linear.whitened(R)
    shapes = [(d, d)] * depth

    def grad(x: np.ndarray) -> np.ndarray:
        return linear.pack(linear.gradients(linear.unpack(x, shapes), prob))

    star = linear.balanced_solution(R, depth)
    H = linear.dense_hessian(star, prob)[0]
    eta_ref = 2.0 / float(lambda_max_dense(0.5 * (H + H.T)))

    def start(rng: np.random.Generator, n: int) -> np.ndarray:
        if init == "identity":
            Ws = [np.eye(d) + 0.2 * rng.standard_normal((n, d, d)) / np.sqrt(d) for _ in range(depth)]
        else:
            s = rng.uniform(0.5, 1.5, size=(n, 1, 1))
            Ws = []
            for _ in range(depth):
                Q, T = np.linalg.qr(rng.standard_normal((n, d, d)))
                Ws.append(s * Q * np.sign(np.diagonal(T, axis1=1, axis2=2))[:, None, :])
        return linear.pack(Ws)

    return Family(name, grad, eta_ref, start)


def relu_family(width: int, n_points: int, instance_seed: int) -> Family:
    """Nar & Sastry's two-layer ReLU network with fixed biases (Figure 2's set-up, ``width`` units).

    The target is a network of the same shape (exactly representable); starts are the target
    perturbed by ``N(0, 0.3^2)``, so that the minima reached are global ones nearby.
    """
    from . import relu

    inst = relu.make_instances([instance_seed], width=width, n_points=n_points)
    b, x, y = inst.b, inst.x, inst.y
    m = width

    def grad(th: np.ndarray) -> np.ndarray:
        gw, gv = relu.gradients(th[:, :m], th[:, m:], b, x, y)
        return np.concatenate([gw, gv], axis=1)

    star = np.concatenate([inst.w_target, inst.v_target], axis=1)
    H = jacobian_fd(grad, star)
    eta_ref = 2.0 / float(lambda_max_dense(0.5 * (H + np.swapaxes(H, 1, 2)), symmetric_tol=1e-3)[0])

    def start(rng: np.random.Generator, n: int) -> np.ndarray:
        return star + 0.3 * rng.standard_normal((n, 2 * m))

    return Family(f"ReLU network ({width} units)", grad, eta_ref, start)


def tanh_family(n_points: int, width: int, data_seed: int) -> Family:
    """A one-hidden-layer tanh network (see :mod:`stepsize.models.eos`) fitting ``n_points`` random targets,
    with more parameters than points (so zero-loss minima exist); ``eta_ref`` from the sharpness of a
    converged reference run."""
    from . import eos

    rng = np.random.default_rng(data_seed)
    X = rng.standard_normal((n_points, 2))
    Y = rng.standard_normal((n_points, 1))
    net = eos.Net((2, width, 1))

    def grad(th: np.ndarray) -> np.ndarray:
        return eos.loss_and_grad(net, th, X, Y)[1]

    th = net.init(np.random.default_rng(data_seed + 1), 1)
    for _ in range(20000):  # a reference minimum: small steps from one start
        th = th - 0.05 * grad(th)
    lam, _ = eos.sharpness(net, th[0], X, Y)
    return Family(f"tanh network ({net.n_params} parameters)", grad, 2.0 / lam, lambda r, n: net.init(r, n))

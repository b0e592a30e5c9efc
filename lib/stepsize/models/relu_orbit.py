"""Fixed points and 2-cycles of the GD map of the fixed-bias ReLU network, solved and verified.

The GD map ``G(theta) = theta - delta grad L(theta)`` of :mod:`stepsize.models.relu` is only piecewise
smooth: it changes formula where a kink ``x = b_j / v_j`` crosses a grid point. Within one
*activation pattern* ``D`` (the 0/1 matrix ``D_ij = 1[v_j x_i - b_j > 0]``) it is a polynomial map

    G_D(theta) = theta - delta grad L_D(theta),   L_D = sum_i (sum_j w_j D_ij (v_j x_i - b_j) - y_i)^2,

and Newton's method applies to it. :func:`solve_orbit` therefore

1. fixes the patterns ``D_1`` of the start point and ``D_2`` of its image;
2. solves ``G_D(theta) = theta`` (period 1) or ``G_{D_2}(G_{D_1}(theta)) = theta`` (period 2) by
   Newton steps computed by least squares (minimum-norm steps through exactly degenerate
   directions), halving the step until the residual falls;
3. *verifies* the result with the true ReLU map: the patterns must be the ones assumed at every
   point of the orbit and ``|G^p(theta) - theta|`` must be at rounding level. Only then is it an
   orbit of GD, and only then are multipliers computed.

Multipliers are eigenvalues of ``D(G^p) = prod (I - delta H_D)`` on a **quotient** that removes
exact degeneracies (:func:`degeneracies`): units that are inactive at every grid point at every
point of the orbit (their two parameters never move and never matter: multipliers exactly 1) and,
at a fixed point, the directions that redistribute weight among units that are exact scaled copies
of each other (``(w_j, v_j) / b_j`` equal to rounding, equal patterns), which are exactly neutral
there. On a 2-cycle those directions carry genuine multipliers and are kept. Beside the multipliers we report how close the
nearest kink is to a grid point: a small distance means a tiny perturbation changes the pattern,
so the smooth-map multipliers describe one side of a kink only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .relu import gradients, pack, unpack


def pattern(theta: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Activation pattern ``D_ij = 1[v_j x_i - b_j > 0]`` of one run, boolean ``(N, m)``."""
    _, v = unpack(np.ravel(theta))
    return (np.outer(x, v) - np.ravel(b)) > 0


def pattern_gradient(theta: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Gradient of the smooth piece ``L_D`` (module docstring); equals the true one where ``D`` holds."""
    w, v = unpack(np.ravel(theta))
    h = D * (np.outer(x, v) - b)
    r = h @ w - y
    return np.concatenate([2.0 * (h.T @ r), 2.0 * w * (D.T @ (r * x))])


def pattern_hessian(theta: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Exact Hessian of ``L_D``, shape ``(2m, 2m)``: ``2 J^T J`` plus ``2 sum_i r_i x_i D_ij`` on the
    ``(w_j, v_j)`` pairs (the network is bilinear in each unit's ``(w_j, v_j)`` within a pattern)."""
    w, v = unpack(np.ravel(theta))
    m = w.size
    h = D * (np.outer(x, v) - b)
    J = np.concatenate([h, x[:, None] * D * w], axis=1)
    r = h @ w - y
    H = 2.0 * J.T @ J
    c = 2.0 * (r * x) @ D
    H[np.arange(m), m + np.arange(m)] += c
    H[m + np.arange(m), np.arange(m)] += c
    return H


def true_step(theta: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, delta: float) -> np.ndarray:
    """One step of the true GD map (ReLU evaluated, no pattern assumed)."""
    w, v = unpack(np.ravel(theta))
    return np.ravel(theta) - delta * pack(*gradients(w, v, b, x, y))


def kink_distance(thetas: list[np.ndarray], b: np.ndarray, x: np.ndarray, alive: np.ndarray) -> float:
    """Smallest distance from a live unit's kink ``b_j / v_j`` to a grid point, over the orbit points."""
    best = np.inf
    for th in thetas:
        _, v = unpack(th)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(v != 0, b / np.where(v != 0, v, 1.0), np.inf)[alive]
        if t.size:
            best = min(best, float(np.min(np.abs(x[:, None] - t[None, :]))))
    return best


@dataclass(frozen=True)
class Quotient:
    """The coordinates kept after removing exact degeneracies (see :func:`degeneracies`).

    ``basis`` (2m, d): orthonormal columns spanning the kept, GD-invariant subspace; ``dead``:
    indices of units inactive everywhere on the orbit; ``groups``: lists of units that are exact
    scaled copies; ``n_removed`` = 2m - d.
    """

    basis: np.ndarray
    dead: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]
    n_removed: int


def degeneracies(
    thetas: list[np.ndarray],
    patterns: list[np.ndarray],
    b: np.ndarray,
    *,
    rtol: float = 1e-12,
    remove_merged: bool = True,
) -> Quotient:
    """Exact degeneracies on an orbit ``thetas`` (period p) with activation ``patterns``.

    * a **dead** unit is inactive at every grid point at every orbit point: its ``w_j`` and
      ``v_j`` never move and never change the output; both directions are removed;
    * a **merged** group is a set of live units with equal patterns whose ``(w_j, v_j) / b_j``
      agree to ``rtol`` at every orbit point. Within a pattern, ``grad`` of unit ``j`` is
      ``b_j`` times a function of the group only, so GD keeps such units copies for ever (an
      invariant subspace). The ``2(g - 1)`` directions that redistribute weight among the copies
      leave the output unchanged to first order and are moved by ``prod (I - 2 delta S_1 sigma_x)``
      (``S_1 = sum_i r_i x_i D_ij`` of the group, ``sigma_x`` swapping ``w`` and ``v``). At a fixed
      point ``S_1 = 0``: they are exactly neutral (multiplier 1) and removed
      (``remove_merged=True``). On a 2-cycle their multipliers are genuine (they decide whether the
      copies stay merged), so they are kept (``remove_merged=False``).
    """
    m = np.ravel(b).size
    b = np.ravel(b)
    alive = np.zeros(m, dtype=bool)
    for D in patterns:
        alive |= D.any(axis=0)
    dead = tuple(int(j) for j in np.flatnonzero(~alive))
    # merged groups among live units with b != 0
    cols = []
    assigned = np.zeros(m, dtype=bool)
    groups = []
    live = [j for j in range(m) if alive[j] and b[j] != 0.0]
    for a_i, j in enumerate(live):
        if assigned[j]:
            continue
        grp = [j]
        for k in live[a_i + 1 :]:
            if assigned[k]:
                continue
            same = all(np.array_equal(D[:, j], D[:, k]) for D in patterns)
            for th in thetas:
                w, v = unpack(th)
                for q in (w, v):
                    rj, rk = q[j] / b[j], q[k] / b[k]
                    same = same and abs(rj - rk) <= rtol * max(abs(rj), abs(rk), 1e-300)
            if same:
                grp.append(k)
        for k in grp:
            assigned[k] = True
        if len(grp) > 1 and remove_merged:
            groups.append(tuple(grp))
    n = 2 * m
    grouped = {k for g in groups for k in g}
    for j in range(m):
        if alive[j] and j not in grouped:
            for off in (0, m):
                e = np.zeros(n)
                e[off + j] = 1.0
                cols.append(e)
    for grp in groups:
        for off in (0, m):
            e = np.zeros(n)
            e[[off + k for k in grp]] = b[list(grp)]
            cols.append(e / np.linalg.norm(e))
    E = np.array(cols).T if cols else np.zeros((n, 0))
    return Quotient(E, dead, tuple(groups), n - E.shape[1])


@dataclass(frozen=True)
class OrbitSolve:
    """Result of :func:`solve_orbit` for one run.

    ``points``: the orbit ``theta, G(theta), ...`` (period p); ``residual``: ``|G^p(theta) - theta|``
    with the **true** map (max norm); ``verified``: Newton converged, the assumed patterns hold at
    every point and the residual is at rounding level (``tol``); ``separation``: ``|G(theta) - theta|``
    (0 for a fixed point); ``distance``: from the start point to ``theta``; ``multipliers``:
    eigenvalues of ``D(G^p)`` on the quotient, by decreasing modulus (empty unless verified);
    ``eta_sharpness``: ``delta * lambda_max(H)`` at a verified fixed point (NaN otherwise);
    ``n_removed``: directions removed by the quotient; ``kink_distance``: nearest kink of a live
    unit to a grid point; ``invariance``: how far the quotient is from invariant under ``D(G^p)``
    (should be at rounding level); ``reason``: why it is not verified ("" if it is);
    ``first_step``: length (max norm) of the first Newton step and ``sigma_min``: the smallest
    singular value of ``D(G^p) - I`` kept by the least-squares solve there (NaN if no step was taken).
    """

    period: int
    points: tuple[np.ndarray, ...]
    residual: float
    verified: bool
    separation: float
    distance: float
    iterations: int
    multipliers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eta_sharpness: float = float("nan")
    n_removed: int = 0
    kink_distance: float = float("nan")
    invariance: float = float("nan")
    reason: str = ""
    first_step: float = float("nan")
    sigma_min: float = float("nan")

    @property
    def max_multiplier(self) -> float:
        """Largest ``|mu|`` on the quotient; NaN unless verified."""
        return float(np.abs(self.multipliers[0])) if self.verified and self.multipliers.size else float("nan")


def _points(theta, b, x, y, delta, Ds):
    """Points of the pattern map along the assumed patterns (no Jacobian)."""
    pts = [theta]
    for D in Ds:
        pts.append(pts[-1] - delta * pattern_gradient(pts[-1], b, x, y, D))
    return pts


def _pmap(theta, b, x, y, delta, Ds):
    """Points of the pattern map along the assumed patterns, and the product Jacobian."""
    pts = [theta]
    M = np.eye(theta.size)
    for D in Ds:
        th = pts[-1]
        M = (np.eye(theta.size) - delta * pattern_hessian(th, b, x, y, D)) @ M
        pts.append(th - delta * pattern_gradient(th, b, x, y, D))
    return pts, M


def solve_orbit(
    theta0: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    delta: float,
    period: int,
    *,
    max_iter: int = 40,
    tol: float = 1e-11,
) -> OrbitSolve:
    """Solve ``G^p(theta) = theta`` (p = 1 or 2) within the activation patterns of ``theta0`` and verify it.

    Newton on ``F(theta) = G_{D_p} o ... o G_{D_1}(theta) - theta`` with ``DF = prod (I - delta H_D) - I``
    (exact pattern Hessians), steps by least squares (``rcond`` 1e-13: exactly degenerate directions
    get no step), halved until ``max|F|`` falls. The tolerance is relative:
    ``max|F| <= tol (1 + max|theta|)`` (rounding level for these sums). Then verified with the true
    map as described in the module docstring.
    """
    if period not in (1, 2):
        raise ValueError("period must be 1 or 2")
    b, x, y = np.ravel(b), np.ravel(x), np.ravel(y)
    theta = np.array(theta0, dtype=float).ravel()
    start = theta.copy()
    Ds = [pattern(theta, b, x)]
    if period == 2:
        Ds.append(pattern(true_step(theta, b, x, y, delta), b, x))
    pts, M = _pmap(theta, b, x, y, delta, Ds)
    F = pts[-1] - theta
    res = float(np.max(np.abs(F)))
    it = 0
    converged = res <= tol * (1.0 + np.max(np.abs(theta)))
    polish = 0
    first_step = (float("nan"), float("nan"))
    while (not converged or polish < 3) and it < max_iter and res > 0.0:
        if converged:
            polish += 1  # a few more steps once within tolerance, down to rounding
        it += 1
        s, _, _, sv = np.linalg.lstsq(M - np.eye(theta.size), -F, rcond=1e-13)
        if it == 1:
            kept_sv = sv[sv > 1e-13 * sv[0]] if sv.size and sv[0] > 0 else sv
            first_step = (float(np.max(np.abs(s))), float(kept_sv[-1]) if kept_sv.size else float("nan"))
        lam, ok = 1.0, False
        for _ in range(20):
            trial = theta + lam * s
            Ft = _points(trial, b, x, y, delta, Ds)[-1] - trial
            rt = float(np.max(np.abs(Ft)))
            if rt < res:
                ok = True
                break
            lam *= 0.5
        if not ok:
            break
        pts_t, M_t = _pmap(trial, b, x, y, delta, Ds)
        theta, pts, M, F, res = trial, pts_t, M_t, Ft, rt
        converged = res <= tol * (1.0 + np.max(np.abs(theta)))
    # verification with the true map
    true_pts = [theta]
    for _ in range(period):
        true_pts.append(true_step(true_pts[-1], b, x, y, delta))
    scale = 1.0 + float(np.max(np.abs(theta)))
    residual = float(np.max(np.abs(true_pts[-1] - theta)))
    kept = all(np.array_equal(pattern(true_pts[i], b, x), Ds[i]) for i in range(period))
    separation = float(np.max(np.abs(true_pts[1] - theta)))
    distance = float(np.max(np.abs(theta - start)))
    finite = bool(np.all(np.isfinite(theta)))
    verified = bool(finite and converged and kept and residual <= tol * scale)
    if period == 2 and verified and separation <= 1e-8 * scale:
        verified, reason = False, "Newton reached a fixed point, not a 2-cycle"
    elif verified:
        reason = ""
    elif not finite:
        reason = "Newton diverged"
    elif not converged:
        reason = (
            f"Newton stalled at residual {res:.1e} (its first step was {first_step[0]:.2g} long, steered by "
            f"a smallest singular value {first_step[1]:.1e} of D(G^p) - I: nearly neutral directions)"
        )
    elif not kept:
        reason = "the solution leaves the activation pattern it was solved in"
    else:
        reason = f"true-map residual {residual:.1e} above rounding level"
    if not verified:
        return OrbitSolve(
            period,
            tuple(true_pts[:period]),
            residual,
            False,
            separation,
            distance,
            it,
            reason=reason,
            first_step=first_step[0],
            sigma_min=first_step[1],
        )
    orbit = true_pts[:period]
    Q = degeneracies(orbit, Ds, b, remove_merged=period == 1)
    _, M = _pmap(theta, b, x, y, delta, Ds)
    E = Q.basis
    Mq = E.T @ M @ E
    inv = float(np.max(np.abs(M @ E - E @ Mq))) if E.size else 0.0
    mu = np.linalg.eigvals(Mq) if E.size else np.zeros(0)
    mu = mu[np.argsort(-np.abs(mu), kind="stable")]
    es = float("nan")
    if period == 1:
        H = pattern_hessian(theta, b, x, y, Ds[0])
        es = float(delta * np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    alive = np.ones(b.size, dtype=bool)
    alive[list(Q.dead)] = False
    kd = kink_distance(orbit, b, x, alive)
    return OrbitSolve(
        period,
        tuple(orbit),
        residual,
        True,
        separation,
        distance,
        it,
        mu,
        es,
        Q.n_removed,
        kd,
        inv,
        "",
        first_step[0],
        first_step[1],
    )


def one_unit_two_cycle(delta: float, y: float, b: float = -1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form 2-cycle of one unit ``f(x) = w relu(v x - b)`` fitted to one point ``(1, y)``.

    With ``u = w = v - b`` (a balanced start; ``w - (v - b)`` is multiplied by ``1 + 2 delta r`` each
    step), GD is ``u <- k u - 2 delta u^3`` with ``k = 1 + 2 delta y``; in ``z = u / s``,
    ``s^2 = k / (2 delta)``, it is ``z <- k (z - z^3)``. A 2-cycle ``z_1 != z_2`` with ``z_1 + z_2 != 0``
    satisfies ``z_1^2 + z_2^2 = 1`` and ``z_1 z_2 = 1 / k``, so
    ``z_{1,2} = (sqrt(1 + 2/k) +- sqrt(1 - 2/k)) / 2`` (real for ``k > 2``). Its multipliers are
    ``9 - 2 k^2`` (along the balanced line) and ``5 - 2 k`` (across it): attracting for
    ``2 < k < sqrt 5``. Returns the two points ``theta = [w, v]``, each of shape ``(2,)``.
    """
    k = 1.0 + 2.0 * delta * y
    if not k > 2.0:
        raise ValueError("one_unit_two_cycle: needs k = 1 + 2 delta y > 2")
    s = np.sqrt(k / (2.0 * delta))
    a, c = np.sqrt(1.0 + 2.0 / k), np.sqrt(1.0 - 2.0 / k)
    z = np.array([(a + c) / 2.0, (a - c) / 2.0])
    u = s * z
    return tuple(np.array([ui, ui + b]) for ui in u)

"""Benchmark 3: one full-batch GD step of the digits chapter at its paper size.

The paper preset's problem: X 1000 x 64 (scikit-learn digits), GELU networks of width 32, a batch of
220 networks (11 step sizes x 20 runs), float64. Microseconds per step of the whole batch for
(a) the layered path of :mod:`stepsize.mlp` (tanh-form GELU, one batched matmul per layer, BLAS with
its own threads), the way the chapter's GD ran before :mod:`stepsize.mlp_gd`; (b) :mod:`stepsize.mlp_gd`
(chunks of a few networks, exponential form of the same GELU, buffers reused, fused in-place update)
in one thread; (c) the same with 2 worker threads, BLAS at one thread each; (d) PyTorch and (e) JAX
on the CPU, each in a child process and only when installed. Then the three ways of evaluating the
elementwise GELU, in ns per element.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from common import load, median_time

B_ETAS, B_RUNS, N_TRAIN, WIDTH = 11, 20, 1000, 32


def _setup(depth: int):
    from stepsize.models import mlp

    rng = np.random.default_rng(0)
    X, Y, _ = mlp.load("", n=N_TRAIN, rng=rng)
    sizes = [X.shape[1]] + [WIDTH] * depth + [Y.shape[1]]
    layers = mlp.init(rng, B_ETAS * B_RUNS, sizes)
    eta = np.full(B_ETAS * B_RUNS, 1e-3)  # small: every run stays finite over the repeats
    return X, Y, sizes, layers, eta


def bench_digits_step(repeats: int, depth: int = 2, n_steps: int = 3) -> list[tuple[str, float | None, str]]:
    """Rows ``(name, µs per step of the batch, note)``; (a) is the reference of the ratios."""
    from stepsize.models import mlp, mlp_gd

    X, Y, sizes, layers, eta = _setup(depth)
    theta = mlp_gd.flatten(layers)
    rows = []

    def layered():
        ls = layers
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(n_steps):
                _, g = mlp.loss_and_grad(ls, X, Y)
                ls = mlp._step(ls, g, eta)

    t, _ = median_time(layered, repeats)
    rows.append(("(a) before: layered `mlp.loss_and_grad` (tanh GELU)", t / n_steps * 1e6, "BLAS threads as installed"))
    for workers in (1, 2):
        t, _ = median_time(lambda w=workers: mlp_gd.gd_steps(theta, sizes, X, Y, eta, n_steps, workers=w), repeats)
        rows.append(
            (
                f"({'b' if workers == 1 else 'c'}) after: `mlp_gd.gd_steps`, {workers} worker thread{'s' * (workers > 1)}",
                t / n_steps * 1e6,
                f"chunks of {mlp_gd.chunk_size(mlp_gd.Layout.of(sizes), N_TRAIN)} networks, BLAS 1 thread each",
            )
        )
    for tag, lib in (("(d)", "torch"), ("(e)", "jax")):
        us, note = _in_child(lib, repeats, depth, n_steps)
        rows.append((f"{tag} {'PyTorch' if lib == 'torch' else 'JAX jit + vmap'}, CPU, float64", us, note))
    return rows


def _in_child(lib: str, repeats: int, depth: int, n_steps: int) -> tuple[float | None, str]:
    """A framework row in its own process (their thread pools keep spinning after their work)."""
    import json
    import subprocess

    r = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("run.py")),
            "--digits-row",
            lib,
            str(repeats),
            str(depth),
            str(n_steps),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if r.returncode != 0:
        return None, "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["us"] is None:
        return None, f"skipped: {lib} is not installed"
    return res["us"], f"{lib} {res['version']}"


def framework_row(lib: str, repeats: int, depth: int, n_steps: int) -> dict:
    """The same GD step in PyTorch or JAX (float64, CPU, all cores); µs per step of the batch."""
    X, Y, _, layers, eta = _setup(depth)
    c, a = float(np.sqrt(2.0 / np.pi)), 0.044715
    if lib == "torch":
        try:
            import torch
        except ImportError:
            return {"us": None, "version": None}
        torch.set_num_threads(os.cpu_count() or 1)
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        e = torch.tensor(eta)

        def run():
            ps = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in layers]
            for _ in range(n_steps):
                h = Xt.expand(len(eta), *Xt.shape)
                for W, b in ps[:-1]:
                    z = h @ W.transpose(1, 2) + b[:, None, :]
                    h = 0.5 * z * (1 + torch.tanh(c * z * (1 + a * z * z)))
                W, b = ps[-1]
                out = h @ W.transpose(1, 2) + b[:, None, :]
                loss = ((out - Yt) ** 2).mean(dim=(1, 2)).sum()
                grads = torch.autograd.grad(loss, [p for wb in ps for p in wb])
                with torch.no_grad():
                    flat = [p for wb in ps for p in wb]
                    new = [(p - e.view(-1, *([1] * (p.dim() - 1))) * g) for p, g in zip(flat, grads)]
                ps = [(new[2 * i].requires_grad_(), new[2 * i + 1].requires_grad_()) for i in range(len(ps))]

        t, _ = median_time(run, repeats)
        return {"us": t / n_steps * 1e6, "version": torch.__version__}
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {"us": None, "version": None}
    jax.config.update("jax_enable_x64", True)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def loss1(ps):
        h = Xj
        for W, b in ps[:-1]:
            z = h @ W.T + b
            h = 0.5 * z * (1 + jnp.tanh(c * z * (1 + a * z * z)))
        W, b = ps[-1]
        return jnp.mean((h @ W.T + b - Yj) ** 2)

    @jax.jit
    def step(ps, e):
        g = jax.vmap(jax.grad(loss1))(ps)
        return [(W - e[:, None, None] * gW, b - e[:, None] * gb) for (W, b), (gW, gb) in zip(ps, g)]

    p0 = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]
    ej = jnp.asarray(eta)

    def run():
        ps = p0
        for _ in range(n_steps):
            ps = step(ps, ej)
        jax.block_until_ready(ps)

    t, _ = median_time(run, repeats)
    return {"us": t / n_steps * 1e6, "version": jax.__version__}


def bench_gelu(repeats: int, n: int = 2_000_000) -> list[tuple[str, float, str]]:
    """ns per element of the GELU forward: the tanh form, its exponential form (the same function,
    rounded differently), and the exact erf GELU of scipy (a different function, for reference)."""
    from scipy.special import erf
    from stepsize.models import mlp, mlp_gd

    z = np.random.default_rng(0).standard_normal(n) * 2.0
    s = np.empty_like(z)
    rows = []
    t, _ = median_time(lambda: mlp._gelu_with_tanh(z), repeats)
    rows.append(("tanh form `z/2 (1 + tanh(u))` (mlp)", t / n * 1e9, "the book's GELU"))
    t, _ = median_time(lambda: np.multiply(z, mlp_gd.gelu_s(z, s), out=s), repeats)
    dev = float(np.max(np.abs(mlp_gd.gelu_exp(z) - mlp.gelu(z)) / np.maximum(np.abs(z), 1.0)))
    rows.append(
        (
            "exponential form `z / (1 + exp(-2u))` (mlp_gd)",
            t / n * 1e9,
            f"the same function; largest difference {dev:.1e} × max(|z|, 1)",
        )
    )
    t, _ = median_time(lambda: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0))), repeats)
    rows.append(
        (
            "erf GELU `z/2 (1 + erf(z/√2))` (scipy.special.erf)",
            t / n * 1e9,
            "a different function (PyTorch's default GELU): not the book's model",
        )
    )
    return rows


def digits_part(repeats: int) -> list[str]:
    load_step = load()
    step = bench_digits_step(repeats)
    load_gelu = load()
    return digits_section(step, bench_gelu(repeats), load_step, load_gelu)


def digits_section(step: list, gelu: list, load_step: str, load_gelu: str) -> list[str]:
    ref = step[0][1]
    out = [
        "## 3. Digits GD step at the paper size: microseconds per step of the batch",
        "",
        (
            "X 1000 × 64, width 32, 2 hidden layers, 220 networks (11 step sizes × 20 runs), float64; "
            f"load average {load_step} (1, 5, 15 min) when measured."
        ),
        "",
        "| implementation | µs per step | × (a) | note |",
        "|---|---|---|---|",
    ]
    for name, us, note in step:
        out.append(f"| {name} | – | – | {note} |" if us is None else f"| {name} | {us:.0f} | {ref / us:.2f} | {note} |")
    out += [
        "",
        (
            "All rows compute the same GD step; (b) and (c) give bit-for-bit the same iterates whatever the "
            "number of threads, the chunk size or the order of the chunks (`tests/test_mlp.py`)."
        ),
        "",
        f"GELU forward, ns per element (2·10⁶ elements; load average {load_gelu}):",
        "",
        "| form | ns per element | × tanh form | note |",
        "|---|---|---|---|",
    ]
    t0 = gelu[0][1]
    out += [f"| {name} | {ns:.1f} | {t0 / ns:.2f} | {note} |" for name, ns, note in gelu]
    return out + [""]

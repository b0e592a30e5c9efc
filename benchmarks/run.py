"""Benchmarks of the book (`make bench`): medians of repeats, side by side with the plain way.

1. Nar & Sastry Figure 2 loop (1000 grid points, width 20, full-batch GD, sum of squares):
   microseconds per run-step for (a) the obvious per-step numpy loop, (b) the lib, one run,
   (c) the lib batched over 16 runs, (d) the same loop in PyTorch on the CPU if torch is installed.
2. A basin map of L(x, y) = (1 - xy)^2 / 2: 10^6 initial points x 1000 GD steps with each point's
   fate classified, the lib's vectorised path against a per-point Python loop (timed on a sample
   and scaled to 10^6 points).
3. Every chapter's execution time with its defaults, and the total.

Writes benchmarks/results.md. Usage: python benchmarks/run.py [--repeats 7] [--skip-book]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; numpy {np.__version__}; "
            f"{platform.system()} {platform.release()}; load average at the start {load}")


def _figure2_setup():
    """The Figure 2 problem of the benchmark: 16 instances (1000 grid points, width 20), the first
    one alone, and the step size."""
    from stepsize import relu

    inst = relu.make_instances(list(range(16)), width=20, n_points=1000)
    return inst, inst.row(0), 1e-4


def bench_figure2(repeats: int, n_steps: int = 300) -> list[tuple[str, float | None, str]]:
    from stepsize import relu

    inst, one, delta = _figure2_setup()
    rows = []

    t, _ = median_time(lambda: relu.train_plain(one.w0[0], one.v0[0], inst.x, one.y[0], one.b[0], delta, n_steps),
                       repeats)
    plain = t / n_steps * 1e6
    rows.append(("(a) plain per-step numpy loop, 1 run", plain, f"{n_steps} steps"))

    t, _ = median_time(lambda: relu.train((one.w0, one.v0), inst.x, one.y, one.b, delta, n_steps, record=False),
                       repeats)
    rows.append(("(b) lib `relu.train`, 1 run", t / n_steps * 1e6, f"{n_steps} steps"))

    t, _ = median_time(lambda: relu.train((inst.w0, inst.v0), inst.x, inst.y, inst.b, np.full(16, delta), n_steps,
                                          record=False), repeats)
    rows.append(("(c) lib `relu.train`, batched over 16 runs", t / (16 * n_steps) * 1e6, f"{n_steps} steps x 16 runs"))

    torch_us, note = _torch_in_subprocess(repeats, n_steps)
    rows.append(("(d) PyTorch on the CPU, 1 run", torch_us, note))
    return rows


def _torch_in_subprocess(repeats: int, n_steps: int) -> tuple[float | None, str]:
    """Row (d), measured in a child process: torch's OpenMP threads keep spinning after their work and
    would slow every later measurement in this process."""
    import json
    import subprocess

    r = subprocess.run([sys.executable, str(Path(__file__)), "--torch-row", str(repeats), str(n_steps)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["us"] is None:
        return None, "skipped: torch is not installed"
    return res["us"], f"{n_steps} steps, torch {res['version']}"


def torch_row(repeats: int, n_steps: int) -> dict:
    """The Figure 2 loop in PyTorch (float64, CPU, all cores), one run; µs per step."""
    try:
        import torch
    except ImportError:
        return {"us": None, "version": None}
    inst, one, delta = _figure2_setup()
    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.tensor(inst.x, dtype=torch.float64)
    y = torch.tensor(one.y[0], dtype=torch.float64)
    b = torch.tensor(one.b[0], dtype=torch.float64)

    def torch_loop():
        w = torch.tensor(one.w0[0], dtype=torch.float64)
        v = torch.tensor(one.v0[0], dtype=torch.float64)
        for _ in range(n_steps):
            pre = x[:, None] * v - b
            h = torch.relu(pre)
            r = h @ w - y
            gw = 2 * h.T @ r
            gv = 2 * ((r[:, None] * (pre > 0) * w) * x[:, None]).sum(0)
            w = w - delta * gw
            v = v - delta * gv

    t, _ = median_time(torch_loop, repeats)
    return {"us": t / n_steps * 1e6, "version": torch.__version__}


def bench_basin(repeats: int, n_points: int = 10**6, n_steps: int = 1000, sample: int = 20000) -> dict:
    from stepsize import toy

    side = int(round(np.sqrt(n_points)))
    g = np.linspace(-3.0, 3.0, side)
    X, Y = np.meshgrid(g, g)
    x0, y0 = X.ravel(), Y.ravel()
    eta = 0.4
    t_vec, _ = median_time(lambda: toy.fates(x0, y0, eta, n_steps), repeats, warmup=1)
    work = int(toy.fates(x0, y0, eta, n_steps).steps.sum())  # point-steps actually taken (early stops)
    rng = np.random.default_rng(0)
    idx = rng.choice(x0.size, size=sample, replace=False)
    xs, ys = x0[idx].tolist(), y0[idx].tolist()

    def plain():
        for a, b in zip(xs, ys):
            toy.fate_plain(a, b, eta, n_steps)

    t_s, _ = median_time(plain, repeats, warmup=0)
    t_plain = t_s / sample * x0.size
    return {"n": x0.size, "sample": sample, "work": work, "t_vec": t_vec, "t_plain": t_plain,
            "repeats": repeats}


def bench_book() -> list[tuple[str, float]]:
    from stepsize import chapters
    from stepsize.notebooks import execute_in_place

    rows = []
    for slug, ch in chapters.CHAPTERS.items():
        rows.append((slug, execute_in_place(ch.notebook, save=False)))
    return rows


def bench_paper_presets() -> Path:
    """Run every chapter that has a ``preset`` parameter with ``preset=paper`` (the papers' sizes),
    once each, and write ``benchmarks/paper-presets.md``: seconds and every claim check's verdict."""
    import tempfile

    from stepsize import chapters
    from stepsize.cli import execute_chapter

    lines = ["# The paper presets", "",
             f"Machine: {machine()}.", "",
             "Generated by `make bench-paper` (`benchmarks/run.py --paper-presets`): each chapter with a `preset` "
             "parameter executed once with `preset=paper` (kernel start included), and the verdict of each of "
             "its claim checks at that size.", "",
             "| chapter | seconds | claim checks (verdict: reproduced value against the paper's) |", "|---|---|---|"]
    path = HERE / "paper-presets.md"
    todo = [ch for ch in chapters.CHAPTERS.values() if "preset" in {p.name for p in ch.params}]
    todo.sort(key=lambda ch: ch.slug == "craciun-digits")  # the longest one last
    with tempfile.TemporaryDirectory(prefix="stepsize-paper-") as tmp:
        for ch in todo:
            slug = ch.slug
            t0 = time.perf_counter()
            try:
                values = execute_chapter(ch, {"preset": "paper"}, Path(tmp) / f"{slug}.ipynb")
            except Exception as e:  # a failed run is a result too
                msg = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                lines.append(f"| {slug} | {time.perf_counter() - t0:.0f} | failed: {msg} |")
                path.write_text("\n".join(lines + ["", "(In progress.)"]) + "\n")
                continue
            secs = time.perf_counter() - t0
            claims = sorted(k[len("claim_"):-len("_status")] for k in values
                            if k.startswith("claim_") and k.endswith("_status"))
            parts = []
            for c in claims:
                status = values[f"claim_{c}_status"]
                part = (f"{c}: {status} ({values.get(f'claim_{c}_reproduced')} against "
                        f"{values.get(f'claim_{c}_paper')})")
                if status != "reproduced":  # the chapter's own, computed explanation
                    part += " — " + str(values.get(f"claim_{c}_reason", "")).replace("|", "/")
                parts.append(part)
            lines.append(f"| {slug} | {secs:.0f} | {'; '.join(parts) or 'none'} |")
            print(lines[-1])
            path.write_text("\n".join(lines + ["", f"(In progress: {len(lines) - 8} of {len(todo)} chapters.)"]) + "\n")
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--torch-row"]:  # internal: row (d) in its own process
        import json

        print(json.dumps(torch_row(int(argv[1]), int(argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-book", action="store_true")
    ap.add_argument("--paper-presets", action="store_true",
                    help="only run the chapters' paper presets (slow) and write benchmarks/paper-presets.md")
    args = ap.parse_args(argv)
    if args.paper_presets:
        print(f"wrote {bench_paper_presets()}", file=sys.stderr)
        return 0
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    out = ["# Benchmarks", "", f"Machine: {machine()}.", "",
           f"Generated by `make bench` (`benchmarks/run.py`); times are medians of {args.repeats} repeats "
           "after one warm-up unless stated.", ""]

    fig2 = bench_figure2(args.repeats)
    plain = fig2[0][1]
    out += ["## 1. Figure 2 loop (Nar & Sastry): microseconds per run-step", "",
            "| implementation | µs per run-step | × plain | note |", "|---|---|---|---|"]
    for name, us, note in fig2:
        if us is None:
            out.append(f"| {name} | – | – | {note} |")
        else:
            out.append(f"| {name} | {us:.1f} | {plain / us:.1f} | {note} |")
    batched = fig2[2][1]
    torch_us = fig2[3][1]
    verdict = (f"Target (c) ≤ 40 µs and ≥ 5× (a): {'met' if batched <= 40 and plain / batched >= 5 else 'not met'}"
               f" ({batched:.1f} µs, {plain / batched:.1f}×)")
    if torch_us is not None:
        verdict += f"; ≥ 6× (d): {'met' if torch_us / batched >= 6 else 'not met'} ({torch_us / batched:.1f}×)"
    out += ["", verdict + ".", "",
            "torch is not a dependency of the book: row (d) appears when it is installed in `.venv` "
            "(here: `.venv/bin/pip install torch==2.13.0`, the CPU build), and is skipped otherwise.", ""]
    print("\n".join(out[-len(fig2) - 8:]))

    basin = bench_basin(args.repeats)
    t_vec, t_plain, work = basin["t_vec"], basin["t_plain"], basin["work"]
    speed = t_plain / t_vec
    met = t_vec < 3 and speed >= 100
    out += ["## 2. Basin map of the toy loss (10⁶ points × 1000 steps, fates classified)", "",
            f"Both paths run the same algorithm (GD with a check every 16 steps; finished runs stop), with "
            f"bit-for-bit equal iterates (`tests/test_toy.py`); each takes {work / 1e6:.1f} million "
            "point-steps for the map, not 10⁹, because most runs converge or diverge within a few dozen steps.", "",
            "| implementation | seconds for 10⁶ points | ns per point-step |", "|---|---|---|",
            f"| lib `toy.fates`, vectorised | {t_vec:.3f} | {t_vec / work * 1e9:.1f} |",
            f"| per-point Python loop `toy.fate_plain` (sample of {basin['sample']}, scaled) | {t_plain:.2f} | "
            f"{t_plain / work * 1e9:.0f} |", "",
            f"Speed-up {speed:.0f}×. Target under 3 s: {'met' if t_vec < 3 else 'not met'}; "
            f"≥ 100× the per-point loop: {'met' if speed >= 100 else 'not met'}. "
            f"(Medians of {basin['repeats']} repeats each, the vectorised path after one warm-up.)", ""]
    if not met and t_vec < 3:
        out += ["The gap: the per-point loop does each step on Python floats at about "
                f"{t_plain / work * 1e9:.0f} ns, and the vectorised step is seven numpy array operations "
                f"plus the cycle watch and the checks, at {t_vec / work * 1e9:.1f} ns per point in all. "
                f"100× would need {t_plain / work * 1e9 / 100:.1f} ns per point-step, below what numpy's "
                "one-operation-at-a-time arrays reach here; a compiled kernel (numba, C) could, at the price of a "
                "dependency the book does not otherwise need.", ""]
    print("\n".join(out[-12:]))

    if not args.skip_book:
        book = bench_book()
        total = sum(t for _, t in book)
        out += ["## 3. Chapters with their defaults (one execution each, kernel start included)", "",
                "| chapter | seconds | limit |", "|---|---|---|"]
        for slug, t in book:
            limit = 30 if slug == "craciun-digits" else 15
            out.append(f"| {slug} | {t:.1f} | {limit}{'' if t < limit else ' — over'} |")
        over = [slug for slug, t in book if t >= (30 if slug == "craciun-digits" else 15)]
        out += ["", f"Total {total:.0f} s (target under 120 s: {'met' if total < 120 else 'not met'}); "
                f"every chapter within its limit: {'yes' if not over else 'no, ' + ', '.join(over)}.", ""]
        print("\n".join(out[-len(book) - 6:]))

    (HERE / "results.md").write_text("\n".join(out))
    print(f"wrote {HERE / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of the book (`make bench`): medians of repeats, side by side with the plain way.

Each part measures one thing, in its own module: ``figure2`` (the Nar & Sastry Figure 2 loop: plain
numpy, the lib, the lib batched, PyTorch when installed), ``basin`` (a 10^6-point basin map of the toy
loss against a per-point loop), ``digits`` (one GD step of the digits chapter at its paper size:
the layered lib before, the chunked threaded lib after, PyTorch/JAX when installed; the GELU's
forms), ``linear_loss`` (the deep linear loss, three-operand einsum before, two-operand after),
``chapters`` (every chapter's time with its defaults; with ``--paper-presets``, every paper preset's
time and verdicts). Every section records the load average next to its times: the machine may be
shared, so compare the ratios of rows measured side by side, not seconds across runs. Writes benchmarks/results.md (or
benchmarks/paper-presets.md).

Usage: python benchmarks/run.py [--repeats 7] [--skip-book] | --paper-presets [--only SLUG,SLUG]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from basin import bench_basin
from chapters import bench_book, bench_paper_presets, book_section
from common import HERE, load, machine
from digits import bench_digits_step, bench_gelu, framework_row
from figure2 import bench_figure2, torch_row
from linear_loss import bench_linear_loss


def figure2_section(fig2: list, load_now: str = "") -> list[str]:
    plain = fig2[0][1]
    out = [
        "## 1. Figure 2 loop (Nar & Sastry): microseconds per run-step",
        "",
        *([f"Load average {load_now} when measured.", ""] if load_now else []),
        "| implementation | µs per run-step | × plain | note |",
        "|---|---|---|---|",
    ]
    for name, us, note in fig2:
        out.append(
            f"| {name} | – | – | {note} |" if us is None else f"| {name} | {us:.1f} | {plain / us:.1f} | {note} |"
        )
    batched, torch_us = fig2[2][1], fig2[3][1]
    verdict = (
        f"Target (c) ≤ 40 µs and ≥ 5× (a): {'met' if batched <= 40 and plain / batched >= 5 else 'not met'}"
        f" ({batched:.1f} µs, {plain / batched:.1f}×)"
    )
    if torch_us is not None:
        verdict += f"; ≥ 6× (d): {'met' if torch_us / batched >= 6 else 'not met'} ({torch_us / batched:.1f}×)"
    return out + [
        "",
        verdict + ".",
        "",
        (
            "torch is not a dependency of the book: row (d) appears when it is installed in `.venv` "
            "(here: `.venv/bin/pip install torch==2.13.0`, the CPU build), and is skipped otherwise."
        ),
        "",
    ]


def basin_section(basin: dict, load_now: str = "") -> list[str]:
    t_vec, t_plain, work = basin["t_vec"], basin["t_plain"], basin["work"]
    speed = t_plain / t_vec
    out = [
        "## 2. Basin map of the toy loss (10⁶ points × 1000 steps, fates classified)",
        "",
        *([f"Load average {load_now} when measured.", ""] if load_now else []),
        (
            f"Both paths run the same algorithm (GD with a check every 16 steps; finished runs stop), with "
            f"bit-for-bit equal iterates (`tests/test_toy.py`); each takes {work / 1e6:.1f} million "
            "point-steps for the map, not 10⁹, because most runs converge or diverge within a few dozen steps."
        ),
        "",
        "| implementation | seconds for 10⁶ points | ns per point-step |",
        "|---|---|---|",
        f"| lib `toy.fates`, vectorised | {t_vec:.3f} | {t_vec / work * 1e9:.1f} |",
        (
            f"| per-point Python loop `toy.fate_plain` (sample of {basin['sample']}, scaled) | {t_plain:.2f} | "
            f"{t_plain / work * 1e9:.0f} |"
        ),
        "",
        (
            f"Speed-up {speed:.0f}×. Target under 3 s: {'met' if t_vec < 3 else 'not met'}; "
            f"≥ 100× the per-point loop: {'met' if speed >= 100 else 'not met'}. "
            f"(Medians of {basin['repeats']} repeats each, the vectorised path after one warm-up.)"
        ),
        "",
    ]
    if speed < 100 and t_vec < 3:
        out += [
            (
                "The gap: the per-point loop does each step on Python floats at about "
                f"{t_plain / work * 1e9:.0f} ns, and the vectorised step is seven numpy array operations "
                f"plus the cycle watch and the checks, at {t_vec / work * 1e9:.1f} ns per point in all. "
                f"100× would need {t_plain / work * 1e9 / 100:.1f} ns per point-step, below what numpy's "
                "one-operation-at-a-time arrays reach here; a compiled kernel (numba, C) could, at the price of a "
                "dependency the book does not otherwise need."
            ),
            "",
        ]
    return out


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


def digits_part(repeats: int) -> list[str]:
    load_step = load()
    step = bench_digits_step(repeats)
    load_gelu = load()
    return digits_section(step, bench_gelu(repeats), load_step, load_gelu)


def linear_section(rows: list, load_now: str) -> list[str]:
    ref = rows[0][1]
    out = [
        "## 4. Deep linear loss: microseconds per call",
        "",
        f"Load average {load_now} when measured.",
        "",
        "| implementation | µs per call | × before | note |",
        "|---|---|---|---|",
    ]
    out += [f"| {name} | {us:.0f} | {ref / us:.2f} | {note} |" for name, us, note in rows]
    return out + ["", "Equal to rounding (`tests/test_linear.py`).", ""]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--torch-row"]:  # internal: row (d) in its own process
        import json

        print(json.dumps(torch_row(int(argv[1]), int(argv[2]))))
        return 0
    if argv[:1] == ["--digits-row"]:  # internal: a framework's digits row in its own process
        import json

        print(json.dumps(framework_row(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-book", action="store_true")
    ap.add_argument(
        "--paper-presets",
        action="store_true",
        help="only run the chapters' paper presets (slow) and write benchmarks/paper-presets.md",
    )
    ap.add_argument("--only", metavar="SLUGS", help="with --paper-presets: only these chapters (comma-separated)")
    args = ap.parse_args(argv)
    if args.paper_presets:
        only = [s for s in (args.only or "").split(",") if s]
        print(f"wrote {bench_paper_presets(only or None)}", file=sys.stderr)
        return 0
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    out = [
        "# Benchmarks",
        "",
        f"Machine: {machine()}.",
        "",
        (
            f"Generated by `make bench` (`benchmarks/run.py`); times are medians of {args.repeats} repeats "
            "after one warm-up unless stated."
        ),
        "",
    ]
    parts = (
        lambda: figure2_section(bench_figure2(args.repeats), load()),
        lambda: basin_section(bench_basin(args.repeats), load()),
        lambda: digits_part(args.repeats),
        lambda: linear_section(bench_linear_loss(args.repeats), load()),
    )
    for part in parts:
        section = part()
        out += section
        print("\n".join(section))
    if not args.skip_book:
        load0 = load()
        section = book_section(bench_book(), f"{load0} → {load()}")
        out += section
        print("\n".join(section))
    (HERE / "results.md").write_text("\n".join(out))
    print(f"wrote {HERE / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m stepsize``: list chapters, run one with parameters, refresh stored outputs.

Every parameter is parsed and range-checked here before papermill (or a kernel) is started;
a bad call exits with status 2 and one line naming the problem and the allowed values.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import chapters
from .chapters import Chapter, ParameterError


def _jsonable(v: Any) -> Any:
    """A glued value as JSON: no number (NaN, or the text "nan") is ``null``; infinities are text."""
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return v if math.isfinite(v) else str(v)
    if isinstance(v, str) and v.strip().lower() == "nan":
        return None
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def execute_chapter(ch: Chapter, params: dict[str, Any], out: Path, kernel: str = "python3") -> dict[str, Any]:
    """Execute ``ch`` with checked ``params`` through papermill into ``out``; return its glued values.

    The kernel runs in the notebook's own folder, as it does under Jupyter Book and nbval.
    """
    import papermill as pm

    from .replication import glued_values

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.ipynb")
    pm.execute_notebook(
        str(ch.notebook),
        str(tmp),
        parameters=params,
        cwd=str(ch.notebook.parent),
        kernel_name=kernel,
        progress_bar=False,
        log_output=False,
    )
    tmp.replace(out)  # atomic: a finished notebook or none
    return glued_values(out)


def _cmd_list(args: argparse.Namespace) -> int:
    for ch in chapters.CHAPTERS.values():
        print(f"{ch.slug}  ({ch.path})  {ch.title}")
        for p in ch.params:
            print(f"    {p.name}: {p.kind.__name__} = {p.default!r}  -- {p.help}; {p.allowed()}")
        for r in ch.rules:
            print(f"    and {r.text}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    ch = chapters.get(args.slug)
    params = ch.parse([(n, v) for n, v in (args.param or [])])
    out_dir = Path(args.out)
    out = out_dir / f"{ch.slug}.ipynb"
    t0 = time.perf_counter()
    try:
        values = execute_chapter(ch, params, out)
    except Exception as e:  # papermill raises PapermillExecutionError with the cell's error
        line = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        print(f"stepsize run {ch.slug}: the notebook failed: {line}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({k: _jsonable(v) for k, v in values.items()}, sort_keys=True, allow_nan=False))
    else:
        print(f"{ch.slug}: executed in {time.perf_counter() - t0:.1f} s -> {out}", file=sys.stderr)
        for k, v in values.items():
            print(f"  {k} = {v!r}")
    return 0


def _cmd_execute(args: argparse.Namespace) -> int:
    """Re-execute notebooks in place (stored outputs), deterministically, with default parameters."""
    from .notebooks import execute_in_place

    slugs = args.slugs or list(chapters.CHAPTERS)
    for slug in slugs:
        chapters.get(slug)  # refuse an unknown slug before executing anything
    for slug in slugs:
        seconds = execute_in_place(chapters.get(slug).notebook)
        print(f"{slug}: {seconds:.1f} s", file=sys.stderr)
    from .scorecard import write_scorecard

    write_scorecard()
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import parse_grid, plot_summary, run_sweep, write_summary

    ch = chapters.get(args.slug)
    runs = parse_grid(ch, [(n, v) for n, v in (args.param or [])], args.seeds)
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs must be an integer >= 1; got {args.jobs}")
    out = Path(args.out or f"sweeps/{ch.slug}")
    print(f"{ch.slug}: {len(runs)} runs -> {out}", file=sys.stderr)
    results = run_sweep(runs, out, jobs=args.jobs, dask_address=args.dask, retry_failed=args.retry_failed)
    csv_path = write_summary(results, out)
    png = plot_summary(results, out, args.plot)
    failed = [r for r in results if r["status"] != "ok"]
    print(f"{len(results) - len(failed)} ok, {len(failed)} failed; summary: {csv_path}"
          + (f", plot: {png}" if png else ""), file=sys.stderr)
    for r in failed:
        print(f"  failed {r['run_id']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_scorecard(args: argparse.Namespace) -> int:
    from .scorecard import write_scorecard

    path = write_scorecard()
    print(f"wrote {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m stepsize", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="every chapter with its parameters").set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="execute one chapter with parameters (papermill)")
    run.add_argument("slug", help="chapter slug (see `list`)")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="set a parameter; repeatable")
    run.add_argument("--out", default="runs", help="folder for the executed notebook (default: runs/)")
    run.add_argument("--json", action="store_true", help="print every glued value as one JSON object")
    run.set_defaults(func=_cmd_run)

    sw = sub.add_parser("sweep", help="run a grid of parameter values (x seeds) of one chapter")
    sw.add_argument("slug", help="chapter slug (see `list`)")
    sw.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "V1,V2,..."),
                    help="a parameter and its comma-separated values; repeatable (grid = product)")
    sw.add_argument("--seeds", type=int, default=1, help="seeds 0..K-1 for each grid point (default 1)")
    sw.add_argument("--jobs", type=int, default=None, help="parallel processes (default: number of cores)")
    sw.add_argument("--dask", metavar="ADDRESS", help="send the runs to this Dask scheduler instead")
    sw.add_argument("--out", help="sweep folder (default: sweeps/SLUG)")
    sw.add_argument("--plot", metavar="NAME", help="glued value to plot (default: the first claim)")
    sw.add_argument("--retry-failed", action="store_true", help="re-run runs recorded as failed")
    sw.set_defaults(func=_cmd_sweep)

    sc = sub.add_parser("scorecard", help="regenerate book/scorecard.md from the chapters' claim checks")
    sc.set_defaults(func=_cmd_scorecard)

    ex = sub.add_parser("execute", help="re-execute chapters in place to refresh their stored outputs")
    ex.add_argument("slugs", nargs="*", help="chapter slugs (default: all)")
    ex.set_defaults(func=_cmd_execute)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

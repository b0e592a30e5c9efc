"""``python -m stepsize``: list chapters, run one with parameters, refresh stored outputs.

Every parameter is parsed and range-checked here before papermill (or a kernel) is started;
a bad call exits with status 2 and one line naming the problem and the allowed values.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .book import registry as chapters
from .book.registry import ParameterError
from .book.registry.core import cut
from .runner import NotebookFailed, execute_chapter

#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130


def check_out_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it writable (a file is made and removed), or refuse it."""

    def refuse(why: str) -> ParameterError:
        return ParameterError(f"--out {cut(str(path))} is not a writable folder ({why})")

    if path.exists() and not path.is_dir():
        raise refuse("it is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise refuse(e.strerror or type(e).__name__) from None
    return path


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
    out_dir = check_out_dir(Path(args.out))
    out = out_dir / f"{ch.slug}.ipynb"
    t0 = time.perf_counter()
    try:
        values = execute_chapter(ch, params, out)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"stepsize run {ch.slug}: interrupted; the kernel is stopped and nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NotebookFailed as e:
        print(f"stepsize run {ch.slug}: the notebook failed: {e}", file=sys.stderr)
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
    from .book.notebooks import execute_in_place

    slugs = args.slugs or list(chapters.CHAPTERS)
    for slug in slugs:
        chapters.get(slug)  # refuse an unknown slug before executing anything
    for slug in slugs:
        seconds = execute_in_place(chapters.get(slug).notebook)
        print(f"{slug}: {seconds:.1f} s", file=sys.stderr)
    from .book.scorecard import write_scorecard

    write_scorecard()
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import (
        SweepInterrupted,
        check_plot_name,
        connect_dask,
        parse_grid,
        plot_summary,
        run_sweep,
        sweep_lock,
        write_summary,
    )

    ch = chapters.get(args.slug)
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs must be an integer >= 1; got {args.jobs}")
    notes: list[str] = []
    runs = parse_grid(ch, [(n, v) for n, v in (args.param or [])], args.seeds, max_runs=args.max_runs, notes=notes)
    if args.plot is not None:
        check_plot_name(ch, args.plot)
    out = check_out_dir(Path(args.out or f"sweeps/{ch.slug}"))
    with sweep_lock(out):  # before the first line: a refused sweep prints only its reason
        client = connect_dask(args.dask) if args.dask is not None else None
        for line in notes:
            print(line, file=sys.stderr)
        print(f"{ch.slug}: {len(runs)} run{'s' if len(runs) != 1 else ''} -> {out}", file=sys.stderr)
        try:
            results = run_sweep(runs, out, jobs=args.jobs, retry_failed=args.retry_failed, client=client, lock=False)
        except SweepInterrupted as e:
            print(str(e), file=sys.stderr)
            return EXIT_INTERRUPTED
    csv_path = write_summary(results, out)
    png = plot_summary(results, out, args.plot)
    failed = [r for r in results if r["status"] != "ok"]
    print(
        f"{len(results) - len(failed)} ok, {len(failed)} failed; summary: {csv_path}"
        + (f", plot: {png}" if png else ""),
        file=sys.stderr,
    )
    for r in failed:
        print(f"  failed {r['run_id']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_scorecard(args: argparse.Namespace) -> int:
    from .book.scorecard import write_scorecard

    path = write_scorecard()
    print(f"wrote {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m stepsize", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="every chapter with its parameters").set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="execute one chapter with parameters (papermill)")
    run.add_argument("slug", help="chapter slug (see `list`)")
    run.add_argument(
        "-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a parameter; repeatable"
    )
    run.add_argument("--out", default="runs", help="folder for the executed notebook (default: runs/)")
    run.add_argument("--json", action="store_true", help="print every glued value as one JSON object")
    run.set_defaults(func=_cmd_run)

    sw = sub.add_parser("sweep", help="run a grid of parameter values (x seeds) of one chapter")
    sw.add_argument("slug", help="chapter slug (see `list`)")
    sw.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "V1,V2,..."),
        help="a parameter and its comma-separated values; repeatable (grid = product)",
    )
    sw.add_argument("--seeds", type=int, default=1, help="seeds 0..K-1 for each grid point (default 1)")
    sw.add_argument("--jobs", type=int, default=None, help="parallel processes (default: number of cores)")
    sw.add_argument(
        "--dask", metavar="ADDRESS", help="send the runs to this Dask scheduler instead (it must answer within 10 s)"
    )
    sw.add_argument("--out", help="sweep folder (default: sweeps/SLUG)")
    sw.add_argument("--plot", metavar="NAME", help="glued value to plot (default: the first claim)")
    sw.add_argument("--retry-failed", action="store_true", help="re-run runs recorded as failed")
    sw.add_argument(
        "--max-runs", type=int, default=None, metavar="N", help="allow grids of up to N runs (default: 10000)"
    )
    sw.set_defaults(func=_cmd_sweep)

    sc = sub.add_parser("scorecard", help="regenerate book/scorecard.md from the chapters' claim checks")
    sc.set_defaults(func=_cmd_scorecard)

    ex = sub.add_parser("execute", help="re-execute chapters in place to refresh their stored outputs")
    ex.add_argument("slugs", nargs="*", help="chapter slugs (default: all)")
    ex.set_defaults(func=_cmd_execute)
    return ap


def split_params(argv: Sequence[str]) -> tuple[list[str], list[tuple[str, str]] | None]:
    """Take every ``-p NAME VALUE`` out of ``argv`` before argparse sees it.

    argparse reads a value such as ``-1e-3`` as an option; taken out here, it reaches the
    parameter's range check like any other value. Returns the other arguments and the pairs.
    """
    rest: list[str] = []
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        if a in ("-p", "--param"):
            if len(argv) - i < 3:
                raise ParameterError(f"{a} needs a NAME and a VALUE, as in {a} delta 0.1")
            pairs.append((argv[i + 1], argv[i + 2]))
            i += 3
            continue
        rest.append(a)
        i += 1
    return rest, (pairs or None)


def _listen_to_ctrl_c() -> None:
    """Make SIGINT raise KeyboardInterrupt even when it arrived ignored.

    A shell without job control starts background commands with SIGINT ignored, and Python then
    installs no handler: `kill -INT` (or a test's Ctrl-C) would do nothing, and a sweep would run
    on. Only the main thread can set a handler; elsewhere nothing is changed.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    _listen_to_ctrl_c()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rest, pairs = split_params(argv)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(rest)
    if pairs is not None:
        if not hasattr(args, "param"):
            build_parser().error(f"-p is not an option of '{args.command}'")
        args.param = pairs
    if getattr(args, "max_runs", "unset") is None:
        from .sweep import MAX_RUNS

        args.max_runs = MAX_RUNS
    try:
        return args.func(args)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

"""Parameter sweeps of one chapter through papermill: resumable, atomic, parallel.

Layout of a sweep folder ``DIR``::

    DIR/runs/<run_id>/notebook.ipynb   the executed notebook of one run
    DIR/runs/<run_id>/notebook.FAILED.ipynb   a failed run's notebook, kept as evidence
    DIR/runs/<run_id>/result.json      parameters, status, glued values, seconds, error
    DIR/summary.csv                    one row per run
    DIR/summary.png                    a glued value against the first swept parameter
    DIR/.sweep.lock                    held while a sweep runs on DIR

``result.json`` is written last and atomically (write, then rename): a run counts as finished
exactly when it exists, so a sweep killed at any point resumes without repeating finished runs.

A sweep holds ``DIR/.sweep.lock`` (an ``flock``, released by the kernel when the sweep and its
workers end, however they end; the file records the pid): a second sweep on the same folder
refuses to start. Each run executes in its own worker process, which ignores Ctrl-C (the sweep
decides), and stops its kernel and exits when the sweep stops it or dies (``PR_SET_PDEATHSIG``,
and a watchdog thread on the parent's pid where that does not exist).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import runner
from .book import registry as chapters
from .book.registry import Chapter, ParameterError
from .book.registry.core import cut, shorten

#: Largest grid a sweep accepts unless ``--max-runs`` raises it.
MAX_RUNS = 10_000
#: Seconds to wait for a Dask scheduler to answer (``--dask``).
DASK_CONNECT_TIMEOUT = 10
#: Seconds a stopped worker gets to end its kernel before it is killed.
STOP_GRACE = 3.0
LOCK_NAME = ".sweep.lock"


class SweepBusy(ParameterError):
    """Another sweep is running on the same folder."""


class SweepInterrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped a sweep; ``finished`` of ``total`` runs have their results."""

    def __init__(self, finished: int, total: int):
        super().__init__(f"interrupted: {finished} of {total} finished; run the same command to resume")
        self.finished, self.total = finished, total


@dataclass(frozen=True)
class Run:
    """One run of a sweep: the chapter and its full, checked parameter set."""

    slug: str
    params: tuple[tuple[str, Any], ...]

    @property
    def run_id(self) -> str:
        text = json.dumps([self.slug, list(self.params)], sort_keys=True)
        label = "_".join(f"{k}={v}" for k, v in self.params)
        safe = "".join(c if c.isalnum() or c in "=._-" else "-" for c in label)[:80]
        return f"{safe}__{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def parse_grid(
    ch: Chapter, specs: list[tuple[str, str]], seeds: int, *, max_runs: int = MAX_RUNS, notes: list[str] | None = None
) -> list[Run]:
    """Expand ``NAME V1,V2,...`` specs (x ``seeds`` seeds) into checked runs, before any runs.

    Values equal after parsing (``3`` and ``03``) are kept once, with a line appended to
    ``notes``. The number of runs (the product of the list lengths, times ``seeds``) is checked
    against ``max_runs`` before the grid is expanded. Raises ParameterError on any bad name or
    value, on a grid above ``max_runs``, or when ``--seeds`` is combined with a swept ``seed`` or
    used on a chapter without a ``seed`` parameter.
    """
    if max_runs < 1:
        raise ParameterError(f"--max-runs must be an integer >= 1; got {max_runs}")
    grid: dict[str, list[Any]] = {}
    for name, values in specs:
        if name in grid:
            raise ParameterError(f"{ch.slug}: parameter {shorten(name)} is given twice")
        ch.param(name)  # an unknown name, before its values
        texts = values.split(",")
        if any(t.strip() == "" for t in texts):
            raise ParameterError(
                f"{ch.slug}: parameter '{name}' needs a comma-separated list of values; got {shorten(values)}"
            )
        if len(texts) > max_runs:
            raise ParameterError(
                f"{ch.slug}: parameter '{name}' has {len(texts):,} values, more runs than the "
                f"limit of {max_runs:,}; give --max-runs to raise it"
            )
        kept: list[Any] = []
        repeated: list[str] = []
        for t in texts:
            v = ch.parse([(name, t)], rules=False)[name]
            if v in kept:
                repeated.append(t.strip())
            else:
                kept.append(v)
        if repeated and notes is not None:
            notes.append(
                f"note: {name}: {shorten(', '.join(repeated))} repeat{'s' if len(repeated) == 1 else ''} "
                f"an earlier value (after parsing); each parameter set runs once"
            )
        grid[name] = kept
    if seeds < 1:
        raise ParameterError(f"{ch.slug}: --seeds must be an integer >= 1; got {seeds}")
    if seeds > 1:
        if "seed" in grid:
            raise ParameterError(f"{ch.slug}: give either --seeds or -p seed, not both")
        ch.param("seed")  # raises when the chapter has no seed
    n_runs = math.prod(len(v) for v in grid.values()) * seeds
    if n_runs > max_runs:
        raise ParameterError(
            f"{ch.slug}: the grid has {n_runs:,} runs, more than the limit of {max_runs:,}; "
            f"give --max-runs {n_runs} to run it anyway"
        )
    if seeds > 1:
        grid["seed"] = list(range(seeds))
    names = list(grid)
    runs = []
    for combo in itertools.product(*(grid[n] for n in names)):
        ch.check_rules(dict(zip(names, combo)))  # every combination, before any run starts
        runs.append(Run(ch.slug, tuple(zip(names, combo))))
    return runs


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def execute_run(run: Run, out_dir: str) -> dict:
    """Execute one run (in this process or a worker) and record its result atomically."""
    folder = Path(out_dir) / "runs" / run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    ch = chapters.get(run.slug)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"run_id": run.run_id, "slug": run.slug, "params": dict(run.params)}
    try:
        result["values"] = runner.execute_chapter(ch, dict(run.params), folder / "notebook.ipynb")
        result["status"] = "ok"
        result["error"] = ""
    except Exception as e:  # noqa: BLE001 - a failed run, whatever failed in it, is a result recorded with its error
        msg = str(e).strip().splitlines()
        result["values"] = {}
        result["status"] = "failed"
        result["error"] = msg[-1] if msg else "".join(traceback.format_exception_only(e)).strip()
        saved = getattr(e, "saved", None)
        if saved:
            result["failed_notebook"] = str(saved)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    _write_json_atomic(folder / "result.json", result)
    return result


def load_result(out_dir: Path, run: Run) -> dict | None:
    path = out_dir / "runs" / run.run_id / "result.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


@contextmanager
def sweep_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir/.sweep.lock`` for the duration, or raise SweepBusy naming the holder.

    The lock is an ``flock`` on the file, so it ends with the processes that hold it (a killed
    sweep leaves no stale lock); the file records the pid and command for the message.
    """
    import fcntl

    path = out_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        try:
            info = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        pid = info.get("pid")
        state = "running" if pid and _alive(int(pid)) else "ended, its workers are still stopping"
        who = f"pid {pid} ({state}), started {info.get('started', '?')}" if pid else "another process"
        raise SweepBusy(
            f"--out {cut(str(out_dir))} is in use by another sweep: {who}; wait for it to finish or stop it"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "command": shorten(" ".join(sys.argv), 300),
                }
            ).encode(),
        )
        yield
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- worker processes ---------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_current_partial: Path | None = None


def _worker_stop(signum: int | None = None, frame: Any = None) -> None:
    """Stop this worker now: kill its kernel, drop its unfinished notebook, exit (no result)."""
    runner.kill_children()
    if _current_partial is not None:
        for p in _current_partial.parent.glob("*.partial.ipynb"):
            p.unlink(missing_ok=True)
    os._exit(143)


def _die_with_parent(parent_pid: int) -> None:
    """Arrange for SIGTERM (then :func:`_worker_stop`) when the sweep process dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no libc, or a libc without prctl
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:  # where prctl does not exist, and as a second line
        while True:
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        _worker_stop()


def _worker_main(run: Run, out_dir: str, parent_pid: int) -> None:
    global _current_partial
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    signal.signal(signal.SIGTERM, _worker_stop)
    _die_with_parent(parent_pid)
    _current_partial = Path(out_dir) / "runs" / run.run_id / "notebook.ipynb"
    execute_run(run, out_dir)


def _died(run: Run, exitcode: int | None) -> dict:
    return {
        "run_id": run.run_id,
        "slug": run.slug,
        "params": dict(run.params),
        "values": {},
        "status": "failed",
        "seconds": 0.0,
        "error": f"the worker process ended without a result (exit code {exitcode})",
    }


def _run_local(todo: list[Run], out_dir: Path, jobs: int, note: Any) -> None:
    """Execute ``todo`` in at most ``jobs`` worker processes; Ctrl-C stops them (KeyboardInterrupt)."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pending = list(todo)
    running: dict[int, tuple[Any, Run]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                run = pending.pop(0)
                proc = ctx.Process(target=_worker_main, args=(run, str(out_dir), os.getpid()), daemon=True)
                proc.start()
                running[proc.sentinel] = (proc, run)
            for sentinel in wait(list(running), timeout=1.0):
                proc, run = running.pop(sentinel)
                proc.join()
                res = load_result(out_dir, run)
                if res is None:
                    res = _died(run, proc.exitcode)
                    _write_json_atomic(out_dir / "runs" / run.run_id / "result.json", res)
                note(res)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        _stop_workers(ctx)
        raise


def _stop_workers(ctx: Any) -> None:
    """SIGTERM every live worker (each kills its kernel and exits), then SIGKILL what is left."""
    procs = ctx.active_children() if hasattr(ctx, "active_children") else []
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(1.0)


def connect_dask(address: str, timeout: float = DASK_CONNECT_TIMEOUT) -> Any:
    """A Dask client on ``address``, or ParameterError in one line naming ``--dask`` (after at
    most ``timeout`` seconds)."""
    import logging

    from dask.distributed import Client

    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # a failed connection is reported in one line below
    try:
        return Client(address, timeout=timeout)
    except (ValueError, TypeError) as e:
        raise ParameterError(
            f"--dask {cut(address, 80)} is not a Dask scheduler address such as "
            f"tcp://127.0.0.1:8786 ({shorten(str(e), 80)})"
        ) from None
    except Exception as e:  # noqa: BLE001 - distributed raises many kinds; each is reported as one line
        raise ParameterError(
            f"--dask {cut(address, 80)}: no Dask scheduler answered within {timeout:g} s ({type(e).__name__})"
        ) from None
    finally:
        quiet.setLevel(level)


def _run_dask(todo: list[Run], out_dir: Path, client: Any, note: Any) -> None:
    from dask.distributed import as_completed

    with client:
        futures = client.map(execute_run, todo, out_dir=str(out_dir), pure=False)
        try:
            for fut in as_completed(futures):
                note(fut.result())
        except BaseException:
            client.cancel(futures)  # runs already on a worker finish there; their results are kept
            raise


def run_sweep(
    runs: list[Run],
    out_dir: Path,
    jobs: int | None = None,
    dask_address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    client: Any = None,
    lock: bool = True,
) -> list[dict]:
    """Execute every run not finished yet (worker processes, or a Dask cluster); return all results.

    ``client`` is a connected Dask client (:func:`connect_dask`); else ``dask_address`` is
    connected to here, before anything runs. ``lock=False`` when the caller holds
    :func:`sweep_lock` already.

    Holds the folder's lock throughout (SweepBusy if another sweep has it). On Ctrl-C or SIGTERM
    nothing new starts, the running kernels are stopped, finished results stay, and
    SweepInterrupted says how many runs are finished.
    """
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    with sweep_lock(out_dir) if lock else contextlib.nullcontext(), _sigterm_as_interrupt():
        done = {r.run_id: load_result(out_dir, r) for r in runs}
        todo = [r for r in runs if done[r.run_id] is None or (retry_failed and done[r.run_id]["status"] != "ok")]
        if dask_address and client is None and todo:
            client = connect_dask(dask_address)
        finished = sum(1 for r in runs if done[r.run_id] is not None and r not in todo)
        failed = sum(1 for r in runs if r not in todo and done[r.run_id] and done[r.run_id]["status"] != "ok")
        bar = tqdm(total=len(runs), initial=finished, disable=not progress, unit="run", dynamic_ncols=True)

        def note(res: dict) -> None:
            nonlocal failed
            done[res["run_id"]] = res
            failed += res["status"] != "ok"
            bar.update(1)
            bar.set_postfix(finished=bar.n, failed=failed, remaining=len(runs) - bar.n)

        bar.set_postfix(finished=bar.n, failed=failed, remaining=len(runs) - bar.n)
        try:
            if todo:
                if client is not None:
                    _run_dask(todo, out_dir, client, note)
                else:
                    _run_local(todo, out_dir, jobs or os.cpu_count() or 1, note)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
            bar.close()
            n = sum(1 for r in runs if (out_dir / "runs" / r.run_id / "result.json").exists())
            raise SweepInterrupted(n, len(runs)) from None
        bar.close()
        return [done[r.run_id] for r in runs]


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM to the sweep like Ctrl-C (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) < 80)


def write_summary(results: Iterable[dict], out_dir: Path) -> Path:
    """Write ``summary.csv``: parameters, every glued scalar, status, seconds, error.

    A glued value named like a parameter is left out when it equals that parameter in every row
    (the chapter glues its inputs too); otherwise it gets the column ``glued_<name>``.
    """
    results = list(results)
    pnames: list[str] = []
    vnames: list[str] = []
    for r in results:
        pnames += [k for k in r["params"] if k not in pnames]
        vnames += [k for k, v in r["values"].items() if _scalar(v) and k not in vnames]
    columns: list[tuple[str, str]] = []  # (column header, glued name)
    for k in vnames:
        if k in pnames or k in ("run_id", "status", "seconds", "error"):
            if k in pnames and all(k not in r["values"] or r["values"][k] == r["params"].get(k) for r in results):
                continue
            columns.append((f"glued_{k}", k))
        else:
            columns.append((k, k))
    path = out_dir / "summary.csv"
    tmp = path.with_name("summary.csv.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run_id", *pnames, *(c for c, _ in columns), "status", "seconds", "error"])
        for r in results:
            w.writerow(
                [
                    r["run_id"],
                    *(r["params"].get(k, "") for k in pnames),
                    *(r["values"].get(k, "") for _, k in columns),
                    r["status"],
                    r["seconds"],
                    r["error"],
                ]
            )
    os.replace(tmp, path)
    return path


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_plot_name(ch: Chapter, name: str) -> None:
    """Raise ParameterError unless ``name`` is a number that ``ch`` glues (checked before any run)."""
    from .book.replication import glued_values

    glued = glued_values(ch.notebook)
    numbers = [k for k, v in glued.items() if _number(v)]
    listed = ", ".join(numbers[:12]) + (f", ... ({len(numbers)} in all)" if len(numbers) > 12 else "")
    if name not in glued:
        raise ParameterError(f"--plot {cut(name, 80)} is not a value {ch.slug} glues; its numbers: {listed}")
    if name not in numbers:
        raise ParameterError(
            f"--plot {cut(name, 80)} is not a number in {ch.slug} (it is "
            f"{type(glued[name]).__name__}); its numbers: {listed}"
        )


def _theory_name(value: str, names: Iterable[str]) -> str | None:
    """The glued name holding the theory's prediction for ``value``, if the chapter glues one."""
    names = set(names)
    base = value
    for suffix in ("_reproduced", "_measured", "_observed", "_empirical"):
        if value.endswith(suffix):
            base = value[: -len(suffix)]
    for cand in (f"{base}_theory", f"{base}_predicted", f"{base}_bound", f"{value}_theory"):
        if cand in names and cand != value:
            return cand
    if value.startswith("claim_") and value.endswith("_reproduced") and f"{base}_paper" in names:
        return f"{base}_paper"
    return None


def _spans_decades(values: Iterable[float]) -> bool:
    vals = [v for v in values if math.isfinite(v)]
    return bool(vals) and min(vals) > 0 and max(vals) / min(vals) >= 100


def _label(ch: Chapter | None, name: str) -> str:
    """An axis label: a parameter's help up to its first ``,``/``;``/``(`` (the rest states ranges), and its name."""
    if ch is not None:
        try:
            help_text = ch.param(name).help
        except ParameterError:
            pass
        else:
            short = re.split(r",\s|;\s|\s\(", help_text, maxsplit=1)[0].strip() or help_text
            return f"{short} ({name})"
    if name.startswith("claim_") and name.endswith("_reproduced"):
        return f"claim {name[6:-11]}: reproduced value"
    return name.replace("_", " ")


def plot_summary(results: list[dict], out_dir: Path, value: str | None = None) -> Path | None:
    """Write ``summary.png`` (see :func:`summary_figure`); None when there is nothing to plot."""
    import matplotlib.pyplot as plt

    fig = summary_figure(results, value)
    if fig is None:
        return None
    path = out_dir / "summary.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def summary_figure(results: list[dict], value: str | None = None) -> Any:
    """A glued value against the first swept parameter: mean over seeds with min-max bars,
    one line per value of the other swept parameters, the chapter's theory where it glues one;
    log axes where the values span two decades or more. None when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        return None
    if value is None:
        value = next((k for k, v in ok[0]["values"].items() if k.endswith("_reproduced") and _number(v)), None)
    if value is None:
        return None
    swept = [k for k in ok[0]["params"] if k != "seed"]
    if not swept:
        return None
    try:
        ch: Chapter | None = chapters.get(ok[0]["slug"])
    except ParameterError:
        ch = None
    x_name, others = swept[0], swept[1:]
    theory = _theory_name(value, ok[0]["values"])
    groups: dict[tuple, dict[Any, list[float]]] = {}
    predicted: dict[Any, list[float]] = {}
    seeds = set()
    for r in ok:
        v = r["values"].get(value)
        if _number(v):
            key = tuple(r["params"][k] for k in others)
            groups.setdefault(key, {}).setdefault(r["params"][x_name], []).append(float(v))
            seeds.add(r["params"].get("seed"))
        if theory and _number(r["values"].get(theory)):
            predicted.setdefault(r["params"][x_name], []).append(float(r["values"][theory]))
    if not groups:
        return None
    xs_all = sorted({x for pts in groups.values() for x in pts}, key=lambda x: (str(type(x)), x))
    numeric_x = all(_number(x) for x in xs_all)
    pos = (lambda x: x) if numeric_x else (lambda x: xs_all.index(x))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ys: list[float] = []
    for key, pts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        xs = sorted(pts, key=lambda x: (str(type(x)), x))
        mean = np.array([np.mean(pts[x]) for x in xs])
        lo = np.array([np.min(pts[x]) for x in xs])
        hi = np.array([np.max(pts[x]) for x in xs])
        ys += [*lo, *hi]
        label = ", ".join(f"{k} = {v}" for k, v in zip(others, key)) or "measured"
        ax.errorbar([pos(x) for x in xs], mean, yerr=[mean - lo, hi - mean], fmt="o-", capsize=3, label=label)
    if predicted:
        xs = sorted(predicted, key=lambda x: (str(type(x)), x))
        ty = [float(np.mean(predicted[x])) for x in xs]
        ys += ty
        ax.plot([pos(x) for x in xs], ty, "k--", label=f"theory ({theory})")
    if numeric_x and _spans_decades(float(x) for x in xs_all):
        ax.set_xscale("log")
    if _spans_decades(ys):
        ax.set_yscale("log")
    if not numeric_x:
        ax.set_xticks(range(len(xs_all)), [str(x) for x in xs_all])
    ax.set_xlabel(_label(ch, x_name))
    ax.set_ylabel(_label(ch, value))
    n_seeds = len(seeds - {None}) or 1
    spread = f"mean of {n_seeds} seeds, bars from min to max" if n_seeds > 1 else "one seed per point"
    title = f"{ch.title}" if ch is not None else ok[0]["slug"]
    ax.set_title(f"{title}\n{value} against {x_name} ({spread})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig

"""Parameter sweeps of one chapter through papermill: resumable, atomic, parallel.

Layout of a sweep folder ``DIR``::

    DIR/runs/<run_id>/notebook.ipynb   the executed notebook of one run
    DIR/runs/<run_id>/result.json      parameters, status, glued values, seconds, error
    DIR/summary.csv                    one row per run
    DIR/summary.png                    a glued value against the first swept parameter

``result.json`` is written last and atomically (write, then rename): a run counts as finished
exactly when it exists, so a sweep killed at any point resumes without repeating finished runs.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from . import chapters
from .chapters import Chapter, ParameterError


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


def parse_grid(ch: Chapter, specs: list[tuple[str, str]], seeds: int) -> list[Run]:
    """Expand ``NAME V1,V2,...`` specs (x ``seeds`` seeds) into checked runs, before any runs.

    Raises ParameterError on any bad name or value, or when ``--seeds`` is combined with a swept
    ``seed`` or used on a chapter without a ``seed`` parameter.
    """
    grid: dict[str, list[Any]] = {}
    for name, values in specs:
        if name in grid:
            raise ParameterError(f"{ch.slug}: parameter '{name}' is given twice")
        texts = [v for v in values.split(",")]
        if not texts or any(t.strip() == "" for t in texts):
            raise ParameterError(f"{ch.slug}: parameter '{name}' needs a comma-separated list of values; got {values!r}")
        grid[name] = [ch.parse([(name, t)], rules=False)[name] for t in texts]
    if seeds < 1:
        raise ParameterError(f"{ch.slug}: --seeds must be an integer >= 1; got {seeds}")
    if seeds > 1:
        if "seed" in grid:
            raise ParameterError(f"{ch.slug}: give either --seeds or -p seed, not both")
        ch.param("seed")  # raises when the chapter has no seed
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
    from .cli import execute_chapter

    folder = Path(out_dir) / "runs" / run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    ch = chapters.get(run.slug)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"run_id": run.run_id, "slug": run.slug, "params": dict(run.params)}
    try:
        result["values"] = execute_chapter(ch, dict(run.params), folder / "notebook.ipynb")
        result["status"] = "ok"
        result["error"] = ""
    except Exception as e:  # a failed run is a result, recorded with its error
        msg = str(e).strip().splitlines()
        result["values"] = {}
        result["status"] = "failed"
        result["error"] = msg[-1] if msg else "".join(traceback.format_exception_only(e)).strip()
    result["seconds"] = round(time.perf_counter() - t0, 2)
    _write_json_atomic(folder / "result.json", result)
    return result


def load_result(out_dir: Path, run: Run) -> dict | None:
    path = out_dir / "runs" / run.run_id / "result.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def run_sweep(runs: list[Run], out_dir: Path, jobs: int | None = None, dask_address: str | None = None,
              retry_failed: bool = False, progress: bool = True) -> list[dict]:
    """Execute every run not finished yet (process pool, or a Dask cluster); return all results."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    done = {r.run_id: load_result(out_dir, r) for r in runs}
    todo = [r for r in runs if done[r.run_id] is None
            or (retry_failed and done[r.run_id]["status"] != "ok")]
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
    if todo:
        if dask_address:
            from dask.distributed import Client, as_completed

            with Client(dask_address) as client:
                futures = client.map(execute_run, todo, out_dir=str(out_dir), pure=False)
                for fut in as_completed(futures):
                    note(fut.result())
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed as done_first

            with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
                futures = [pool.submit(execute_run, r, str(out_dir)) for r in todo]
                try:
                    for fut in done_first(futures):
                        note(fut.result())
                except KeyboardInterrupt:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    bar.close()
    return [done[r.run_id] for r in runs]


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) < 80)


def write_summary(results: Iterable[dict], out_dir: Path) -> Path:
    """Write ``summary.csv``: parameters, every glued scalar, status, seconds, error."""
    results = list(results)
    pnames: list[str] = []
    vnames: list[str] = []
    for r in results:
        pnames += [k for k in r["params"] if k not in pnames]
        vnames += [k for k, v in r["values"].items() if _scalar(v) and k not in vnames]
    path = out_dir / "summary.csv"
    tmp = path.with_name("summary.csv.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run_id", *pnames, *vnames, "status", "seconds", "error"])
        for r in results:
            w.writerow([r["run_id"], *(r["params"].get(k, "") for k in pnames),
                        *(r["values"].get(k, "") for k in vnames), r["status"], r["seconds"], r["error"]])
    os.replace(tmp, path)
    return path


def plot_summary(results: list[dict], out_dir: Path, value: str | None = None) -> Path | None:
    """Plot a glued value against the first swept parameter (mean and spread over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        return None
    if value is None:
        value = next((k for k, v in ok[0]["values"].items() if k.endswith("_reproduced")
                      and isinstance(v, (int, float)) and not isinstance(v, bool)), None)
    if value is None:
        return None
    swept = [k for k in ok[0]["params"] if k != "seed"]
    if not swept:
        return None
    x_name, others = swept[0], swept[1:]
    groups: dict[tuple, dict[Any, list[float]]] = {}
    for r in ok:
        v = r["values"].get(value)
        if isinstance(v, (int, float)):
            key = tuple(r["params"][k] for k in others)
            groups.setdefault(key, {}).setdefault(r["params"][x_name], []).append(float(v))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for key, pts in sorted(groups.items()):
        xs = sorted(pts)
        mean = np.array([np.mean(pts[x]) for x in xs])
        lo = np.array([np.min(pts[x]) for x in xs])
        hi = np.array([np.max(pts[x]) for x in xs])
        label = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or value
        ax.plot(xs, mean, "o-", label=label)
        ax.fill_between(xs, lo, hi, alpha=0.2)
    ax.set_xlabel(x_name)
    ax.set_ylabel(value)
    ax.legend(fontsize=8)
    path = out_dir / "summary.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path

"""Sweeps: validation up front, atomic results, resume after a kill, summary, failures, Dask."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from stepsize import chapters, sweep
from stepsize.chapters import REPO_ROOT, ParameterError


def test_grid_is_validated_before_anything_runs():
    ch = chapters.get("nar-example1")
    runs = sweep.parse_grid(ch, [("delta", "0.2,0.5"), ("n_init", "200,500,1000")], seeds=2)
    assert len(runs) == 12 and len({r.run_id for r in runs}) == 12
    assert dict(runs[0].params) == {"delta": 0.2, "n_init": 200, "seed": 0}
    with pytest.raises(ParameterError, match="'delta' must be a number in \\(0, 100\\]; got '-1'"):
        sweep.parse_grid(ch, [("delta", "0.2,-1")], seeds=1)
    with pytest.raises(ParameterError, match="either --seeds or -p seed"):
        sweep.parse_grid(ch, [("seed", "1,2")], seeds=2)
    with pytest.raises(ParameterError, match="comma-separated"):
        sweep.parse_grid(ch, [("delta", "0.2,")], seeds=1)


def test_a_failed_run_is_recorded_not_raised(tmp_path, monkeypatch):
    import stepsize.cli

    def boom(*a, **k):
        raise RuntimeError("ZeroDivisionError: the notebook broke")

    monkeypatch.setattr(stepsize.cli, "execute_chapter", boom)
    run = sweep.Run("nar-example1", (("delta", 0.3),))
    res = sweep.execute_run(run, str(tmp_path))
    assert res["status"] == "failed" and "ZeroDivisionError" in res["error"]
    assert json.loads((tmp_path / "runs" / run.run_id / "result.json").read_text())["status"] == "failed"
    rows = list(csv.DictReader(open(sweep.write_summary([res], tmp_path))))
    assert rows[0]["status"] == "failed" and rows[0]["delta"] == "0.3"


def _sweep_cmd(out, *extra):
    return [sys.executable, "-m", "stepsize", "sweep", "nar-example1", "-p", "delta", "0.2,0.5",
            "-p", "n_init", "200,500,1000", "--seeds", "2", "--jobs", "2", "--out", str(out), *extra]


def _results(out):
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/result.json")}


@pytest.mark.notebooks
def test_sweep_resumes_after_kill_without_repeating(tmp_path):
    out = tmp_path / "sw"
    proc = subprocess.Popen(_sweep_cmd(out), cwd=REPO_ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(_results(out)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _results(out)
    assert 3 <= len(before) < 12, f"kill came too late or too early: {len(before)} finished"

    r = subprocess.run(_sweep_cmd(out), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _results(out)
    assert len(after) == 12
    assert all(after[k] == t for k, t in before.items()), "a finished run was executed again"

    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert len(rows) == 12
    assert {(r["delta"], r["n_init"], r["seed"]) for r in rows} == {
        (d, n, s) for d in ("0.2", "0.5") for n in ("200", "500", "1000") for s in ("0", "1")}
    for row in rows:
        assert row["status"] == "ok"
        assert float(row["orbit_amplitude"]) == pytest.approx(float(row["delta"]) ** 2 / 4, rel=1e-6)
        assert float(row["seconds"]) > 0
    assert (out / "summary.png").exists()


@pytest.mark.notebooks
def test_sweep_on_a_dask_cluster(tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runs = sweep.parse_grid(chapters.get("nar-example1"), [("delta", "0.3,0.4"), ("n_init", "300")], 1)
        results = sweep.run_sweep(runs, tmp_path, dask_address=cluster.scheduler_address, progress=False)
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert [r["values"]["orbit_amplitude_theory"] for r in results] == [0.0225, 0.04]

"""Sweeps: validation up front, atomic results, resume after a kill, summary, failures, Dask."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_cli
from stepsize import sweep
from stepsize.book import registry as chapters
from stepsize.book.registry import REPO_ROOT, ParameterError


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
    import stepsize.runner

    def boom(*a, **k):
        raise RuntimeError("ZeroDivisionError: the notebook broke")

    monkeypatch.setattr(stepsize.runner, "execute_chapter", boom)
    run = sweep.Run("nar-example1", (("delta", 0.3),))
    res = sweep.execute_run(run, str(tmp_path))
    assert res["status"] == "failed" and "ZeroDivisionError" in res["error"]
    assert json.loads((tmp_path / "runs" / run.run_id / "result.json").read_text())["status"] == "failed"
    rows = list(csv.DictReader(sweep.write_summary([res], tmp_path).read_text().splitlines()))
    assert rows[0]["status"] == "failed" and rows[0]["delta"] == "0.3"


def _sweep_cmd(out, *extra):
    return [
        sys.executable,
        "-m",
        "stepsize",
        "sweep",
        "nar-example1",
        "-p",
        "delta",
        "0.2,0.5",
        "-p",
        "n_init",
        "200,500,1000",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def _results(out):
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/result.json")}


@pytest.mark.notebooks
def test_sweep_resumes_after_kill_without_repeating(tmp_path):
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        _sweep_cmd(out), cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while len(_results(out)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _results(out)
    assert 3 <= len(before) < 12, f"kill came too late or too early: {len(before)} finished"

    r = subprocess.run(_sweep_cmd(out), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _results(out)
    assert len(after) == 12
    assert all(after[k] == t for k, t in before.items()), "a finished run was executed again"

    rows = list(csv.DictReader((out / "summary.csv").read_text().splitlines()))
    assert len(rows) == 12
    assert {(r["delta"], r["n_init"], r["seed"]) for r in rows} == {
        (d, n, s) for d in ("0.2", "0.5") for n in ("200", "500", "1000") for s in ("0", "1")
    }
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


# --- item 1: duplicate values -----------------------------------------------------------------


def test_duplicate_values_run_once_with_a_note():
    ch = chapters.get("nar-example1")
    notes = []
    runs = sweep.parse_grid(ch, [("n_init", "3,3,03"), ("delta", "0.1,1e-1,0.2")], seeds=1, notes=notes)
    assert [dict(r.params) for r in runs] == [{"n_init": 3, "delta": 0.1}, {"n_init": 3, "delta": 0.2}]
    assert len(notes) == 2 and "n_init" in notes[0] and "'3, 03'" in notes[0] and "1e-1" in notes[1]
    assert all("runs once" in n for n in notes)


@pytest.mark.notebooks
def test_duplicate_values_note_on_the_command_line(tmp_path):
    out = tmp_path / "sw"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepsize",
            "sweep",
            "nar-example1",
            "-p",
            "n_init",
            "3,3,03",
            "-p",
            "n_steps",
            "10",
            "--jobs",
            "2",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "note: n_init: '3, 03' repeat an earlier value" in r.stderr and "1 run ->" in r.stderr
    assert "1 ok, 0 failed" in r.stderr
    assert len(list((out / "runs").glob("*/result.json"))) == 1
    assert len(list(csv.DictReader((out / "summary.csv").read_text().splitlines()))) == 1


# --- item 5: grid cap, before expanding anything ------------------------------------------------


def test_grid_cap_is_checked_before_expanding():
    ch = chapters.get("nar-example1")
    big = ",".join(str(i) for i in range(1, 1001))
    t0 = time.monotonic()
    with pytest.raises(
        ParameterError, match="the grid has 1,000,000 runs, more than the limit of 10,000; give --max-runs 1000000"
    ):
        sweep.parse_grid(ch, [("n_init", big), ("n_steps", big)], seeds=1)
    with pytest.raises(ParameterError, match="1,000,000,000 runs"):
        sweep.parse_grid(ch, [("n_init", "5")], seeds=10**9)
    assert time.monotonic() - t0 < 2
    assert len(sweep.parse_grid(ch, [("n_init", "1,2,3")], seeds=4, max_runs=12)) == 12
    with pytest.raises(ParameterError, match="'n_init' has 13 values, more runs than the limit of 12"):
        sweep.parse_grid(ch, [("n_init", "1,2,3,4,5,6,7,8,9,10,11,12,13")], seeds=1, max_runs=12)


_cli = run_cli


def test_grid_cap_on_the_command_line(tmp_path):
    t0 = time.monotonic()
    r = _cli("sweep", "nar-example1", "-p", "n_init", "5", "--seeds", "1000000000", "--out", str(tmp_path / "sw"))
    assert r.returncode == 2 and time.monotonic() - t0 < 20
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "more than the limit of 10,000; give --max-runs 1000000000" in lines[0]
    assert not (tmp_path / "sw").exists()


# --- item 6: --plot checked up front ------------------------------------------------------------


def test_plot_name_is_checked_before_any_run(tmp_path):
    r = _cli("sweep", "nar-example1", "-p", "n_init", "5,6", "--plot", "no_such_value", "--out", str(tmp_path / "sw"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--plot no_such_value is not a value nar-example1 glues" in lines[0]
    assert "orbit_amplitude" in lines[0]
    assert not (tmp_path / "sw").exists()
    sweep.check_plot_name(chapters.get("nar-example1"), "orbit_amplitude")
    with pytest.raises(ParameterError, match="is not a number"):
        sweep.check_plot_name(chapters.get("nar-example1"), "claim_ex1_orbit_claim")


# --- item 7: a bad --dask address -----------------------------------------------------------------


@pytest.mark.parametrize(
    "address, needle",
    [
        ("tcp://127.0.0.1:1", "no Dask scheduler answered within 10 s"),
        ("not an address", "is not a Dask scheduler address"),
    ],
)
def test_bad_dask_address_one_line(address, needle, tmp_path):
    t0 = time.monotonic()
    r = _cli("sweep", "nar-example1", "-p", "n_init", "5", "--dask", address, "--out", str(tmp_path / "sw"))
    seconds = time.monotonic() - t0
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --dask {address}") and needle in lines[0], r.stderr
    assert seconds < 10 + 15
    assert not (tmp_path / "sw" / "runs").exists()


# --- item 9: summary.csv and summary.png -----------------------------------------------------------


def _fake_results():
    out = []
    for delta in (0.01, 0.1, 1.0):
        for seed in (0, 1):
            amp = delta**2 / 4 * (1 + 0.01 * seed)
            out.append(
                {
                    "run_id": f"d{delta}s{seed}",
                    "slug": "nar-example1",
                    "params": {"delta": delta, "seed": seed},
                    "status": "ok",
                    "seconds": 1.0,
                    "error": "",
                    "values": {
                        "delta": delta,
                        "orbit_amplitude": amp,
                        "orbit_amplitude_theory": delta**2 / 4,
                        "claim_ex1_orbit_reproduced": amp,
                        "claim_ex1_orbit_paper": delta**2 / 4,
                    },
                }
            )
    return out


def test_summary_csv_has_no_duplicate_columns(tmp_path):
    res = _fake_results()
    with open(sweep.write_summary(res, tmp_path)) as fh:
        header = next(csv.reader(fh))
    assert len(header) == len(set(header)), header
    assert header.count("delta") == 1 and "orbit_amplitude" in header
    res[0]["values"]["delta"] = 0.5  # a glued value that differs from the parameter keeps its own column
    with open(sweep.write_summary(res, tmp_path)) as fh:
        header = next(csv.reader(fh))
    assert len(header) == len(set(header)) and "glued_delta" in header


def test_summary_plot_has_labels_log_axes_spread_and_theory(tmp_path):
    fig = sweep.summary_figure(_fake_results(), "orbit_amplitude")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step size (delta)"
    assert ax.get_ylabel() == "orbit amplitude"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "2 seeds" in ax.get_title() and "min to max" in ax.get_title()
    assert "Example 1" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "theory (orbit_amplitude_theory)" in labels
    assert ax.containers, "no error bars for the spread over seeds"
    fig2 = sweep.summary_figure(_fake_results(), "claim_ex1_orbit_reproduced")
    assert "theory (claim_ex1_orbit_paper)" in [t.get_text() for t in fig2.axes[0].get_legend().get_texts()]
    assert sweep.plot_summary(_fake_results(), tmp_path, "orbit_amplitude").exists()


# --- item 4: one sweep per folder ---------------------------------------------------------------


def test_lock_refuses_a_second_sweep_and_is_never_stale(tmp_path):
    with (
        sweep.sweep_lock(tmp_path),
        pytest.raises(sweep.SweepBusy, match=f"is in use by another sweep: pid {os.getpid()} \\(running\\)"),
        sweep.sweep_lock(tmp_path),
    ):
        pass
    with sweep.sweep_lock(tmp_path):  # released
        pass
    # a holder killed with SIGKILL leaves no lock behind
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import time
from pathlib import Path
from stepsize import sweep
with sweep.sweep_lock(Path({str(tmp_path)!r})):
    print("held", flush=True)
    time.sleep(60)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(sweep.SweepBusy, match=f"pid {holder.pid}"), sweep.sweep_lock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with sweep.sweep_lock(tmp_path):
        pass


def _slow_sweep(out, *extra):
    # 6 runs of a few seconds each on this machine
    return [
        sys.executable,
        "-m",
        "stepsize",
        "sweep",
        "nar-example1",
        "-p",
        "n_init",
        "300000",
        "-p",
        "delta",
        "0.2,0.3,0.4",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def _descendants(pid):
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _alive(procs):
    import psutil

    return [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.notebooks
def test_second_sweep_on_the_same_folder_refuses(tmp_path):
    out = tmp_path / "sw"
    first = subprocess.Popen(
        _slow_sweep(out),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while not (out / sweep.LOCK_NAME).exists() or not (out / sweep.LOCK_NAME).read_text():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.1)
    r = subprocess.run(_slow_sweep(out), cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is in use by another sweep: pid {first.pid} (running)" in lines[0], r.stderr
    os.killpg(first.pid, signal.SIGINT)
    first.communicate(timeout=60)


def _executions(out):
    """run_id -> how many times a result was written (result.json mtimes seen)."""
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/result.json")}


@pytest.mark.notebooks
@pytest.mark.parametrize("target", ["group", "parent"])
def test_ctrl_c_stops_a_sweep_promptly_and_resumes(target, tmp_path):
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        _slow_sweep(out),
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while len(_results(out)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # two runs are in flight now
    procs = _descendants(proc.pid)
    assert procs, "no worker was running"
    t0 = time.monotonic()
    if target == "group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    seconds = time.monotonic() - t0
    before = _results(out)
    print(f"Ctrl-C ({target}) to exit: {seconds:.2f} s; {len(before)} of 6 finished")
    assert proc.returncode == 130, err
    assert (
        err.strip().splitlines()[-1] == f"interrupted: {len(before)} of 6 finished; run the same command to resume"
    ), err
    assert "Traceback" not in err
    assert seconds < 10
    assert 1 <= len(before) < 6
    time.sleep(1.5)
    assert _alive(procs) == [], "a worker or kernel survived the interrupt"
    assert _results(out) == before, "a run finished after the interrupt"
    assert not list((out / "runs").glob("*/*.partial.ipynb"))

    r = subprocess.run(_slow_sweep(out), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _results(out)
    assert len(after) == 6
    twice = [k for k, t in before.items() if after[k] != t]
    print(f"runs executed twice: {len(twice)}")
    assert twice == []


@pytest.mark.notebooks
def test_killed_sweep_leaves_no_workers_and_resume_repeats_nothing(tmp_path):
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        _slow_sweep(out), cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while len(_results(out)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    procs = _descendants(proc.pid)
    assert procs
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone: its workers must notice
    proc.wait()
    while _alive(procs) and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    print(f"SIGKILL of the sweep to its last worker/kernel gone: {seconds:.2f} s")
    assert _alive(procs) == [], "orphan workers or kernels are still running"
    assert seconds < 10
    before = _results(out)
    time.sleep(2)
    assert _results(out) == before, "an orphan finished a run after the kill"
    with sweep.sweep_lock(out):  # no stale lock
        pass
    r = subprocess.run(_slow_sweep(out), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _results(out)
    assert len(after) == 6
    twice = [k for k, t in before.items() if after[k] != t]
    print(f"runs executed twice: {len(twice)}")
    assert twice == []

"""`python -m stepsize run`: misuse refused in one line before any kernel, Ctrl-C and failures
leave nothing that looks like a result, kernels start quietly."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import run_cli
from stepsize import cli
from stepsize.book import registry as chapters
from stepsize.book.registry import REPO_ROOT, Chapter, Param, ParameterError

_cli = run_cli


def _one_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# --- item 10: a parameter given twice ---------------------------------------------------------


def test_run_refuses_a_parameter_given_twice(tmp_path):
    r = _cli("run", "nar-example1", "-p", "n_init", "5", "-p", "n_init", "7", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "parameter 'n_init' is given twice" in _one_line(r)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ParameterError, match="given twice"):
        chapters.get("nar-example1").parse([("n_init", "5"), ("n_init", "7")])


# --- item 12: negative values in exponent form reach the range check ---------------------------


@pytest.mark.parametrize("value", ["-1e-3", "-1E3", "-.5", "-1"])
def test_negative_values_reach_the_range_check(value, tmp_path):
    r = _cli("run", "nar-example1", "-p", "delta", value, "--out", str(tmp_path))
    assert r.returncode == 2
    assert f"parameter 'delta' must be a number in (0, 100]; got '{value}'" in _one_line(r)


def test_negative_values_in_a_sweep_list(tmp_path):
    r = _cli("sweep", "nar-example1", "-p", "delta", "-1e-3,0.2", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "parameter 'delta' must be a number in (0, 100]; got '-1e-3'" in _one_line(r)


def test_split_params():
    assert cli.split_params(["run", "x", "-p", "delta", "-1e-3", "--json"]) == (
        ["run", "x", "--json"],
        [("delta", "-1e-3")],
    )
    with pytest.raises(ParameterError, match="-p needs a NAME and a VALUE"):
        cli.split_params(["run", "x", "-p", "delta"])


# --- item 8: --out that cannot hold results ------------------------------------------------


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_unwritable_out_is_refused_before_any_kernel(command, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    bad = [str(a_file), "/proc/nope", str(a_file / "sub")]
    if os.geteuid() != 0:  # root writes through permission bits
        bad.append(str(ro / "out"))
    values = ["-p", "n_init", "5"] if command == "run" else ["-p", "n_init", "5,6"]
    for out in bad:
        t0 = time.monotonic()
        r = _cli(command, "nar-example1", *values, "--out", out)
        assert r.returncode == 2, r.stderr
        line = _one_line(r)
        assert f"--out {out} is not a writable folder" in line
        assert time.monotonic() - t0 < 20
    assert a_file.read_text() == "x"


# --- item 13: Ctrl-C and failures ------------------------------------------------------------


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell without job control starts `cmd &`


@pytest.mark.notebooks
@pytest.mark.parametrize("target", ["group", "parent", "group, started with SIGINT ignored"])
def test_ctrl_c_during_run_one_line_no_partial_file(target, tmp_path):
    import psutil

    out = tmp_path / "out"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stepsize",
            "run",
            "nar-example1",
            "-p",
            "n_init",
            "3000000",
            "-p",
            "n_steps",
            "2000",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if "ignored" in target else None,  # noqa: PLW1509 - the case under test
    )
    partial = out / "nar-example1.partial.ipynb"
    deadline = time.time() + 120
    while time.time() < deadline and not partial.exists() and p.poll() is None:
        time.sleep(0.1)
    assert partial.exists(), "the run did not start"
    kids = []
    while time.time() < deadline and not kids and p.poll() is None:  # wait for the kernel, however slow
        kids = psutil.Process(p.pid).children(recursive=True)
        time.sleep(0.1)
    assert kids, "no kernel to stop"
    time.sleep(1.0)  # let it get busy
    t0 = time.monotonic()
    if target.startswith("group"):
        os.killpg(p.pid, signal.SIGINT)
    else:
        os.kill(p.pid, signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    seconds = time.monotonic() - t0
    print(f"Ctrl-C ({target}) to exit: {seconds:.2f} s")
    assert p.returncode == 130
    assert err.strip().splitlines() == [
        "stepsize run nar-example1: interrupted; the kernel is stopped and nothing was written"
    ], err
    assert seconds < 10
    assert list(out.iterdir()) == []
    time.sleep(0.5)
    assert not [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE], "a kernel survived"


def _broken_chapter(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("x: int = 1  # a number", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('before')"),
        nbformat.v4.new_code_cell("1 / (x - x)"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    return Chapter(
        slug="broken", path=str(path), title="a chapter that fails", part="test", limits=(Param("x", low=0),)
    )


@pytest.mark.notebooks
def test_a_failed_notebook_one_line_with_the_error_and_where_it_is(tmp_path, monkeypatch, capsys):
    ch = _broken_chapter(tmp_path)
    monkeypatch.setitem(chapters.CHAPTERS, "broken", ch)
    out = tmp_path / "runs"
    assert cli.main(["run", "broken", "-p", "x", "3", "--out", str(out)]) == 1
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1, line
    saved = out / "broken.FAILED.ipynb"
    assert "ZeroDivisionError: division by zero" in line and "cell In [" in line
    assert f"the failed notebook is kept as {saved}" in line
    assert saved.exists() and sorted(p.name for p in out.iterdir()) == ["broken.FAILED.ipynb"]
    errors = [o for c in nbformat.read(saved, 4).cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ZeroDivisionError"


# --- item 14: long values are cut; YAML's 1e-3 ------------------------------------------------


def test_messages_cut_long_values(tmp_path):
    long = "9" * 5000
    for args in (
        ["run", "nar-example1", "-p", "delta", long],
        ["run", "nar-example1", "-p", "x" * 5000, "1"],
        ["run", "n" * 5000],
        ["sweep", "nar-example1", "-p", "delta", "0.1," + long],
    ):
        r = _cli(*args, "--out", str(tmp_path))
        assert r.returncode == 2
        line = _one_line(r)
        assert len(line) < 700 and not re.search(r"(9{100}|x{100}|n{100})", line), line[:800]
        assert "(5000 characters)" in line or "(5002 characters)" in line, line


def test_yaml_text_number_is_named_and_fixed():
    ch = chapters.get("nar-example1")
    with pytest.raises(ParameterError) as e:
        ch.validate({"delta": "1e-3"})
    msg = str(e.value)
    assert "parameter 'delta' must be a number in (0, 100]; got '1e-3'" in msg
    assert "YAML" in msg and "1.0e-3" in msg and len(msg.splitlines()) == 1
    with pytest.raises(ParameterError) as e:
        ch.validate({"delta": "abc"})
    assert "YAML" not in str(e.value)


# --- item 15: kernels start without the TCP warning or the interrupt notice --------------------

KERNEL_NOISE = re.compile(r"running over TCP without encryption|KeyboardInterrupt caught in kernel")


def test_kernel_config_is_shipped_and_passed():
    from stepsize.book.notebooks import KERNEL_CONFIG

    assert KERNEL_CONFIG.is_file()
    text = KERNEL_CONFIG.read_text()
    assert 'c.IPKernelApp.log_level = "ERROR"' in text and "KeyboardInterrupt caught in kernel" in text
    from stepsize.book.notebooks import kernel_arguments

    assert kernel_arguments() == [f"--config={KERNEL_CONFIG}"]


def test_kernel_config_silences_both_notices_and_keeps_errors(tmp_path):
    """A kernel started with the shipped config: no TCP warning at start, no interrupt notice
    (logged the way ipykernel logs it, and after a real interrupt), a real error still shown."""
    code = f"""
import time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3", extra_arguments={json.dumps(cli_args())})
kc.execute("import logging, time; log = logging.getLogger('IPKernelApp'); "
           "log.error('KeyboardInterrupt caught in kernel'); log.error('a real kernel error'); time.sleep(30)")
time.sleep(2)
km.interrupt_kernel()
time.sleep(1)
km.shutdown_kernel()
"""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert r.returncode == 0, r.stderr
    assert not KERNEL_NOISE.search(r.stderr), r.stderr
    assert "a real kernel error" in r.stderr


def cli_args():
    from stepsize.book.notebooks import kernel_arguments

    return kernel_arguments()


def test_the_environment_loads_the_kernel_config_for_every_kernel():
    """`make env` installs the config where IPython looks for the environment's settings
    (sys.prefix/etc/ipython), so myst-nb, nbval and plain papermill kernels read it too."""
    from stepsize.book.notebooks import KERNEL_CONFIG

    installed = os.path.join(sys.prefix, "etc", "ipython", "ipython_kernel_config.py")
    assert os.path.isfile(installed), f"{installed} is missing: run `make env`"
    assert Path(installed).read_text() == KERNEL_CONFIG.read_text()
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            """
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
km.shutdown_kernel()
""",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert not KERNEL_NOISE.search(r.stderr), r.stderr


@pytest.mark.notebooks
def test_run_prints_no_kernel_notices(tmp_path):
    r = _cli("run", "nar-example1", "-p", "n_init", "50", "-p", "n_steps", "20", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert not KERNEL_NOISE.search(r.stderr), r.stderr
    json.loads(r.stdout)

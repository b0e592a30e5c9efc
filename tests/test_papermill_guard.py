"""Plain papermill (no `python -m stepsize`) is checked by the notebook's validation cell the same
way as the command line: an injected name the chapter does not have is refused in one line."""

import subprocess
import sys

import pytest
from stepsize.book import registry as chapters
from stepsize.book.registry import REPO_ROOT, ParameterError


def test_injected_names_read_from_the_input_history():
    from stepsize.book.registry import injected_names

    history = [
        "",
        "delta: float = 0.5  # step size\nseed: int = 0  # seed",
        "# Parameters\ndelta = 0.2\nfoo = 1\nn_init: int = 5\n",
    ]
    assert injected_names(history) == ["delta", "foo", "n_init"]
    assert injected_names(["x = 1", "print(2)"]) == []  # nothing injected (nbval, Jupyter Book)
    # the latest injected cell counts
    assert injected_names(["# Parameters\nfoo = 1\n", "# Parameters\ndelta = 0.1\n"]) == ["delta"]
    assert injected_names([]) == []  # outside a kernel too


def test_check_parameters_outside_a_kernel_still_validates():
    ch = chapters.get("nar-example1")
    chapters.check_parameters("nar-example1", **ch.defaults())
    with pytest.raises(ParameterError, match="'delta' must be"):
        chapters.check_parameters("nar-example1", **{**ch.defaults(), "delta": -1.0})


def _papermill(tmp_path, *args):
    out = tmp_path / "out.ipynb"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(REPO_ROOT / "book/nar-sastry/example1.ipynb"),
            str(out),
            "--cwd",
            str(REPO_ROOT / "book/nar-sastry"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _cli_message(*args):
    r = subprocess.run(
        [sys.executable, "-m", "stepsize", "run", "nar-example1", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    return r.stderr.strip().removeprefix("error: ")


@pytest.mark.notebooks
def test_plain_papermill_refuses_an_unknown_name_like_the_cli(tmp_path):
    r = _papermill(tmp_path, "-p", "foo", "1", "-p", "n_init", "50")
    assert r.returncode != 0, "papermill ran a notebook with an unknown parameter"
    message = _cli_message("-p", "foo", "1")
    assert message == "nar-example1: unknown parameter 'foo'; this chapter has: delta, n_init, n_steps, seed"
    assert f"ParameterError: {message}" in r.stderr, r.stderr[-3000:]


@pytest.mark.notebooks
def test_plain_papermill_with_yaml_text_number_says_so(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("delta: 1e-3\nn_init: 50\n")
    r = _papermill(tmp_path, "-f", str(params))
    assert r.returncode != 0
    assert "parameter 'delta' must be a number in (0, 100]; got '1e-3'" in r.stderr
    assert "write it as 1.0e-3" in r.stderr


@pytest.mark.notebooks
def test_plain_papermill_with_known_names_runs(tmp_path):
    r = _papermill(tmp_path, "-p", "n_init", "50", "-p", "delta", "0.3")
    assert r.returncode == 0, r.stderr[-3000:]

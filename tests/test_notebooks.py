"""Every chapter re-runs through papermill with non-default parameters (the reader's path).

(`make test` also runs nbval on every notebook: stored outputs must equal a fresh execution.)
"""

import math

import pytest
from conftest import run_json
from stepsize.book import registry as chapters
from stepsize.verdicts import VERDICTS

CHAPTERS = list(chapters.CHAPTERS.values())


_run = run_json


@pytest.mark.notebooks
@pytest.mark.parametrize("ch", CHAPTERS, ids=[c.slug for c in CHAPTERS])
def test_rerun_with_other_parameters(ch, tmp_path):
    values = _run(ch.slug, ch.test_overrides, tmp_path)
    statuses = {k: v for k, v in values.items() if k.startswith("claim_") and k.endswith("_status")}
    assert statuses, f"{ch.slug}: glues no claim check"
    assert set(statuses.values()) <= set(VERDICTS)
    nan = [k for k, v in values.items() if v == "nan" or (isinstance(v, float) and math.isnan(v))]
    assert not nan, f"{ch.slug}: NaN glued where a number is promised: {nan}"
    assert (tmp_path / f"{ch.slug}.ipynb").exists()


@pytest.mark.notebooks
def test_example1_json_matches_theory(tmp_path):
    values = _run("nar-example1", {"delta": 0.2, "n_init": 1000}, tmp_path)
    assert math.isclose(values["orbit_amplitude"], 0.01, rel_tol=1e-6)
    assert values["orbit_amplitude_theory"] == 0.01
    assert values["fraction_periodic"] > 0.99 and values["exceptional_converges"] is True


@pytest.mark.notebooks
def test_plain_papermill_bad_value_stops_in_first_cell(tmp_path):
    import papermill as pm

    ch = chapters.get("nar-example1")
    with pytest.raises(pm.PapermillExecutionError, match="'delta' must be a number in"):
        pm.execute_notebook(
            str(ch.notebook),
            str(tmp_path / "out.ipynb"),
            parameters={"delta": "abc"},
            cwd=str(ch.notebook.parent),
            kernel_name="python3",
            progress_bar=False,
        )


@pytest.mark.notebooks
def test_plain_papermill_broken_rule_stops_in_first_cell(tmp_path):
    import papermill as pm

    ch = chapters.get("nar-theorem3")
    with pytest.raises(pm.PapermillExecutionError, match="must satisfy n_negative < dim"):
        pm.execute_notebook(
            str(ch.notebook),
            str(tmp_path / "out.ipynb"),
            parameters={"dim": 3, "n_negative": 3},
            cwd=str(ch.notebook.parent),
            kernel_name="python3",
            progress_bar=False,
        )

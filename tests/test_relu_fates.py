"""Long batched runs of the Figure-2 network and their fates (stepsize.relu_fates)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from stepsize.book.registry import REPO_ROOT
from stepsize.dynamics import Fate
from stepsize.models import relu
from stepsize.models import relu_fates as rf


def test_checkpoints_cover_the_last_decade_of_each_budget():
    c = rf.checkpoints_for(100000)
    assert c[-1] == 100000 and 20001 in c and 2000 in c and 10000 in c
    assert np.all(np.diff(c) >= 3)
    c2 = rf.checkpoints_for(20001)
    assert c2[0] == 2000 and c2[-1] == 20001
    assert rf.checkpoints_for(30)[0] == 3


def test_run_checkpoints_matches_one_train_call():
    inst = relu.make_instances([0, 1], width=8, n_points=200)
    runs = rf.run_checkpoints(inst, [1e-4, 3e-4], [5, 40, 77], chunk=16)
    t = relu.train(
        (np.repeat(inst.w0, 2, 0), np.repeat(inst.v0, 2, 0)),
        inst.x,
        np.repeat(inst.y, 2, 0),
        np.repeat(inst.b, 2, 0),
        np.tile([1e-4, 3e-4], 2),
        77,
    )
    assert np.allclose(runs.theta[:, :, -1].reshape(4, -1), relu.pack(t.w, t.v), rtol=1e-12, atol=1e-12)
    assert np.allclose(runs.gap1[:, :, -1].ravel(), t.gap1[:, -1], rtol=1e-9, atol=1e-14)
    assert np.allclose(runs.gap2[:, :, -1].ravel(), t.gap2[:, -1], rtol=1e-9, atol=1e-14)
    assert np.allclose(runs.f_last.reshape(4, -1), t.f_last)
    t40 = relu.train((inst.w0, inst.v0), inst.x, inst.y, inst.b, 3e-4, 40)
    assert np.allclose(runs.theta[:, 1, 1], relu.pack(t40.w, t40.v), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        rf.run_checkpoints(inst, [1e-4], [5, 6])


def test_seed12_at_the_large_step_is_a_fixed_point_not_a_cycle():
    # oscillates visibly early on, then settles slowly (reviewer 3's worry)
    inst = relu.make_instances([12])
    runs = rf.run_checkpoints(inst, [3e-4], rf.checkpoints_for(20001))
    assert runs.gap1[0, 0, 0] > 1e-3 * np.abs(inst.y).max()  # visible at step 2000
    c = rf.classify(runs, 20001)
    assert c.outcome[0, 0] == "fixed point" and c.kind[0, 0] == int(Fate.CONVERGED)
    assert c.eta_sharpness[0, 0] < 2.0 and np.isnan(c.multiplier[0, 0])


def test_budget_far_too_small_is_never_a_fixed_point():
    inst = relu.make_instances([12])
    runs = rf.run_checkpoints(inst, [3e-4], rf.checkpoints_for(300))
    c = rf.classify(runs, 300)
    assert c.outcome[0, 0] != "fixed point"


def test_unstable_settled_run_is_undecided():
    # a settled run where delta * lambda_max >= 2 is a transient, not a fixed point
    inst = relu.make_instances([12])
    runs = rf.run_checkpoints(inst, [3e-4], rf.checkpoints_for(20001))
    big = rf.Runs(
        runs.instances,
        runs.deltas * 1.5,
        runs.steps,
        runs.gap1,
        runs.gap2,
        runs.loss,
        runs.theta,
        runs.f_last,
        runs.f_prev,
        runs.diverged,
    )  # same run, judged at a larger step
    c = rf.classify(big, 20001)
    assert c.eta_sharpness[0, 0] >= 2.0 and c.outcome[0, 0] == "undecided"


def test_drifting_label_needs_a_visible_gap_that_does_not_lock_on():
    inst = relu.make_instances([4])
    runs = rf.run_checkpoints(inst, [3e-4], rf.checkpoints_for(5000))
    c = rf.classify(runs, 5000)
    scale = np.abs(inst.y).max()
    if c.outcome[0, 0] == "drifting":
        assert c.gap1[0, 0] > 1e-3 * scale and not c.fall2[0, 0] <= 0.1
    # the rule itself, on a copy whose distance to period 2 fell 100-fold: then it is not drifting
    g2 = runs.gap2.copy()
    lo = int(np.argmin(np.abs(runs.steps - 500)))
    g2[0, 0, lo] = 100 * g2[0, 0, -1]
    fake = rf.Runs(
        runs.instances,
        runs.deltas,
        runs.steps,
        runs.gap1,
        g2,
        runs.loss,
        runs.theta,
        runs.f_last,
        runs.f_prev,
        runs.diverged,
    )
    assert rf.classify(fake, 5000).outcome[0, 0] != "drifting"


def test_search_finds_a_true_cycle_from_different_seeds():
    for s in (0, 5, 1000):
        con = rf.search_true_cycle(s)
        assert con.seed is not None and con.seed >= s
        assert con.orbit.verified and con.orbit.max_multiplier <= 1.0
        assert con.orbit.separation > 1e-6


def test_bisection_brackets_the_switch():
    inst = relu.make_instances([6, 7])
    scale = np.abs(inst.y).max(axis=1)
    lo, hi, valid = rf.switch_by_bisection(inst, np.full(2, 1e-4), np.full(2, 3e-4), 2000, rounds=2, points=3)
    assert np.all((1e-4 <= lo) & (lo < hi) & (hi <= 3e-4))
    for k in np.flatnonzero(valid):
        assert hi[k] / lo[k] == pytest.approx(3.0 ** (1 / 16), rel=1e-9)
        t = relu.train((inst.w0[k], inst.v0[k]), inst.x, inst.y[k], inst.b[k], np.array([lo[k], hi[k]]), 2000)
        assert t.gap1[0, -1] <= 1e-3 * scale[k] < t.gap1[1, -1]
    # plain bisection (one point per round) halves the log-bracket each round
    lo1, hi1, v1 = rf.switch_by_bisection(inst, np.full(2, 1e-4), np.full(2, 3e-4), 2000, rounds=4, points=1)
    for k in np.flatnonzero(v1):
        assert hi1[k] / lo1[k] == pytest.approx(3.0 ** (1 / 16), rel=1e-9)
    assert valid.any()


def test_legacy_labels_match_classify_training():
    inst = relu.make_instances([0, 2], width=10, n_points=300)
    runs = rf.run_checkpoints(inst, [1e-4, 3e-4], [100, 400])
    t = relu.train(
        (np.repeat(inst.w0, 2, 0), np.repeat(inst.v0, 2, 0)),
        inst.x,
        np.repeat(inst.y, 2, 0),
        np.repeat(inst.b, 2, 0),
        np.tile([1e-4, 3e-4], 2),
        400,
    )
    old = relu.classify_training(t, np.repeat(inst.y, 2, 0)).reshape(2, 2)
    assert (rf.legacy_labels(runs, 400) == old).all()


@pytest.mark.notebooks
def test_cli_seed12_single_instance_is_a_fixed_point(tmp_path):
    args = [
        sys.executable,
        "-m",
        "stepsize",
        "run",
        "nar-periodic-orbit",
        "-p",
        "n_instances",
        "1",
        "-p",
        "seed",
        "12",
        "-p",
        "n_steps",
        "20001",
        "--json",
        "--out",
        str(tmp_path),
    ]
    r = subprocess.run(args, check=False, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    v = json.loads(r.stdout)
    assert v["outcome"] == "fixed point"
    assert v["orbit_residual"] is None and v["max_floquet_multiplier"] is None
    assert isinstance(v["n_removed_directions"], int)

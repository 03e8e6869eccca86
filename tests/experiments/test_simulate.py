"""promosim simulate: reference policies, their ordering, CIs, and trajectories on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from experiments.simulate import simulate, write_trajectories
from sim.logs.errors import InputError

runner = CliRunner()


def test_the_dp_beats_the_best_fixed_price_which_beats_the_status_quo():
    """Expected gaps on this preset are about +1.8 % (DP over best fixed) and +1.5 % (best fixed
    over list price), with an episode sd near 1.6 %: over 30 episodes the standard error of a
    difference of means is about 0.4 %, so each gap is over 3.5 standard errors."""
    means = {
        policy: simulate("pricing-reference", "pricing", policy, episodes=30, seed=1).mean
        for policy in ("fixed", "best-fixed", "dp")
    }
    assert means["dp"] > means["best-fixed"] > means["fixed"]


def test_same_seed_same_profits_and_trajectories():
    first = simulate("default", "joint", "random", episodes=2, seed=3)
    second = simulate("default", "joint", "random", episodes=2, seed=3)
    np.testing.assert_array_equal(first.episode_profit, second.episode_profit)
    pd.testing.assert_frame_equal(first.trajectories, second.trajectories)


def test_trajectories_add_up_to_the_episode_profit(tmp_path):
    result = simulate("default", "promotion", "best-fixed", episodes=2, seed=0, horizon=8)
    path = write_trajectories(result, tmp_path / "traj.parquet")
    frame = pd.read_parquet(path)
    per_episode = frame.groupby("episode").apply(
        lambda g: (g["margin"] - g["ad_spend"] - g["promotion_cost"]).sum(), include_groups=False
    )
    np.testing.assert_allclose(per_episode.to_numpy(), result.episode_profit)
    assert set(frame["period"]) == set(range(8))


def test_confidence_interval_brackets_the_mean():
    result = simulate("stationary", "pricing", "random", episodes=5, seed=0, horizon=10)
    low, high = result.ci95
    assert low < result.mean < high


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("default", "pricing", "dp"), "single-product market"),
        (("pricing-reference", "joint", "dp"), "pricing and promotion tasks"),
        (("default", "pricing", "greedy"), "unknown policy 'greedy'"),
        (("nowhere", "pricing", "fixed"), "neither a preset"),
    ],
)
def test_bad_requests_are_named(args, fragment):
    with pytest.raises(InputError, match=fragment):
        simulate(*args, episodes=1)


def test_cli_prints_json_and_writes_csv(tmp_path):
    out = tmp_path / "traj.csv"
    result = runner.invoke(
        app,
        ["simulate", "--market", "pricing-reference", "--policy", "dp", "--episodes", "3",
         "--horizon", "6", "--out", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ci_low"] <= summary["mean_profit"] <= summary["ci_high"]
    assert pd.read_csv(out)["episode"].nunique() == 3


def test_cli_bad_policy_exits_2_with_one_line():
    result = runner.invoke(app, ["simulate", "--policy", "gredy"])
    assert result.exit_code == 2
    assert "did you mean 'greedy'" not in result.stderr
    assert "unknown policy 'gredy'" in result.stderr and "\n" not in result.stderr.strip()

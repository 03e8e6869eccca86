"""``promosim bench all``: groups measured once and saved, reused on a rerun, one table."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from experiments.bench import all as bench_all
from experiments.bench.agents import agent_figure_rows
from sim.logs.errors import InputError


def test_unknown_group_is_refused_with_the_closest_name():
    with pytest.raises(InputError, match="did you mean 'agents'"):
        bench_all.select_groups("agent")
    result = CliRunner().invoke(app, ["bench", "all", "--only", "enviro"])
    assert result.exit_code == 2
    assert "unknown group 'enviro'" in result.output


def test_groups_keep_the_report_order_whatever_the_order_asked():
    names = [group.name for group in bench_all.select_groups("ope, env")]
    assert names == ["env", "ope"]


def test_a_group_is_saved_as_it_finishes_and_reused_on_a_rerun(tmp_path, monkeypatch):
    group = bench_all.GROUPS["reference-policies"]
    first = bench_all.run_groups([group], tmp_path, quick=True)
    saved = json.loads((tmp_path / "reference-policies.json").read_text())
    assert saved["quick"] is True and not first[0]["reused"]
    means = saved["data"]["mean_profit"]
    assert means["dp"] >= means["best-fixed"] >= means["fixed"] * 0.9
    (row,) = first[0]["figures"]
    assert row["met"] is True and "DP" in row["measured"]

    def measure_again(quick: bool, out) -> dict:
        raise AssertionError("a saved group must not be measured again")

    monkeypatch.setitem(
        bench_all.GROUPS, "reference-policies",
        bench_all.Group(group.name, group.about, measure_again, group.figures),
    )  # fmt: skip
    again = bench_all.run_groups([bench_all.GROUPS["reference-policies"]], tmp_path, quick=True)
    assert again[0]["reused"] and again[0]["figures"] == first[0]["figures"]
    # measured at other sizes, or asked --fresh: measured again
    with pytest.raises(AssertionError, match="must not be measured again"):
        bench_all.run_groups([bench_all.GROUPS["reference-policies"]], tmp_path, quick=False)


def test_an_unreadable_saved_group_is_measured_again(tmp_path):
    (tmp_path / "reference-policies.json").write_bytes(b"\x00\xff{")
    (record,) = bench_all.run_groups(
        [bench_all.GROUPS["reference-policies"]], tmp_path, quick=True
    )
    assert not record["reused"]


def _agent_figures(ppo: float, duel_low: float) -> dict:
    """An ``experiments.bench.agents.measure`` result, as saved (JSON keys are strings)."""
    return {
        "seeds": [0, 1], "steps": 1000, "evaluation_seeds": list(range(1000, 1020)),
        "ppo_share_of_dp": {"dp_value": 100.0, "per_seed": {"0": ppo, "1": 0.99},
                            "seconds": [1.0, 1.0]},
        "q-learning_share_of_dp": {"dp_value": 100.0, "per_seed": {"0": 0.92, "1": 0.95},
                                   "seconds": [1.0, 1.0]},
        "thompson_vs_ab_regret": {"best_fixed_value": 10.0, "thompson_regret": [1.0, 2.0],
                                  "ab_test_regret": [3.0, 1.0],
                                  "share_of_seeds_thompson_lower": 0.5},
        "ppo_vs_best_bandit": {"bandit_means": {"ucb1": 5.0, "thompson": 6.0},
                               "best_bandit": "thompson",
                               "per_seed": {"0": {"ppo_mean": 7.0, "mean": 1.0,
                                                  "ci_low": duel_low, "ci_high": 2.0,
                                                  "p_value": 0.01}}},
    }  # fmt: skip


def test_agent_rows_state_each_target_and_whether_it_is_met():
    ppo, q, thompson, duel = agent_figure_rows(_agent_figures(ppo=0.96, duel_low=0.5))
    assert ppo[-1] is True and "96.0% / 99.0%" in ppo[1]
    assert q[-1] is False  # every training seed must reach 93 %: 92 % does not
    assert thompson[-1] is False and "1 of 2 seeds" in thompson[1]
    assert duel[-1] is True and "thompson" in duel[2]
    failing = agent_figure_rows(_agent_figures(ppo=0.90, duel_low=-0.5))
    assert failing[0][-1] is False and failing[3][-1] is False


def test_markdown_rows_mark_what_is_not_met():
    record = {"figures": [
        bench_all.Figure("g", "a", "1", "r", "t", True).as_dict(),
        bench_all.Figure("g", "b", "2", "r", "t", False).as_dict(),
        bench_all.Figure("g", "c", "3", "r", "none", None).as_dict(),
    ]}  # fmt: skip
    lines = bench_all.markdown_rows([record]).splitlines()
    assert lines[2].endswith("t (met) |")
    assert lines[3].endswith("t (**not met**) |")
    assert lines[4].endswith("none |")


def test_agent_training_runs_are_saved_as_they_finish_and_not_trained_again(
    tmp_path, monkeypatch
):
    from experiments.bench import agents as agent_figures

    trained = []

    def train(job: dict) -> dict:
        trained.append(job["seed"])
        return {**job, "seconds": 1.0, "profits": [float(job["seed"])]}

    monkeypatch.setattr(agent_figures, "train_and_evaluate", train)
    jobs = [{"env": "reference", "agent": "ppo", "seed": seed, "steps": 10} for seed in (0, 1)]
    first = agent_figures.train_all(jobs, 1, tmp_path)
    assert trained == [0, 1] and len(list(tmp_path.glob("*.json"))) == 2
    (tmp_path / "reference-ppo-seed1-steps10.json").unlink()  # as if killed before seed 1
    again = agent_figures.train_all(jobs, 1, tmp_path)
    assert trained == [0, 1, 1]
    assert again == first


def test_realdata_recsys_rows_flag_the_targets() -> None:
    def row(ndcg: float, seconds: float, lift: float | None) -> dict:
        return {"ndcg": ndcg, "precision": 0.1, "ndcg_lift": ndcg / 0.07 - 1, "seconds": seconds,
                "ndcg_lift_repeat": lift, "lift_repeat_low": None if lift is None else lift - 0.02,
                "lift_repeat_high": None if lift is None else lift + 0.02}  # fmt: skip

    data = {"recsys": {"k": 10, "customers": 2469, "products": 68000, "peak_rss_gb": 1.4,
                       "models": {"popularity": row(0.07, 8, -0.6), "repeat": row(0.18, 9, 0.0),
                                  "tifu_knn": row(0.2, 70, 0.11)}}}  # fmt: skip
    figures = bench_all.GROUPS["realdata"].figures(data)
    assert [figure.met for figure in figures] == [True, True, False, True]
    assert "1.111x" in figures[-1].measured

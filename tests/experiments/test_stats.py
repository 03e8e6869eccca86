"""Statistics of experiment results: intervals that cover, tests that match scipy, pairing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from experiments.stats import (
    OVERALL,
    SUMMARY_COLUMNS,
    Estimate,
    compare_paired,
    interquartile_mean,
    normalised_score,
    optimality_gap,
    paired_differences,
    pooled_mean,
    probability_of_improvement,
    stratified_bootstrap,
    stratified_mean,
    summarise,
    verdict,
)
from sim.logs.errors import InputError

FAST = {"n_resamples": 400}


def results_table(
    lifts: dict[str, float],
    *,
    scenarios: dict[str, float] | None = None,
    seeds: int = 10,
    seed_effect: float = 50.0,
    noise: float = 10.0,
    oracle_lift: float = 0.2,
    rng_seed: int = 1,
) -> pd.DataFrame:
    """Runs of agents whose profit is ``level * (1 + lift)`` plus a per-seed effect shared
    by every agent (common random numbers) and a little noise of their own."""
    rng = np.random.default_rng(rng_seed)
    scenarios = scenarios or {"base": 1000.0}
    rows = []
    for scenario, level in scenarios.items():
        for seed in range(seeds):
            luck = rng.normal(0.0, seed_effect)
            for agent, lift in lifts.items():
                rows.append(
                    {
                        "scenario": scenario,
                        "agent": agent,
                        "seed": seed,
                        "profit": level * (1.0 + lift) + luck + rng.normal(0.0, noise),
                        "dp_value": level * (1.0 + oracle_lift),
                    }
                )
    return pd.DataFrame(rows)


def row_of(summary: pd.DataFrame, agent: str, scenario: object = OVERALL) -> pd.Series:
    match = summary[(summary["agent"] == agent) & (summary["scenario"] == scenario)]
    assert len(match) == 1
    return match.iloc[0]


# ------------------------------------------------------------------------------ IQM, gap, score


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),  # middle half: 3, 4, 5, 6
        ([1, 2, 3, 4, 100], 3.0),  # one cut from each end of five
        ([5.0], 5.0),
        ([-1000, 0, 1, 2, 3, 4, 5, 1e9], 2.5),
        ([2, 2, 2, 2], 2.0),
    ],
)
def test_interquartile_mean_of_known_arrays(values: list[float], expected: float) -> None:
    assert interquartile_mean(values) == pytest.approx(expected)


def test_interquartile_mean_of_nothing_is_nan() -> None:
    assert math.isnan(interquartile_mean([]))


def test_optimality_gap_is_the_shortfall_and_undefined_without_a_positive_optimum() -> None:
    gap = optimality_gap([90.0, 100.0, 110.0, 5.0, 5.0], [100.0, 100.0, 100.0, 0.0, -3.0])
    np.testing.assert_allclose(gap[:3], [0.1, 0.0, -0.1])
    assert np.isnan(gap[3:]).all()


def test_normalised_score_never_divides_by_zero() -> None:
    score = normalised_score([110.0, 110.0, 110.0], [100.0, 120.0, 120.0], [120.0, 120.0, 110.0])
    assert score[0] == pytest.approx(0.5)
    assert np.isnan(score[1])  # R_DP == R_AB
    assert np.isnan(score[2])  # the A/B test beat the oracle on this seed


def test_normalised_score_of_the_baseline_is_zero_and_of_the_oracle_is_one() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.05})
    oracle_runs = results[results["agent"] == "ab-test"].assign(agent="oracle")
    oracle_runs["profit"] = oracle_runs["dp_value"]
    summary = summarise(pd.concat([results, oracle_runs]), **FAST)
    for scenario in ("base", OVERALL):
        baseline, oracle = row_of(summary, "ab-test", scenario), row_of(summary, "oracle", scenario)
        for column in ("normalised", "normalised_low", "normalised_high", "normalised_iqm"):
            assert baseline[column] == pytest.approx(0.0, abs=1e-12)
            assert oracle[column] == pytest.approx(1.0)
        assert oracle["gap"] == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < row_of(summary, "thompson")["normalised"] < 1.0


def test_summary_notes_seeds_where_the_normalised_score_is_undefined() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.05})
    results.loc[(results["seed"] == 3), "dp_value"] = results.loc[
        (results["seed"] == 3) & (results["agent"] == "ab-test"), "profit"
    ].item()
    summary = summarise(results, **FAST)
    thompson = row_of(summary, "thompson")
    assert "normalised score undefined on 1 of 10 runs" in thompson["notes"]
    assert np.isfinite(thompson["normalised"])


def test_without_an_oracle_the_gap_and_score_are_nan_and_the_notes_say_why() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.02}).drop(columns="dp_value")
    summary = summarise(results, **FAST)
    assert summary[["gap", "normalised"]].isna().all().all()
    assert summary["notes"].str.contains("no oracle column 'dp_value'").all()
    assert np.isfinite(row_of(summary, "ppo")["diff"])


# ------------------------------------------------------------------------------ bootstrap


def test_stratified_bootstrap_ci_covers_the_true_mean_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    means, spreads = np.array([0.0, 10.0, -4.0]), np.array([1.0, 3.0, 0.5])
    true_mean = means.mean()  # equal seeds per scenario: the pooled mean's target
    replications, seeds = 200, 20
    covered = 0
    for _ in range(replications):
        strata = [rng.normal(mu, sd, seeds) for mu, sd in zip(means, spreads, strict=True)]
        estimate = stratified_mean(strata, n_resamples=1000, rng=rng)
        covered += estimate.low <= true_mean <= estimate.high
    binomial_sd = math.sqrt(0.95 * 0.05 / replications)
    assert abs(covered / replications - 0.95) <= 3 * binomial_sd, covered


def test_bootstrap_resamples_within_strata_not_across_them() -> None:
    # Two scenarios far apart, each tight: resampling seeds across scenarios would mix
    # them and give an interval tens of units wide.
    rng = np.random.default_rng(0)
    strata = [rng.normal(0.0, 0.01, 10), rng.normal(100.0, 0.01, 10)]
    estimate = stratified_mean(strata, rng=1)
    assert estimate.value == pytest.approx(50.0, abs=0.01)
    assert estimate.high - estimate.low < 0.02


@pytest.mark.parametrize(("method", "scipy_method"), [("percentile", "percentile"), ("bca", "BCa")])
def test_single_stratum_bootstrap_agrees_with_scipy(method: str, scipy_method: str) -> None:
    sample = np.random.default_rng(3).exponential(2.0, 40)  # skewed, where BCa matters
    ours = stratified_bootstrap([sample], pooled_mean, n_resamples=20_000, method=method, rng=4)
    theirs = stats.bootstrap(
        (sample,), np.mean, n_resamples=20_000, method=scipy_method, rng=np.random.default_rng(5)
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.05 * width)


def test_bootstrap_is_reproducible_from_its_seed() -> None:
    strata = [np.arange(10.0), np.arange(5.0) ** 2]
    first = stratified_mean(strata, n_resamples=500, rng=11)
    assert stratified_mean(strata, n_resamples=500, rng=11) == first
    assert stratified_mean(strata, n_resamples=500, rng=12) != first


def test_bootstrap_of_no_data_is_undefined() -> None:
    estimate = stratified_mean([np.array([]), []])
    assert all(math.isnan(value) for value in (estimate.value, estimate.low, estimate.high))


@given(
    strata=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12),
        min_size=1,
        max_size=4,
    ),
    method=st.sampled_from(["percentile", "bca"]),
)
@settings(max_examples=60, deadline=None)
def test_mean_ci_contains_the_mean(strata: list[list[float]], method: str) -> None:
    estimate = stratified_mean(strata, n_resamples=300, method=method, rng=0)
    assert estimate.value == pytest.approx(np.mean(np.concatenate(strata)), rel=1e-9, abs=1e-6)
    slack = 1e-9 * max(1.0, abs(estimate.value))
    assert estimate.low - slack <= estimate.value <= estimate.high + slack


# ------------------------------------------------------------------------------ paired comparisons


def test_paired_t_test_and_wilcoxon_match_scipy_on_the_same_data() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.01}, seeds=12, noise=15.0)
    summary = summarise(results, **FAST)
    wide = results.pivot(index="seed", columns="agent", values="profit")
    agent, baseline = wide["thompson"].to_numpy(), wide["ab-test"].to_numpy()
    expected = stats.ttest_rel(agent, baseline)
    interval = expected.confidence_interval(0.95)
    for scenario in ("base", OVERALL):
        row = row_of(summary, "thompson", scenario)
        assert row["p_ttest"] == pytest.approx(expected.pvalue, rel=1e-10)
        assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(agent - baseline).pvalue)
        assert row["diff"] == pytest.approx(np.mean(agent - baseline))
        assert (row["diff_t_low"], row["diff_t_high"]) == pytest.approx(
            (interval.low, interval.high)
        )
        relative = 100 * (agent - baseline) / baseline
        assert row["diff_pct"] == pytest.approx(relative.mean())
        assert row["n_pairs"] == 12


def test_pairing_on_common_random_numbers_shrinks_the_difference_ci() -> None:
    # Each seed moves both agents by the same large amount (CRN); the agent is 0.5 %
    # better. Unpaired, the seed effect swamps the difference; paired, it cancels.
    results = results_table(
        {"ab-test": 0.0, "thompson": 0.005}, seeds=10, seed_effect=200.0, noise=1.0
    )
    row = row_of(summarise(results, **FAST), "thompson")
    wide = results.pivot(index="seed", columns="agent", values="profit")
    unpaired = stats.ttest_ind(wide["thompson"], wide["ab-test"], equal_var=False)
    unpaired_ci = unpaired.confidence_interval(0.95)
    paired_width = row["diff_t_high"] - row["diff_t_low"]
    assert paired_width < 0.05 * (unpaired_ci.high - unpaired_ci.low)
    assert row["diff_boot_high"] - row["diff_boot_low"] < 0.05 * (
        row["mean_high"] - row["mean_low"]
    )
    assert unpaired_ci.low < 0 < unpaired_ci.high
    assert row["diff_t_low"] > 0 and row["diff_boot_low"] > 0 and row["p_ttest"] < 0.001


def test_identical_agents_have_p_one_and_no_reliable_difference() -> None:
    results = results_table({"ab-test": 0.0})
    results = pd.concat([results, results.assign(agent="copy")])
    row = row_of(summarise(results, **FAST), "copy", "base")
    assert row["p_ttest"] == 1.0 and row["p_wilcoxon"] == 1.0
    assert (row["diff"], row["diff_t_low"], row["diff_t_high"]) == (0.0, 0.0, 0.0)
    assert row["prob_improvement"] == 0.5
    assert "earned exactly the same on every seed" in row["notes"]
    assert "no reliable difference" in verdict(row)


def test_compare_paired_with_one_pair_gives_no_test() -> None:
    comparison = compare_paired([[110.0]], [[100.0]], n_resamples=50)
    assert comparison.n_pairs == 1 and comparison.difference.value == 10.0
    assert math.isnan(comparison.p_ttest) and math.isnan(comparison.difference.low)
    assert any("fewer than two" in note for note in comparison.notes)


def test_relative_difference_skips_non_positive_baseline_profit() -> None:
    comparison = compare_paired([[5.0, 12.0, 33.0]], [[-1.0, 10.0, 30.0]], n_resamples=50)
    assert comparison.relative.value == pytest.approx(15.0)  # mean of 20 % and 10 %
    assert any("left out on 1 of 3 pairs" in note for note in comparison.notes)


def test_paired_differences_lists_each_seed() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01, "thompson": 0.02}, seeds=4)
    differences = paired_differences(results)
    assert len(differences) == 8 and set(differences["agent"]) == {"ppo", "thompson"}
    first = differences.iloc[0]
    assert first["difference"] == pytest.approx(first["profit"] - first["baseline_profit"])
    assert first["relative_difference_pct"] == pytest.approx(
        100 * first["difference"] / first["baseline_profit"]
    )


# ------------------------------------------------------------------------------ P(X > Y)


def test_probability_of_improvement_of_identical_distributions_is_one_half() -> None:
    rng = np.random.default_rng(2)
    agent = [rng.normal(100.0, 5.0, 200) for _ in range(3)]
    baseline = [rng.normal(100.0, 5.0, 200) for _ in range(3)]
    estimate = probability_of_improvement(agent, baseline, n_resamples=500)
    assert estimate.value == pytest.approx(0.5, abs=0.05)
    assert estimate.low < 0.5 < estimate.high
    assert probability_of_improvement(agent, agent, n_resamples=100).value == 0.5


def test_probability_of_improvement_of_a_dominating_agent_is_one() -> None:
    rng = np.random.default_rng(3)
    baseline = [rng.uniform(0.0, 1.0, 10), rng.uniform(50.0, 60.0, 7)]
    agent = [rng.uniform(2.0, 3.0, 10), rng.uniform(70.0, 80.0, 7)]
    assert probability_of_improvement(agent, baseline) == Estimate(1.0, 1.0, 1.0)
    assert probability_of_improvement(baseline, agent) == Estimate(0.0, 0.0, 0.0)


def test_probability_of_improvement_averages_scenarios_equally() -> None:
    # Scenario one: the agent always wins (1); scenario two: a 3-seed tie pattern.
    agent = [np.array([5.0, 6.0]), np.array([1.0, 2.0, 3.0])]
    baseline = [np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])]
    assert probability_of_improvement(agent, baseline, n_resamples=10).value == pytest.approx(0.75)


# ------------------------------------------------------------------------------ summary


def test_summary_has_a_row_per_scenario_and_agent_and_one_overall_per_agent() -> None:
    results = results_table(
        {"ab-test": 0.0, "ppo": 0.0, "thompson": 0.04},
        scenarios={"base": 1000.0, "promo": 500.0},
    )
    summary = summarise(results, **FAST)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == 2 * 3 + 3
    assert list(summary["scenario"].iloc[-3:]) == [OVERALL] * 3
    assert list(summary["agent"].iloc[:3]) == ["ab-test", "ppo", "thompson"]  # baseline first
    overall = row_of(summary, "thompson")
    assert overall["n_scenarios"] == 2 and overall["n_seeds"] == 20 and overall["n_pairs"] == 20
    baseline = row_of(summary, "ab-test")
    assert baseline[["diff", "p_ttest", "prob_improvement"]].isna().all()


def test_summary_ci_of_one_agent_does_not_depend_on_the_others() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01})
    more = pd.concat([results, results_table({"thompson": 0.03}, rng_seed=9)])
    columns = ["mean_low", "iqm_high", "diff_boot_low", "prob_improvement_high"]
    alone, together = summarise(results, **FAST), summarise(more, **FAST)
    pd.testing.assert_series_equal(
        row_of(alone, "ppo")[columns], row_of(together, "ppo")[columns], check_names=False
    )


def test_summary_compares_only_seeds_both_ran() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01})
    results = results[~((results["agent"] == "ab-test") & (results["seed"] < 2))]
    row = row_of(summarise(results, **FAST), "ppo")
    assert row["n_seeds"] == 10 and row["n_pairs"] == 8
    assert "2 seeds have no baseline run" in row["notes"]


@st.composite
def small_results(draw: st.DrawFn) -> pd.DataFrame:
    n_scenarios, n_seeds = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    agents = [
        "ab-test",
        *draw(st.lists(st.sampled_from(["ppo", "q", "ts"]), min_size=1, max_size=2, unique=True)),
    ]
    profit = st.floats(-1e3, 1e4, allow_nan=False, allow_infinity=False)
    rows = [
        {
            "scenario": f"s{s}",
            "agent": agent,
            "seed": seed,
            "profit": draw(profit),
            "dp_value": 1e4 + s,
        }
        for s in range(n_scenarios)
        for seed in range(n_seeds)
        for agent in agents
    ]
    return pd.DataFrame(rows)


@given(results=small_results(), order=st.randoms(use_true_random=False))
@settings(max_examples=15, deadline=None)
def test_summary_is_invariant_to_row_order(results: pd.DataFrame, order) -> None:
    shuffled_index = list(results.index)
    order.shuffle(shuffled_index)
    shuffled = results.loc[shuffled_index].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        summarise(results, n_resamples=60), summarise(shuffled, n_resamples=60)
    )


@given(results=small_results())
@settings(max_examples=10, deadline=None)
def test_summary_mean_ci_contains_the_mean(results: pd.DataFrame) -> None:
    summary = summarise(results, n_resamples=60)
    slack = 1e-9 * summary["mean"].abs().clip(lower=1.0)
    assert (summary["mean_low"] - slack <= summary["mean"]).all()
    assert (summary["mean"] <= summary["mean_high"] + slack).all()


# ------------------------------------------------------------------------------ verdict


def test_verdict_reports_a_reliable_gain_with_its_interval_and_p_value() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.04})
    text = verdict(row_of(summarise(results, **FAST), "thompson"), "the best fixed action")
    assert text.startswith("thompson earned ")
    assert "On a scale from the A/B test (0) to the best fixed action (1)" in text
    assert "% more than the A/B test (95 % CI [" in text
    assert "paired over 10 seeds in 1 scenario," in text and "p < 0.001" in text
    assert "no reliable difference" not in text


def test_verdict_reports_a_reliable_loss_per_scenario() -> None:
    results = results_table({"ab-test": 0.0, "fixed": -0.05})
    text = verdict(row_of(summarise(results, **FAST), "fixed", "base"))
    assert "% less than the A/B test in scenario 'base'" in text


def test_verdict_says_no_reliable_difference_when_the_ci_spans_zero() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.0}, noise=30.0)
    row = row_of(summarise(results, **FAST), "ppo")
    assert row["diff_pct_t_low"] < 0 < row["diff_pct_t_high"]
    text = verdict(row)
    assert "ppo showed no reliable difference from the A/B test" in text
    assert "includes zero" in text


def test_verdict_names_another_baseline_and_the_baseline_itself() -> None:
    results = results_table({"fixed-price": 0.0, "ppo": 0.03})
    summary = summarise(results, baseline="fixed-price", **FAST)
    assert "than 'fixed-price'" in verdict(row_of(summary, "ppo"))
    assert verdict(row_of(summary, "fixed-price")).startswith("fixed-price is the baseline")


# ------------------------------------------------------------------------------ bad input


def _without(column: str) -> pd.DataFrame:
    return results_table({"ab-test": 0.0, "ppo": 0.0}).rename(columns={column: column + "s"})


def _repeated() -> pd.DataFrame:
    results = results_table({"ab-test": 0.0, "ppo": 0.0})
    return pd.concat([results, results.iloc[[3]]])


def _text_profit() -> pd.DataFrame:
    results = results_table({"ab-test": 0.0, "ppo": 0.0}).astype({"profit": object})
    results.loc[4, "profit"] = "n/a"
    return results


def _inconsistent_oracle() -> pd.DataFrame:
    results = results_table({"ab-test": 0.0, "ppo": 0.0})
    results.loc[1, "dp_value"] += 1.0
    return results


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda: _without("profit"), {}, "no column 'profit' (did you mean 'profits'?)"),
        (lambda: _without("seed"), {}, "no column 'seed' (did you mean 'seeds'?)"),
        (lambda: results_table({"ab-test": 0.0}), {"baseline": "ab_test"}, "'ab_test'"),
        (
            lambda: results_table({"ab-test": 0.0}),
            {"baseline": "ab_test"},
            "did you mean 'ab-test'?",
        ),
        (_repeated, {}, "repeated (scenario, agent, seed) rows"),
        (_text_profit, {}, "column 'profit' must hold finite numbers; row 4 has 'n/a'"),
        (lambda: results_table({"ab-test": 0.0}).iloc[0:0], {}, "no rows"),
        (lambda: [1, 2, 3], {}, "must be a pandas DataFrame"),
        (
            lambda: results_table({"ab-test": 0.0}).assign(scenario=OVERALL),
            {},
            "is reserved",
        ),
        (_inconsistent_oracle, {}, "'dp_value' differs between agents in scenario 'base', seed 0"),
        (lambda: results_table({"ab-test": 0.0}), {"n_resamples": 0}, "n_resamples"),
        (lambda: results_table({"ab-test": 0.0}), {"confidence": 95}, "confidence"),
        (lambda: results_table({"ab-test": 0.0}), {"method": "BCA"}, "did you mean 'bca'?"),
    ],
)
def test_bad_input_raises_one_line_input_error(make, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as error:
        summarise(make(), **kwargs)
    assert message in str(error.value)
    assert "\n" not in str(error.value)

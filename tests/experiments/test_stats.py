"""Statistics of experiment results: intervals that cover, tests that match scipy, pairing,
one estimand per verdict (the p-value and the interval never disagree)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import mstats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint

from experiments.stats import (
    OVERALL,
    SUMMARY_COLUMNS,
    compare_paired,
    fieller,
    holm,
    interquartile_mean,
    normalised_score,
    optimality_gap,
    paired_differences,
    pooled_iqm,
    pooled_mean,
    seeds_needed,
    share_interval,
    stratified_bootstrap,
    stratified_mean,
    summarise,
    summarise_seeds,
    t_interval,
    trimmed_t_interval,
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


def test_pooled_iqm_matches_scipy_trim_mean() -> None:
    for n in (8, 13, 30):
        batch = np.random.default_rng(n).normal(size=(5, n))
        np.testing.assert_allclose(pooled_iqm([batch]), stats.trim_mean(batch, 0.25, axis=1))


def test_interquartile_mean_of_nothing_is_nan() -> None:
    assert math.isnan(interquartile_mean([]))


def test_optimality_gap_is_the_shortfall_and_undefined_without_a_positive_optimum() -> None:
    gap = optimality_gap([90.0, 100.0, 110.0, 5.0, 5.0], [100.0, 100.0, 100.0, 0.0, -3.0])
    np.testing.assert_allclose(gap[:3], [0.1, 0.0, -0.1])
    assert np.isnan(gap[3:]).all()


def test_normalised_score_divides_by_expected_values_and_keeps_every_seed() -> None:
    # On the second seed a lucky baseline beat the oracle's expected profit: the score of
    # means counts it like any other seed (a per-seed ratio would have dropped it).
    profit, baseline, oracle = [110.0, 112.0, 108.0], [100.0, 125.0, 101.0], [120.0] * 3
    score = normalised_score(profit, baseline, oracle)
    expected = (np.mean(profit) - np.mean(baseline)) / (120.0 - np.mean(baseline))
    assert score.value == pytest.approx(expected)
    assert score.low <= score.value <= score.high or not score.bounded


def test_normalised_score_of_the_baseline_is_zero_and_of_the_oracle_is_one() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.05})
    oracle_runs = results[results["agent"] == "ab-test"].assign(agent="oracle")
    oracle_runs["profit"] = oracle_runs["dp_value"]
    summary = summarise(pd.concat([results, oracle_runs]), **FAST)
    for scenario in ("base", OVERALL):
        baseline, oracle = row_of(summary, "ab-test", scenario), row_of(summary, "oracle", scenario)
        for column in ("normalised", "normalised_low", "normalised_high"):
            assert baseline[column] == pytest.approx(0.0, abs=1e-12)
            assert oracle[column] == pytest.approx(1.0)
        assert oracle["gap"] == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < row_of(summary, "thompson")["normalised"] < 1.0


def test_summary_score_and_gap_are_ratios_of_means_over_every_seed() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.05})
    lucky = (results["seed"] == 3) & (results["agent"] == "ab-test")
    results.loc[results["seed"] == 3, "dp_value"] = results.loc[lucky, "profit"].item() - 1.0
    thompson = row_of(summarise(results, **FAST), "thompson", "base")
    wide = results.pivot(index="seed", columns="agent", values="profit")
    oracle = results.groupby("seed")["dp_value"].first()
    r, b, o = wide["thompson"].mean(), wide["ab-test"].mean(), oracle.mean()
    assert thompson["normalised"] == pytest.approx((r - b) / (o - b))
    assert thompson["gap"] == pytest.approx(1.0 - r / o)
    assert "normalised" not in thompson["notes"]  # no seed left out, nothing to say


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


def test_bca_survives_spreads_whose_cube_underflows() -> None:
    # Values near 2**-530 (3e-160) have jackknife spreads whose squares sum to a
    # subnormal and whose 1.5th power is 0: the acceleration divided by it (issue 18).
    # Scaling by a power of two is exact in floating point, and BCa is scale-free, so
    # the interval must be the unscaled one scaled.
    values = np.array([0.0, 1.0, 3.0, 7.0, 2.0, 5.0])
    scale = 2.0**-530
    tiny = stratified_mean([values * scale], n_resamples=300, method="bca", rng=0)
    plain = stratified_mean([values], n_resamples=300, method="bca", rng=0)
    assert (tiny.value, tiny.low, tiny.high) == (plain.value * scale, plain.low * scale,
                                                  plain.high * scale)  # fmt: skip
    assert plain.low < plain.value < plain.high


# ------------------------------------------------------------------------------ t, Fieller, Wilson


def test_t_interval_matches_scipy() -> None:
    sample = np.random.default_rng(4).normal(10.0, 3.0, 7)
    ours = t_interval(sample, 0.9)
    theirs = stats.ttest_1samp(sample, 0.0).confidence_interval(0.9)
    assert (ours.low, ours.high) == pytest.approx((theirs.low, theirs.high), rel=1e-12)


def test_trimmed_t_interval_matches_scipy_where_both_trim_the_same() -> None:
    sample = np.random.default_rng(5).normal(size=12)  # 4 divides 12: same trimming
    ours = trimmed_t_interval(sample)
    low, high = mstats.trimmed_mean_ci(sample, limits=(0.25, 0.25))
    assert ours.value == pytest.approx(interquartile_mean(sample))
    assert (ours.low, ours.high) == pytest.approx((low, high), rel=1e-10)


def test_fieller_with_a_constant_denominator_is_the_t_interval_scaled() -> None:
    x = np.random.default_rng(6).normal(50.0, 5.0, 6)
    ratio, plain = fieller(x, np.full(6, 2.0)), t_interval(x)
    assert (ratio.value, ratio.low, ratio.high) == pytest.approx(
        (plain.value / 2.0, plain.low / 2.0, plain.high / 2.0), rel=1e-10
    )


def test_fieller_bounds_are_where_the_paired_t_test_has_p_equal_alpha() -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(100.0, 10.0, 8)
    x = 1.1 * y + rng.normal(0.0, 3.0, 8)
    estimate = fieller(x, y, 0.95)
    for bound in (estimate.low, estimate.high):
        assert stats.ttest_1samp(x - bound * y, 0.0).pvalue == pytest.approx(0.05, rel=1e-6)
    assert estimate.low < np.mean(x) / np.mean(y) < estimate.high


def test_fieller_is_unbounded_when_the_denominator_could_be_zero() -> None:
    estimate = fieller([1.0, 2.0, 3.0], [-5.0, 1.0, 6.0])
    assert np.isfinite(estimate.value) and not estimate.bounded


def test_share_interval_is_wilsons_and_never_one_point_at_the_edge() -> None:
    estimate = share_interval(10, 10)
    low, high = proportion_confint(10, 10, alpha=0.05, method="wilson")
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx((1.0, low, high))
    assert estimate.low < 0.75  # 10 of 10 does not prove "always"


def test_seeds_needed_agrees_with_statsmodels_solve_power() -> None:
    for sd, difference in [(1.0, 0.1), (430.0, 1170.0), (2396.0, 1170.0), (1.0, 0.8)]:
        expected = TTestPower().solve_power(difference / sd, None, 0.05, 0.8)
        assert seeds_needed(sd, difference) == max(2, math.ceil(expected))
    assert math.isnan(seeds_needed(1.0, 0.0))


def test_holm_matches_statsmodels_and_leaves_nan_alone() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    expected = multipletests(p[np.isfinite(p)], method="holm")[1]
    adjusted = holm(p)
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[np.isfinite(p)], expected)


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
        assert row["diff_pct"] == pytest.approx(100 * (agent.mean() / baseline.mean() - 1))
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
    assert unpaired_ci.low < 0 < unpaired_ci.high
    assert row["diff_t_low"] > 0 and row["diff_pct_t_low"] > 0 and row["p_ttest"] < 0.001


def test_identical_agents_have_p_one_and_no_reliable_difference() -> None:
    results = results_table({"ab-test": 0.0})
    results = pd.concat([results, results.assign(agent="copy")])
    row = row_of(summarise(results, **FAST), "copy", "base")
    assert row["p_ttest"] == 1.0 and row["p_wilcoxon"] == 1.0
    assert (row["diff"], row["diff_t_low"], row["diff_t_high"]) == (0.0, 0.0, 0.0)
    assert (row["diff_pct"], row["diff_pct_t_low"], row["diff_pct_t_high"]) == pytest.approx(
        (0.0, 0.0, 0.0), abs=1e-9
    )
    assert row["prob_improvement"] == 0.5  # every seed a tie: one half each
    assert "earned exactly the same on every seed" in row["notes"]
    assert "no reliable difference" in verdict(row)


def test_compare_paired_with_one_pair_gives_no_test() -> None:
    comparison = compare_paired([110.0], [100.0])
    assert comparison.n_pairs == 1 and comparison.difference.value == 10.0
    assert comparison.relative.value == pytest.approx(10.0)
    assert math.isnan(comparison.p_ttest) and not comparison.relative.bounded
    assert any("fewer than two" in note for note in comparison.notes)


def test_relative_difference_needs_a_positive_baseline_mean() -> None:
    comparison = compare_paired([5.0, 12.0, 33.0], [-40.0, 10.0, 3.0])
    assert math.isnan(comparison.relative.value)
    assert any("baseline's mean profit is not positive" in n for n in comparison.notes)
    assert np.isfinite(comparison.difference.low)  # the verdict falls back to it


def test_small_samples_give_no_wilcoxon_and_no_p_improve_and_say_so() -> None:
    comparison = compare_paired([110.0, 112.0, 115.0, 111.0], [100.0, 101.0, 104.0, 99.0])
    assert math.isnan(comparison.p_wilcoxon) and math.isnan(comparison.improvement.value)
    assert any("no Wilcoxon p-value below 6 pairs" in n for n in comparison.notes)
    assert any("no P(improve) below 5 paired seeds" in n for n in comparison.notes)
    assert np.isfinite(comparison.p_ttest)


def test_paired_differences_lists_each_seed() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01, "thompson": 0.02}, seeds=4)
    differences = paired_differences(results)
    assert len(differences) == 8 and set(differences["agent"]) == {"ppo", "thompson"}
    first = differences.iloc[0]
    assert first["difference"] == pytest.approx(first["profit"] - first["baseline_profit"])
    assert first["relative_difference_pct"] == pytest.approx(
        100 * first["difference"] / first["baseline_profit"]
    )


# ------------------------------------------------------------------------------ P(improve)


def test_p_improve_is_the_share_of_seeds_won_with_wilsons_interval() -> None:
    agent = np.array([5.0, 6.0, 1.0, 9.0, 4.0, 3.0])
    baseline = np.array([4.0, 7.0, 0.0, 8.0, 4.0, 2.0])  # won 4, lost 1, tied 1
    estimate = compare_paired(agent, baseline).improvement
    low, high = proportion_confint(4.5, 6, alpha=0.05, method="wilson")
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx((0.75, low, high))


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
    # seeds are the sample: 10 seeds, each averaged over the 2 scenarios
    assert overall["n_scenarios"] == 2 and overall["n_seeds"] == 10 and overall["n_pairs"] == 10
    baseline = row_of(summary, "ab-test")
    assert baseline[["diff", "p_ttest", "p_holm", "prob_improvement"]].isna().all()


def test_pooling_over_scenarios_averages_within_each_seed_first() -> None:
    results = results_table(
        {"ab-test": 0.0, "thompson": 0.02}, scenarios={"base": 1000.0, "promo": 500.0}
    )
    row = row_of(summarise(results, **FAST), "thompson")
    per_seed = results.groupby(["agent", "seed"])["profit"].mean().unstack("agent")
    expected = compare_paired(per_seed["thompson"], per_seed["ab-test"])
    assert row["p_ttest"] == pytest.approx(expected.p_ttest)
    assert (row["diff_pct_t_low"], row["diff_pct_t_high"]) == pytest.approx(
        (expected.relative.low, expected.relative.high)
    )
    mean = t_interval(per_seed["thompson"])
    assert (row["mean_low"], row["mean_high"]) == pytest.approx((mean.low, mean.high))


def test_a_seed_missing_from_one_scenario_is_left_out_of_the_pooled_row_and_noted() -> None:
    results = results_table(
        {"ab-test": 0.0, "thompson": 0.02}, scenarios={"base": 1000.0, "promo": 500.0}
    )
    results = results[~((results["scenario"] == "promo") & (results["seed"] == 0))]
    row = row_of(summarise(results, **FAST), "thompson")
    assert row["n_seeds"] == 9 and row["n_pairs"] == 9
    assert "1 seeds without a run in every scenario are left out" in row["notes"]


def test_intervals_switch_method_at_their_seed_counts() -> None:
    few = row_of(summarise(results_table({"ab-test": 0.0, "ppo": 0.01}, seeds=4), **FAST), "ppo")
    assert few["mean_ci"] == "t" and math.isnan(few["iqm"]) and math.isnan(few["iqm_low"])
    assert "no IQM below 8 seeds" in few["notes"]
    some = row_of(summarise(results_table({"ab-test": 0.0, "ppo": 0.01}, seeds=8), **FAST), "ppo")
    assert some["mean_ci"] == "t" and some["iqm_ci"] == "trimmed t" and np.isfinite(some["iqm"])
    many = row_of(summarise(results_table({"ab-test": 0.0, "ppo": 0.01}, seeds=20), **FAST), "ppo")
    assert many["mean_ci"] == "BCa" and many["iqm_ci"] == "BCa"


def test_holm_adjusts_across_the_challengers_of_each_scenario() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.004, "q": 0.0, "ts": 0.01}, noise=20.0)
    summary = summarise(results, **FAST)
    for scenario in ("base", OVERALL):
        rows = summary[(summary["scenario"] == scenario) & (summary["agent"] != "ab-test")]
        expected = multipletests(rows["p_ttest"], method="holm")[1]
        np.testing.assert_allclose(rows["p_holm"], expected)
        assert (rows["n_compared"] == 3).all()


def test_summary_ci_of_one_agent_does_not_depend_on_the_others() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01}, seeds=25)
    more = pd.concat([results, results_table({"thompson": 0.03}, seeds=25, rng_seed=9)])
    columns = ["mean_low", "iqm_high", "diff_pct_t_low", "prob_improvement_high"]
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


def test_summarise_seeds_gives_the_rows_of_summarise() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.01, "q": -0.01})
    summary = summarise(results, **FAST)
    wide = results.pivot(index="seed", columns="agent", values="profit")
    oracle = results.groupby("seed")["dp_value"].first()
    rows = summarise_seeds(dict(wide.items()), oracle, scenario="base", **FAST)
    expected = summary[summary["scenario"] == "base"].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)


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


@st.composite
def paired_runs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Paired per-seed profits of realistic size: a baseline near 1e5 and differences of
    a few percent, some of them exactly zero or repeated."""
    n = draw(st.integers(2, 12))
    baseline = draw(st.lists(st.floats(5e4, 2e5), min_size=n, max_size=n))
    difference = st.one_of(st.floats(-5e3, 5e3), st.just(0.0), st.just(250.0))
    differences = draw(st.lists(difference, min_size=n, max_size=n))
    return np.add(baseline, differences), np.asarray(baseline)


@given(runs=paired_runs(), confidence=st.sampled_from([0.9, 0.95, 0.99]))
@settings(max_examples=200, deadline=None)
def test_the_p_value_and_the_intervals_never_disagree(runs, confidence: float) -> None:
    agent, baseline = runs
    comparison = compare_paired(agent, baseline, confidence=confidence)
    alpha = 1.0 - confidence
    # Exactly on the boundary float rounding decides; anywhere else it must not.
    assume(abs(comparison.p_ttest - alpha) > 1e-9)
    rejects = comparison.p_ttest < alpha
    assert comparison.difference.bounded  # the relative one is unbounded when the
    # baseline's mean is not distinguishable from zero (the verdict then uses this one)
    for interval in (comparison.relative, comparison.difference):
        if interval.bounded:
            assert (not interval.low <= 0.0 <= interval.high) == rejects


PVALUE = re.compile(r"p (<|=) ([0-9.e-]+)")


@given(runs=paired_runs())
@settings(max_examples=100, deadline=None)
def test_a_verdict_never_says_significant_and_includes_zero_together(runs) -> None:
    agent, baseline = runs
    rows = summarise_seeds({"ab-test": baseline, "ppo": agent}, scenario="s", n_resamples=50)
    row = rows.iloc[1]
    assume(abs(row["p_ttest"] - 0.05) > 1e-9)
    text = verdict(row)
    sign, shown = PVALUE.search(text).groups()  # the first p is the test of the CI
    if "includes zero" in text:
        assert sign == "=" and float(shown) >= 0.05 and row["p_ttest"] >= 0.05
    if "excludes zero" in text or text.startswith("ppo earned"):
        assert row["p_ttest"] < 0.05 and not row["diff_pct_t_low"] <= 0 <= row["diff_pct_t_high"]


# ------------------------------------------------------------------------------ verdict


def test_verdict_reports_a_reliable_gain_with_its_interval_and_p_value() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.04})
    row = row_of(summarise(results, **FAST), "thompson", "base")
    text = verdict(row, "the best fixed action")
    assert text.startswith("thompson earned ")
    assert "% more than the A/B test in scenario 'base' (95 % CI [+" in text
    assert "paired t-test over 10 seeds, p < 0.001)" in text
    assert "On a scale from the A/B test (0) to the best fixed action (1)" in text
    assert "It earned more than the A/B test on 10 of 10 seeds" in text
    assert "no reliable difference" not in text and "Too few seeds" not in text


def test_verdict_reports_a_reliable_loss_per_scenario() -> None:
    results = results_table({"ab-test": 0.0, "fixed": -0.05})
    text = verdict(row_of(summarise(results, **FAST), "fixed", "base"))
    assert "% less than the A/B test in scenario 'base'" in text


def test_verdict_says_no_reliable_difference_when_the_ci_spans_zero() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.0}, noise=30.0)
    row = row_of(summarise(results, **FAST), "ppo")
    assert row["diff_pct_t_low"] < 0 < row["diff_pct_t_high"]
    text = verdict(row)
    assert "ppo showed no reliable difference from the A/B test over all scenarios" in text
    assert "includes zero" in text


def test_a_verdict_with_too_few_seeds_says_how_many_would_tell() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.0}, seeds=3, noise=30.0, rng_seed=2)
    row = row_of(summarise(results, **FAST), "ppo", "base")
    wide = results.pivot(index="seed", columns="agent", values="profit")
    sd = float(np.std(wide["ppo"] - wide["ab-test"], ddof=1))
    needed = seeds_needed(sd, 0.01 * wide["ab-test"].mean())
    assert needed > 3 and row["seeds_needed"] == needed
    text = verdict(row)
    assert "Too few seeds to tell a difference of 1 %" in text
    assert (
        f"about {int(needed)} seeds would detect one with 80 % power; this comparison had 3" in text
    )


def test_a_verdict_on_one_seed_says_the_data_cannot_tell() -> None:
    results = results_table({"ab-test": 0.0, "ppo": 0.02}, seeds=1)
    text = verdict(row_of(summarise(results, **FAST), "ppo", "base"))
    assert "one seed gives no interval and no test" in text


def test_a_verdict_significant_alone_but_not_after_holm_is_not_reliable() -> None:
    results = results_table({"ab-test": 0.0, "thompson": 0.04})
    row = row_of(summarise(results, **FAST), "thompson", "base").copy()
    row["p_holm"], row["n_compared"] = 0.2, 3  # as if two more challengers had been run
    text = verdict(row)
    assert "thompson showed no reliable difference" in text
    assert "on average, and taken alone its 95 % CI" in text and "excludes zero" in text
    assert "but not once the 3 challengers compared are allowed for" in text
    assert text.count(" but ") == 1  # one contrast per sentence


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
        (lambda: results_table({"ab-test": 0.0}), {"detectable": 0}, "detectable"),
    ],
)
def test_bad_input_raises_one_line_input_error(make, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as error:
        summarise(make(), **kwargs)
    assert message in str(error.value)
    assert "\n" not in str(error.value)

r"""Statistics of experiment results: how sure are we that one policy earns more than another?

An experiment runs agents x scenarios x seeds. Within one scenario and seed every
agent faces the same demand draws (common random numbers, CRN), so results are
*paired* by (scenario, seed): the difference between two agents on one seed is free
of that seed's luck, and its spread is usually far smaller than either agent's.

Scenarios are *strata*. The experiment chose them; they are not a random draw. Every
bootstrap here therefore resamples seeds *within* each scenario and keeps each
scenario's number of seeds (the stratified bootstrap of Agarwal et al. 2021). A
figure "over all scenarios" pools the (scenario, seed) values of every scenario; with
the same seeds in every scenario, as the runner makes them, the pooled mean is the
mean of the per-scenario means.

The numbers, for an agent with profit :math:`R` on a (scenario, seed), the baseline
(the A/B test) with :math:`R_{AB}` on the same (scenario, seed), and the scenario's
DP optimum :math:`R_{DP}`:

- mean and interquartile mean (IQM) of :math:`R`, each with a stratified bootstrap CI;
- optimality gap :math:`g = 1 - R / R_{DP}` (0 at the optimum; undefined if
  :math:`R_{DP} \le 0`);
- normalised score :math:`z = (R - R_{AB}) / (R_{DP} - R_{AB})` (0 for the baseline,
  1 for the optimum; undefined where the oracle does not beat the baseline);
- paired difference :math:`d = R - R_{AB}` and relative difference
  :math:`100\, d / R_{AB}` (%), each with a t-interval and a bootstrap CI, and the
  p-values of the paired t-test and the Wilcoxon signed-rank test;
- probability of improvement :math:`P(X > Y)`: the chance that a run of the agent
  earns more than a run of the baseline, estimated per scenario by the Mann-Whitney
  statistic :math:`U / (n m)` and averaged over scenarios.

Entry points: :func:`summarise` turns a table of run results into one row per
(scenario, agent) and one per agent over all scenarios; :func:`verdict` says what a
row means in a sentence. The pieces (:func:`stratified_bootstrap`,
:func:`compare_paired`, :func:`probability_of_improvement`, ...) are pure functions of
arrays, for use on their own.

References
----------
R. Agarwal, M. Schwarzer, P. S. Castro, A. Courville, M. G. Bellemare (2021). Deep
reinforcement learning at the edge of the statistical precipice. NeurIPS.
B. Efron, R. J. Tibshirani (1993). An Introduction to the Bootstrap, ch. 13-14
(percentile and BCa intervals).
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from sim.logs.errors import InputError, did_you_mean

FloatArray = NDArray[np.float64]

#: A statistic of stratified data: one array per stratum, each shaped
#: ``(batch, n_stratum, ...)`` (resamples along axis 0, seeds along axis 1), to one
#: value per batch entry, shape ``(batch,)``.
Statistic = Callable[[Sequence[FloatArray]], FloatArray]

BootstrapMethod = Literal["percentile", "bca"]

#: Columns every results table must have.
REQUIRED_COLUMNS = ("scenario", "agent", "seed", "profit")
DEFAULT_BASELINE = "ab-test"
DEFAULT_ORACLE_COLUMN = "dp_value"
#: The ``scenario`` of a summary row that pools all scenarios.
OVERALL = "all scenarios"

#: The columns of :func:`summarise`, in order. ``*_low`` / ``*_high`` bound the CI of
#: the column they follow; ``_t_`` marks a t-interval, ``_boot_`` a bootstrap CI.
SUMMARY_COLUMNS = (
    "scenario", "agent", "baseline", "confidence", "n_scenarios", "n_seeds",
    "mean", "mean_low", "mean_high",
    "iqm", "iqm_low", "iqm_high",
    "gap", "gap_low", "gap_high",
    "normalised", "normalised_low", "normalised_high",
    "normalised_iqm", "normalised_iqm_low", "normalised_iqm_high",
    "n_pairs",
    "diff", "diff_t_low", "diff_t_high", "diff_boot_low", "diff_boot_high",
    "diff_pct", "diff_pct_t_low", "diff_pct_t_high", "diff_pct_boot_low", "diff_pct_boot_high",
    "p_ttest", "p_wilcoxon",
    "prob_improvement", "prob_improvement_low", "prob_improvement_high",
    "notes",
)  # fmt: skip


# ------------------------------------------------------------------------------ estimates


@dataclass(frozen=True)
class Estimate:
    """A point estimate with the bounds of its confidence interval (NaN when undefined)."""

    value: float
    low: float
    high: float

    @classmethod
    def undefined(cls) -> Estimate:
        return cls(math.nan, math.nan, math.nan)


def interquartile_mean(values: ArrayLike) -> float:
    r"""The interquartile mean: the mean of the middle 50 % of the values.

    :math:`\mathrm{IQM}(x) = \mathrm{mean}\{x_{(k+1)}, \dots, x_{(n-k)}\}` with
    :math:`k = \lfloor n / 4 \rfloor` values cut from each end of the sorted sample
    (``scipy.stats.trim_mean(values, 0.25)``). Robust to a few outlying seeds, yet
    far less noisy than the median. NaN for an empty sample.
    """
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        return math.nan
    return float(stats.trim_mean(array, 0.25))


def optimality_gap(profit: ArrayLike, oracle_value: ArrayLike) -> FloatArray:
    r"""The optimality gap :math:`g = 1 - R / R_{DP}`, elementwise.

    0 for a policy that earns the optimum, 0.1 for one that falls 10 % short. NaN where
    :math:`R_{DP} \le 0` (or is missing): a ratio to a non-positive optimum has no
    meaning as a shortfall.
    """
    profit, oracle = np.broadcast_arrays(
        np.asarray(profit, dtype=float), np.asarray(oracle_value, dtype=float)
    )
    valid = oracle > 0
    gap = np.full(profit.shape, np.nan)
    gap[valid] = 1.0 - profit[valid] / oracle[valid]
    return gap


def normalised_score(
    profit: ArrayLike, baseline_profit: ArrayLike, oracle_value: ArrayLike
) -> FloatArray:
    r"""The normalised score :math:`z = (R - R_{AB}) / (R_{DP} - R_{AB})`, elementwise.

    The share of the baseline's distance to the optimum that the policy closes: 0 for
    the baseline, 1 for the optimum, negative below the baseline. NaN (never a silent
    division by zero) where the oracle does not beat the baseline,
    :math:`R_{DP} - R_{AB} \le \epsilon` with
    :math:`\epsilon = 10^{-9} \max(|R_{DP}|, |R_{AB}|)`: the scale is then zero or
    has the wrong sign. ``R_DP`` is an expected profit and ``R_AB`` a realised one, so
    a lucky A/B test can exceed it on a seed; callers report how many values were
    left undefined.
    """
    profit, baseline, oracle = np.broadcast_arrays(
        np.asarray(profit, dtype=float),
        np.asarray(baseline_profit, dtype=float),
        np.asarray(oracle_value, dtype=float),
    )
    scale = oracle - baseline
    tolerance = 1e-9 * np.maximum(np.abs(oracle), np.abs(baseline))
    valid = scale > tolerance  # False for NaN too
    score = np.full(profit.shape, np.nan)
    score[valid] = (profit[valid] - baseline[valid]) / scale[valid]
    return score


# ------------------------------------------------------------------------------ bootstrap


def pooled_mean(samples: Sequence[FloatArray]) -> FloatArray:
    r"""Mean over all seeds of all strata, :math:`\frac{1}{\sum_s n_s}\sum_s\sum_i x_{s,i}`."""
    return np.concatenate(samples, axis=1).mean(axis=1)


def pooled_iqm(samples: Sequence[FloatArray]) -> FloatArray:
    """Interquartile mean over all seeds of all strata (see :func:`interquartile_mean`)."""
    return stats.trim_mean(np.concatenate(samples, axis=1), 0.25, axis=1)


def mean_probability_of_improvement(samples: Sequence[FloatArray]) -> FloatArray:
    r"""Average over scenarios of :math:`P(X > Y) = U / (n m)` (ties count one half).

    ``samples`` alternate agent and baseline: ``[x_1, y_1, x_2, y_2, ...]``, one
    pair per scenario. :math:`U` is the Mann-Whitney statistic of the agent's runs
    against the baseline's, :math:`\sum_{i,j} [x_i > y_j] + \tfrac12 [x_i = y_j]`.
    """
    if len(samples) % 2:
        raise InputError("probability of improvement needs agent and baseline samples in pairs")
    per_scenario = [
        stats.mannwhitneyu(agent, baseline, axis=-1, method="asymptotic").statistic
        / (agent.shape[-1] * baseline.shape[-1])
        for agent, baseline in zip(samples[::2], samples[1::2], strict=True)
    ]
    return np.mean(per_scenario, axis=0)


def stratified_bootstrap(
    strata: Sequence[ArrayLike],
    statistic: Statistic,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: BootstrapMethod = "percentile",
    rng: np.random.Generator | int | None = 0,
) -> Estimate:
    r"""A statistic of stratified data with its stratified bootstrap CI.

    Each resample draws :math:`n_s` seeds with replacement from each stratum
    :math:`s` (rows of the stratum's array, so paired columns move together) and
    evaluates ``statistic`` on the lot; all resamples are drawn and evaluated at once.

    - ``"percentile"``: the :math:`\alpha/2` and :math:`1 - \alpha/2` quantiles of the
      bootstrap replicates :math:`\hat\theta^*_b`.
    - ``"bca"``: bias-corrected and accelerated quantiles
      :math:`\Phi\big(z_0 + (z_0 + z_q) / (1 - a (z_0 + z_q))\big)` with
      :math:`z_0 = \Phi^{-1}(\#\{\hat\theta^*_b < \hat\theta\} / B)` and the
      acceleration :math:`a = \sum_i (\bar\theta_{(\cdot)} - \theta_{(i)})^3 /
      \big(6 [\sum_i (\bar\theta_{(\cdot)} - \theta_{(i)})^2]^{3/2}\big)` from the
      leave-one-seed-out jackknife across all strata (Efron & Tibshirani 1993, 14.3).
      Falls back to percentile where :math:`z_0` is infinite (all replicates on one
      side).

    Hand-rolled because ``scipy.stats.bootstrap`` resamples whole samples and has no
    strata; with a single stratum it agrees with scipy (see the tests). With few seeds
    per stratum both intervals run narrow (the bootstrap variance of a mean carries a
    factor :math:`(n - 1) / n`); for paired differences :func:`compare_paired` also
    gives the t-interval.

    :param strata: one array per stratum, seeds along axis 0; empty strata are skipped.
    :param statistic: see :data:`Statistic`.
    :param rng: a Generator or a seed for ``numpy.random.default_rng``.
    :return: the statistic on the data and its CI; all NaN when there are no data.
    """
    _check_bootstrap_settings(n_resamples, confidence, method)
    samples = [np.asarray(stratum, dtype=float) for stratum in strata]
    samples = [sample for sample in samples if sample.shape[0] > 0]
    if not samples:
        return Estimate.undefined()
    generator = np.random.default_rng(rng)
    estimate = float(statistic([sample[np.newaxis] for sample in samples])[0])
    resamples = [
        sample[generator.integers(0, len(sample), size=(n_resamples, len(sample)))]
        for sample in samples
    ]
    replicates = np.asarray(statistic(resamples), dtype=float)
    tail = (1.0 - confidence) / 2.0
    levels = np.array([tail, 1.0 - tail])
    if method == "bca":
        levels = _bca_levels(estimate, replicates, _jackknife(samples, statistic), levels)
    low, high = np.quantile(replicates, levels)
    return Estimate(estimate, float(low), float(high))


def stratified_mean(strata: Sequence[ArrayLike], **bootstrap: Any) -> Estimate:
    """Pooled mean with its stratified bootstrap CI (keywords of :func:`stratified_bootstrap`)."""
    return stratified_bootstrap(strata, pooled_mean, **bootstrap)


def stratified_iqm(strata: Sequence[ArrayLike], **bootstrap: Any) -> Estimate:
    """Pooled IQM with its stratified bootstrap CI (keywords of :func:`stratified_bootstrap`)."""
    return stratified_bootstrap(strata, pooled_iqm, **bootstrap)


def _check_bootstrap_settings(n_resamples: int, confidence: float, method: str) -> None:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise InputError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if method not in ("percentile", "bca"):
        raise InputError(
            f"unknown bootstrap method {method!r}{did_you_mean(method, ['percentile', 'bca'])}"
        )


def _jackknife(samples: Sequence[FloatArray], statistic: Statistic) -> FloatArray:
    """The statistic with each seed left out in turn (strata of one seed are kept whole)."""
    values = []
    for k, sample in enumerate(samples):
        n = len(sample)
        if n < 2:
            continue
        position = np.arange(n - 1)[np.newaxis, :]
        # Row i lists the seeds 0..n-1 without i.
        keep = position + (position >= np.arange(n)[:, np.newaxis])
        batch = [
            sample[keep] if j == k else np.broadcast_to(other, (n, *other.shape))
            for j, other in enumerate(samples)
        ]
        values.append(np.asarray(statistic(batch), dtype=float))
    return np.concatenate(values) if values else np.empty(0)


def _bca_levels(
    estimate: float, replicates: FloatArray, jackknife: FloatArray, levels: FloatArray
) -> FloatArray:
    """The BCa-adjusted quantile levels (see :func:`stratified_bootstrap`)."""
    # Ties count one half, so a discrete statistic (P(X > Y)) is not biased by them.
    below = np.mean(replicates < estimate) + 0.5 * np.mean(replicates == estimate)
    if not 0.0 < below < 1.0 or jackknife.size < 2:
        return levels
    bias = stats.norm.ppf(below)
    spread = jackknife.mean() - jackknife
    scale = float(np.sum(spread**2))
    acceleration = float(np.sum(spread**3)) / (6.0 * scale**1.5) if scale > 0 else 0.0
    z = stats.norm.ppf(levels)
    return stats.norm.cdf(bias + (bias + z) / (1.0 - acceleration * (bias + z)))


# ------------------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class PairedComparison:
    r"""An agent against the baseline on the same (scenario, seed)s.

    :param n_pairs: number of (scenario, seed) pairs with runs of both.
    :param difference: mean of :math:`d = R - R_{AB}` with its t-interval.
    :param difference_bootstrap: the same mean with its stratified bootstrap CI.
    :param relative: mean of :math:`100\, d / R_{AB}` (%) with its t-interval, over
        the pairs where :math:`R_{AB} > 0`.
    :param relative_bootstrap: the same mean with its stratified bootstrap CI.
    :param p_ttest: two-sided p-value of the paired t-test of :math:`E[d] = 0`.
    :param p_wilcoxon: two-sided p-value of the Wilcoxon signed-rank test (zero
        differences dropped, the scipy default).
    :param notes: what was left out or set by convention, in words.
    """

    n_pairs: int
    difference: Estimate
    difference_bootstrap: Estimate
    relative: Estimate
    relative_bootstrap: Estimate
    p_ttest: float
    p_wilcoxon: float
    notes: tuple[str, ...] = ()

    @classmethod
    def empty(cls, note: str) -> PairedComparison:
        none = Estimate.undefined()
        return cls(0, none, none, none, none, math.nan, math.nan, (note,))


def compare_paired(
    agent: Sequence[ArrayLike],
    baseline: Sequence[ArrayLike],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: BootstrapMethod = "percentile",
    rng: np.random.Generator | int | None = 0,
) -> PairedComparison:
    r"""Paired differences of an agent against the baseline, pooled over strata.

    ``agent[s][i]`` and ``baseline[s][i]`` are the profits on seed ``i`` of scenario
    ``s`` (common random numbers). The t-interval and both tests pool all pairs:
    :math:`\bar d \pm t_{n-1} s_d / \sqrt n` (``scipy.stats.ttest_rel``) and the
    signed-rank test (``scipy.stats.wilcoxon``). Pooling over scenarios treats the
    scenarios' differing effects as part of the spread, which is conservative. The
    bootstrap CIs resample seeds within scenarios.

    Conventions: with fewer than two pairs there is no t-interval and no p-value
    (NaN); when every difference is exactly zero both p-values are 1 (no evidence of
    any difference; scipy's t statistic would be 0/0).
    """
    pairs = [_pair_array(x, y) for x, y in zip(agent, baseline, strict=True)]
    pairs = [pair for pair in pairs if len(pair)]
    if not pairs:
        return PairedComparison.empty("no seed has runs of both the agent and the baseline")
    differences = [pair[:, 0] - pair[:, 1] for pair in pairs]
    pooled = np.concatenate(differences)
    bootstrap = dict(n_resamples=n_resamples, confidence=confidence, method=method)
    generator = np.random.default_rng(rng)
    notes: list[str] = []

    relatives = [_relative_difference(pair[:, 0], pair[:, 1]) for pair in pairs]
    relatives = [values[np.isfinite(values)] for values in relatives]
    left_out = pooled.size - sum(values.size for values in relatives)
    if left_out:
        notes.append(
            f"relative difference left out on {left_out} of {pooled.size} pairs "
            "where the baseline's profit was not positive (or too near zero for a finite ratio)"
        )
    p_ttest, p_wilcoxon = _paired_p_values(pooled, notes)
    return PairedComparison(
        n_pairs=int(pooled.size),
        difference=_t_interval(pooled, confidence),
        difference_bootstrap=stratified_mean(differences, rng=generator, **bootstrap),
        relative=_t_interval(np.concatenate(relatives), confidence),
        relative_bootstrap=stratified_mean(relatives, rng=generator, **bootstrap),
        p_ttest=p_ttest,
        p_wilcoxon=p_wilcoxon,
        notes=tuple(notes),
    )


def probability_of_improvement(
    agent: Sequence[ArrayLike],
    baseline: Sequence[ArrayLike],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: BootstrapMethod = "percentile",
    rng: np.random.Generator | int | None = 0,
) -> Estimate:
    r"""Probability of improvement :math:`P(X > Y)` of the agent over the baseline.

    ``agent[s]`` and ``baseline[s]`` are the runs of each in scenario ``s``. Per
    scenario, :math:`P_s = U_s / (n_s m_s)` with :math:`U_s` the Mann-Whitney
    statistic (the share of (agent run, baseline run) combinations where the agent
    earns more, ties one half); the estimate is :math:`\frac1S \sum_s P_s` (Agarwal
    et al. 2021). 0.5: neither tends to earn more; 1: the agent's worst run beats the
    baseline's best. Scenarios where either has no run are skipped.

    The CI resamples the agent's and the baseline's runs independently within each
    scenario, as rliable does. Resampling common-random-number pairs together would
    be wrong here: a seed drawn k times puts its own (agent, baseline) pair k^2 times
    into U, so the resamples over-weight same-seed comparisons (weight about 2/n
    instead of 1/n) and the interval shifts. Independent resampling ignores the
    correlation CRN gives the two runs of a seed; where that correlation is positive,
    as shared demand draws make it, the agent's and the baseline's contributions to
    U then covary negatively, so ignoring it widens the interval: it is conservative.
    """
    samples = []
    for x, y in zip(agent, baseline, strict=True):
        x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
        if x.size and y.size:
            samples += [x, y]
    return stratified_bootstrap(
        samples,
        mean_probability_of_improvement,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        rng=rng,
    )


def _pair_array(agent: ArrayLike, baseline: ArrayLike) -> FloatArray:
    """Agent and baseline profits side by side, shape ``(n, 2)``; lengths must match."""
    x = np.asarray(agent, dtype=float).ravel()
    y = np.asarray(baseline, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(
            f"paired samples differ in length ({x.size} agent runs, {y.size} baseline runs)"
        )
    return np.column_stack([x, y])


def _relative_difference(profit: FloatArray, baseline_profit: FloatArray) -> FloatArray:
    r""":math:`100 (R - R_{AB}) / R_{AB}` (%), NaN where :math:`R_{AB} \le 0` or the ratio
    overflows."""
    valid = baseline_profit > 0
    relative = np.full(profit.shape, np.nan)
    with np.errstate(over="ignore"):
        relative[valid] = 100.0 * (profit[valid] - baseline_profit[valid]) / baseline_profit[valid]
    relative[~np.isfinite(relative)] = np.nan
    return relative


def _t_interval(values: FloatArray, confidence: float) -> Estimate:
    r"""Mean with the t-interval :math:`\bar x \pm t_{n-1, 1-\alpha/2}\, s / \sqrt n`."""
    if values.size < 2:
        return Estimate(float(np.mean(values)) if values.size else math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        # Constant samples (a deterministic scenario) make scipy warn about precision
        # loss; the interval it returns, [c, c], is the right answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    return Estimate(float(np.mean(values)), float(interval.low), float(interval.high))


def _paired_p_values(differences: FloatArray, notes: list[str]) -> tuple[float, float]:
    """Two-sided p-values of the paired t-test and the Wilcoxon signed-rank test."""
    if differences.size < 2:
        notes.append("fewer than two paired seeds: no t-interval and no p-values")
        return math.nan, math.nan
    if not np.any(differences):
        notes.append("the agent and the baseline earned exactly the same on every seed: p = 1")
        return 1.0, 1.0
    zeros = np.zeros_like(differences)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # see _t_interval
        p_ttest = float(stats.ttest_rel(differences, zeros).pvalue)
        p_wilcoxon = float(stats.wilcoxon(differences).pvalue)
    return p_ttest, p_wilcoxon


# ------------------------------------------------------------------------------ results tables


@dataclass(frozen=True)
class _Results:
    """Validated results: profits by (scenario, seed) x agent, and the oracle's value.

    Rows are the (scenario, seed)s in sorted order; ``scenario_code[r]`` indexes
    ``scenarios`` for row ``r``; ``runs[agent][r]`` is NaN where the agent has no run.
    """

    profit: pd.DataFrame  # index (scenario, seed); one column per agent
    scenarios: list[object]
    scenario_code: NDArray[np.intp]
    runs: dict[str, FloatArray]
    oracle: FloatArray  # NaN where unknown
    baseline: str
    notes: tuple[str, ...]

    @property
    def agents(self) -> list[str]:
        """The baseline first, then the others in alphabetical order."""
        return [self.baseline, *sorted(agent for agent in self.runs if agent != self.baseline)]


def _validate(results: pd.DataFrame, baseline: str, oracle_column: str | None) -> _Results:
    """Check the results table and reshape it; raise :class:`InputError` naming the problem."""
    if not isinstance(results, pd.DataFrame):
        raise InputError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    columns = [str(column) for column in results.columns]
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            raise InputError(f"results have no column '{column}'{did_you_mean(column, columns)}")
    if results.empty:
        raise InputError("results have no rows")
    frame = results.assign(agent=results["agent"].astype(str))
    profit = pd.to_numeric(frame["profit"], errors="coerce")
    bad = ~np.isfinite(profit.to_numpy(dtype=float))
    if bad.any():
        position = int(bad.argmax())
        raise InputError(
            f"results column 'profit' must hold finite numbers; row {frame.index[position]} "
            f"has {results['profit'].iloc[position]!r}"
        )
    frame["profit"] = profit
    duplicated = frame.duplicated(["scenario", "agent", "seed"])
    if duplicated.any():
        first = frame.loc[duplicated, ["scenario", "agent", "seed"]].iloc[0].tolist()
        raise InputError(
            f"results have {int(duplicated.sum())} repeated (scenario, agent, seed) rows, first "
            f"{tuple(first)}; average evaluation episodes into one row per run"
        )
    if (frame["scenario"] == OVERALL).any():
        raise InputError(f"scenario name '{OVERALL}' is reserved for the rows over all scenarios")
    agents = sorted(frame["agent"].unique())
    if baseline not in agents:
        raise InputError(
            f"baseline agent '{baseline}' is not in the results{did_you_mean(baseline, agents)}"
        )
    wide = frame.pivot(index=["scenario", "seed"], columns="agent", values="profit").sort_index()
    wide.columns.name = None
    oracle, notes = _oracle_values(frame, wide.index, oracle_column, columns)
    codes, scenarios = pd.factorize(wide.index.get_level_values("scenario"), sort=True)
    return _Results(
        profit=wide,
        scenarios=list(scenarios),
        scenario_code=codes,
        runs={agent: wide[agent].to_numpy(dtype=float) for agent in wide.columns},
        oracle=oracle.to_numpy(dtype=float),
        baseline=baseline,
        notes=notes,
    )


def _oracle_values(
    frame: pd.DataFrame, index: pd.MultiIndex, oracle_column: str | None, columns: list[str]
) -> tuple[pd.Series, tuple[str, ...]]:
    """The oracle's value per (scenario, seed), and a note when there is none."""
    if oracle_column is None or oracle_column not in columns:
        missing = pd.Series(np.nan, index=index)
        if oracle_column is None:
            return missing, ("no oracle column: no optimality gap or normalised score",)
        return missing, (
            f"no oracle column '{oracle_column}'{did_you_mean(oracle_column, columns)}: "
            "no optimality gap or normalised score",
        )
    values = pd.to_numeric(frame[oracle_column], errors="coerce")
    grouped = values.groupby([frame["scenario"], frame["seed"]])
    spread = (grouped.max() - grouped.min()).fillna(0.0)
    tolerance = 1e-9 * grouped.max().abs().fillna(0.0)
    if (spread > tolerance).any():
        scenario, seed = spread[spread > tolerance].index[0]
        raise InputError(
            f"results column '{oracle_column}' differs between agents in scenario "
            f"'{scenario}', seed {seed}; the oracle's value belongs to the scenario and seed"
        )
    return grouped.mean().reindex(index), ()


def paired_differences(results: pd.DataFrame, baseline: str = DEFAULT_BASELINE) -> pd.DataFrame:
    r"""Every agent against the baseline on each (scenario, seed) both ran.

    :return: columns ``scenario, seed, agent, profit, baseline_profit, difference``
        (:math:`R - R_{AB}`) and ``relative_difference_pct``
        (:math:`100 (R - R_{AB}) / R_{AB}`, NaN where :math:`R_{AB} \le 0`), sorted by
        scenario, agent and seed; the baseline itself is left out.
    """
    table = _validate(results, baseline, None)
    rows = []
    for agent in table.agents[1:]:
        both = table.profit[[agent, baseline]].dropna()
        profit, reference = both[agent].to_numpy(), both[baseline].to_numpy()
        rows.append(
            pd.DataFrame(
                {
                    "scenario": both.index.get_level_values("scenario"),
                    "seed": both.index.get_level_values("seed"),
                    "agent": agent,
                    "profit": profit,
                    "baseline_profit": reference,
                    "difference": profit - reference,
                    "relative_difference_pct": _relative_difference(profit, reference),
                }
            )
        )
    if not rows:
        columns = ["scenario", "seed", "agent", "profit", "baseline_profit", "difference"]
        return pd.DataFrame(columns=[*columns, "relative_difference_pct"])
    differences = pd.concat(rows, ignore_index=True)
    return differences.sort_values(["scenario", "agent", "seed"], ignore_index=True)


# ------------------------------------------------------------------------------ summary


@dataclass(frozen=True)
class _Settings:
    n_resamples: int
    confidence: float
    method: BootstrapMethod
    seed: int

    def rng(self, *key: object) -> np.random.Generator:
        """A generator for one figure, keyed by its scope, agent and name.

        Every figure draws its own resamples, so adding an agent or a scenario never
        changes another agent's intervals.
        """
        words = [zlib.crc32(str(part).encode("utf-8")) for part in key]
        return np.random.default_rng([self.seed, *words])

    def bootstrap(self, *key: object) -> dict[str, Any]:
        return dict(
            n_resamples=self.n_resamples,
            confidence=self.confidence,
            method=self.method,
            rng=self.rng(*key),
        )


def summarise(
    results: pd.DataFrame,
    baseline: str = DEFAULT_BASELINE,
    oracle_column: str | None = DEFAULT_ORACLE_COLUMN,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: BootstrapMethod = "percentile",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (scenario, agent) and one per agent over all scenarios.

    :param results: one row per run, with columns ``scenario``, ``agent``, ``seed``,
        ``profit`` (episode profit, averaged over evaluation episodes), and
        optionally the oracle's value (``oracle_column``).
    :param baseline: the agent every other is compared with.
    :param oracle_column: the column with the DP optimum of the (scenario, seed);
        ``None`` or a missing column leaves the gap and the normalised score NaN and
        says so in ``notes``.
    :param confidence: level of every interval; the tests use ``1 - confidence``.
    :param n_resamples: bootstrap resamples per interval.
    :param method: ``"percentile"`` or ``"bca"`` bootstrap intervals.
    :param seed: seeds the bootstrap; the same data and seed give the same table,
        whatever the order of the rows.
    :return: the columns of :data:`SUMMARY_COLUMNS`; rows over all scenarios have
        ``scenario == OVERALL`` and come last. Comparison columns are NaN on the
        baseline's own rows. ``notes`` says what was left out and why.
    :raises InputError: a missing column, an unknown baseline, a non-numeric profit or
        a repeated run.
    """
    _check_bootstrap_settings(n_resamples, confidence, method)
    table = _validate(results, baseline, oracle_column)
    settings = _Settings(int(n_resamples), float(confidence), method, int(seed))
    rows = []
    for code, scenario in enumerate(table.scenarios):
        in_scenario = table.scenario_code == code
        for agent in table.agents:
            if np.isfinite(table.runs[agent][in_scenario]).any():
                rows.append(_summary_row(table, in_scenario, scenario, agent, settings))
    everywhere = np.ones(table.scenario_code.shape, dtype=bool)
    for agent in table.agents:
        rows.append(_summary_row(table, everywhere, OVERALL, agent, settings))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


@dataclass(frozen=True)
class _Scope:
    """One agent's runs, the baseline's and the oracle's value on the rows in scope."""

    code: NDArray[np.intp]
    profit: FloatArray
    reference: FloatArray
    oracle: FloatArray

    def by_scenario(self, values: FloatArray) -> dict[int, FloatArray]:
        """Per scenario code, the rows of ``values`` (seeds in order) where all is known."""
        known = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        return {
            int(code): values[known & (self.code == code)] for code in np.unique(self.code[known])
        }

    def strata(self, values: FloatArray) -> list[FloatArray]:
        """:meth:`by_scenario` as a list, scenarios in order."""
        return list(self.by_scenario(values).values())


def _summary_row(
    table: _Results, in_scope: NDArray[np.bool_], label: object, agent: str, settings: _Settings
) -> dict[str, object]:
    """The summary of one agent over the (scenario, seed) rows in scope."""
    scope = _Scope(
        code=table.scenario_code[in_scope],
        profit=table.runs[agent][in_scope],
        reference=table.runs[table.baseline][in_scope],
        oracle=table.oracle[in_scope],
    )
    notes = list(table.notes)
    own = scope.strata(scope.profit)
    row: dict[str, object] = {
        "scenario": label,
        "agent": agent,
        "baseline": table.baseline,
        "confidence": settings.confidence,
        "n_scenarios": len(own),
        "n_seeds": int(np.isfinite(scope.profit).sum()),
    }
    row |= _columns("mean", stratified_mean(own, **settings.bootstrap(label, agent, "mean")))
    row |= _columns("iqm", stratified_iqm(own, **settings.bootstrap(label, agent, "iqm")))

    # With no oracle at all, the table's own note says so once.
    oracle_notes = notes if np.isfinite(scope.oracle).any() else []
    gap = optimality_gap(scope.profit, scope.oracle)
    _note_undefined(scope.profit, gap, "optimality gap", "no positive oracle value", oracle_notes)
    row |= _columns(
        "gap", stratified_mean(scope.strata(gap), **settings.bootstrap(label, agent, "gap"))
    )
    score = normalised_score(scope.profit, scope.reference, scope.oracle)
    why = "no baseline run, or the oracle did not beat the baseline"
    _note_undefined(scope.profit, score, "normalised score", why, oracle_notes)
    score_strata = scope.strata(score)
    row |= _columns(
        "normalised", stratified_mean(score_strata, **settings.bootstrap(label, agent, "z"))
    )
    row |= _columns(
        "normalised_iqm", stratified_iqm(score_strata, **settings.bootstrap(label, agent, "ziqm"))
    )
    if agent == table.baseline:
        itself = PairedComparison.empty("this agent is the baseline")
        notes.extend(itself.notes)
        row |= _paired_columns(itself) | _columns("prob_improvement", Estimate.undefined())
    else:
        row |= _comparison_columns(scope, settings.bootstrap, label, agent, notes)
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def _comparison_columns(
    scope: _Scope,
    bootstrap: Callable[..., dict[str, Any]],
    label: object,
    agent: str,
    notes: list[str],
) -> dict[str, object]:
    """Paired difference, p-values and probability of improvement against the baseline."""
    unpaired = int((np.isfinite(scope.profit) & np.isnan(scope.reference)).sum())
    if unpaired:
        notes.append(f"{unpaired} seeds have no baseline run and are left out of the comparison")
    pairs = scope.strata(np.column_stack([scope.profit, scope.reference]))
    comparison = compare_paired(
        [pair[:, 0] for pair in pairs],
        [pair[:, 1] for pair in pairs],
        **bootstrap(label, agent, "difference"),
    )
    notes.extend(comparison.notes)
    # P(X > Y) needs no pairing: it uses every run of each, in the scenarios both ran.
    agent_runs = scope.by_scenario(scope.profit)
    baseline_runs = scope.by_scenario(scope.reference)
    shared = [code for code in agent_runs if code in baseline_runs]
    improvement = probability_of_improvement(
        [agent_runs[code] for code in shared],
        [baseline_runs[code] for code in shared],
        **bootstrap(label, agent, "improvement"),
    )
    return _paired_columns(comparison) | _columns("prob_improvement", improvement)


def _paired_columns(comparison: PairedComparison) -> dict[str, object]:
    return {
        "n_pairs": comparison.n_pairs,
        "diff": comparison.difference.value,
        "diff_t_low": comparison.difference.low,
        "diff_t_high": comparison.difference.high,
        "diff_boot_low": comparison.difference_bootstrap.low,
        "diff_boot_high": comparison.difference_bootstrap.high,
        "diff_pct": comparison.relative.value,
        "diff_pct_t_low": comparison.relative.low,
        "diff_pct_t_high": comparison.relative.high,
        "diff_pct_boot_low": comparison.relative_bootstrap.low,
        "diff_pct_boot_high": comparison.relative_bootstrap.high,
        "p_ttest": comparison.p_ttest,
        "p_wilcoxon": comparison.p_wilcoxon,
    }


def _columns(name: str, estimate: Estimate) -> dict[str, float]:
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


def _note_undefined(
    profit: FloatArray, values: FloatArray, name: str, reason: str, notes: list[str]
) -> None:
    """Note how many of the agent's runs leave ``values`` undefined (NaN)."""
    runs = np.isfinite(profit)
    undefined = int((runs & np.isnan(values)).sum())
    if undefined:
        notes.append(f"{name} undefined on {undefined} of {int(runs.sum())} runs ({reason})")


# ------------------------------------------------------------------------------ verdict


def verdict(
    summary_row: pd.Series | Mapping[str, object], optimum: str = "the DP optimum"
) -> str:
    """A plain-language paragraph on one row of :func:`summarise`.

    The difference is called reliable only when its CI (the t-interval of the
    relative difference, else of the difference) excludes zero *and* the paired
    t-test rejects at ``1 - confidence``; otherwise the paragraph says
    "no reliable difference" and gives the numbers and the reason.
    """
    row = dict(summary_row)
    agent, baseline = str(row["agent"]), str(row["baseline"])
    against = "the A/B test" if baseline == DEFAULT_BASELINE else f"'{baseline}'"
    where = "" if row["scenario"] == OVERALL else f" in scenario '{row['scenario']}'"
    if agent == baseline:
        return f"{agent} is the baseline{where}; the other agents are compared with it."
    if not row["n_pairs"] or not _finite(row["diff"]):
        return f"{agent} could not be compared with {against}{where}: no seed has runs of both."
    confidence = float(row["confidence"])  # type: ignore[arg-type]
    level = f"{100 * confidence:g} %"
    value, low, high, unit = _headline_difference(row)
    pairing = f"paired over {_count(row['n_pairs'], 'seed')}"
    if row["scenario"] == OVERALL:
        pairing += f" in {_count(row['n_scenarios'], 'scenario')}"
    p_value = float(row["p_ttest"])  # type: ignore[arg-type]
    p_text = "no p-value" if not math.isfinite(p_value) else _p_text(p_value)
    interval = f"{level} CI [{_amount(low, unit)}, {_amount(high, unit)}]"
    change = f"{_amount(abs(value), unit)} {'more' if value > 0 else 'less'}"
    if unit != "%":
        change += " profit"
    if not (math.isfinite(low) and math.isfinite(high)):
        reason = "there are too few paired seeds for an interval"
    elif low <= 0 <= high:
        reason = f"the {interval} includes zero"
    elif not math.isfinite(p_value):
        reason = "there are too few paired seeds for a test"
    elif p_value >= 1.0 - confidence:
        reason = f"the paired t-test is not significant ({p_text})"
    else:
        headline = (
            f"{agent} earned {change} than {against}{where} ({interval}, {pairing}, {p_text})."
        )
        return " ".join([headline, *_context_sentences(row, against, level, optimum)])
    headline = (
        f"{agent} showed no reliable difference from {against}{where}: it earned {change} "
        f"on average, but {reason} ({pairing}, {p_text})."
    )
    return " ".join([headline, *_context_sentences(row, against, level, optimum)])


def _headline_difference(row: Mapping[str, object]) -> tuple[float, float, float, str]:
    """The difference to report, as (value, low, high, unit): relative where it can be.

    Prefers the t-interval (better calibrated than the bootstrap with few seeds), then
    the bootstrap CI; the relative difference (%) before the absolute one.
    """
    for prefix, unit in (("diff_pct", "%"), ("diff", "")):
        for kind in ("t", "boot"):
            value, low, high = (
                row[prefix],
                row[f"{prefix}_{kind}_low"],
                row[f"{prefix}_{kind}_high"],
            )
            if _finite(value) and _finite(low) and _finite(high):
                return float(value), float(low), float(high), unit  # type: ignore[arg-type]
    return float(row["diff"]), math.nan, math.nan, ""  # type: ignore[arg-type]


def _context_sentences(
    row: Mapping[str, object], against: str, level: str, optimum: str
) -> list[str]:
    """Where the agent stands between the baseline and ``optimum`` (the oracle the runs
    were scored against, in words), and P(X > Y)."""
    sentences = []
    if _finite(row["normalised"]):
        sentences.append(
            f"On a scale from {against} (0) to {optimum} (1) it scored "
            f"{float(row['normalised']):.2f} ({level} CI [{float(row['normalised_low']):.2f}, "
            f"{float(row['normalised_high']):.2f}])."
        )
    if _finite(row["prob_improvement"]):
        sentences.append(
            f"A run of it earns more than a run of {against} with probability "
            f"{float(row['prob_improvement']):.2f} ({level} CI "
            f"[{float(row['prob_improvement_low']):.2f}, "
            f"{float(row['prob_improvement_high']):.2f}])."
        )
    return sentences


def _amount(value: float, unit: str) -> str:
    return f"{value:.1f} %" if unit == "%" else f"{value:,.1f}"


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False

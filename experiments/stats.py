r"""Statistics of experiment results: how sure are we that one policy earns more than another?

An experiment runs agents x scenarios x seeds. Within one scenario and seed every
agent faces the same demand draws (common random numbers, CRN), so results are
*paired* by seed: the difference between two agents on one seed is free of that
seed's luck, and its spread is usually far smaller than either agent's.

**Seeds are the sample.** A row "over all scenarios" first averages each agent's
profit over the scenarios of a seed, then treats the seeds as the sample. The
scenarios share their seeds and with them their luck (per-seed differences correlate
about 0.97 across scenarios), so the (scenario, seed) pairs are not independent
draws; counting them as such would shrink every interval by about
:math:`\sqrt{S}`. Seeds without a run in every scenario are left out of the pooled
row, and its notes say how many.

The figures, for an agent with per-seed profit :math:`R_i`, the baseline with
:math:`B_i` on the same seed and the oracle's expected profit :math:`O_i`, all means
over the :math:`n` seeds (:math:`\bar R = \frac1n \sum_i R_i`):

- **relative difference** (the headline) :math:`\theta = \bar R / \bar B - 1`, with
  Fieller's interval: every :math:`\theta` that the paired t-test of
  :math:`E[R - (1 + \theta) B] = 0` does not reject (:func:`fieller`). Its p-value,
  the same test at :math:`\theta = 0`, is the paired t-test of :math:`R - B`; so the
  interval excludes 0 exactly when :math:`p < 1 - \text{confidence}`. p-values are
  also Holm-adjusted across the challengers of a scenario (``p_holm``);
- **difference** :math:`\bar R - \bar B` with the paired t-interval (the same test);
- **mean profit** :math:`\bar R`: t-interval below :data:`BOOTSTRAP_FROM` seeds, BCa
  bootstrap from there on;
- **IQM** (interquartile mean) from :data:`IQM_FROM` seeds: Tukey-McLaughlin
  trimmed-t interval below :data:`BOOTSTRAP_FROM`, BCa bootstrap from there on;
- **normalised score** :math:`z = (\bar R - \bar B) / (\bar O - \bar B)` (0 for the
  baseline, 1 for the oracle): a ratio of *expected* values, Fieller's interval on
  the paired :math:`(R_i - B_i, O_i - B_i)`;
- **optimality gap** :math:`g = 1 - \bar R / \bar O`, Fieller's interval;
- **P(improve)** from :data:`IMPROVEMENT_FROM` seeds: the share of seeds on which the
  agent earned more than the baseline on the same luck (ties one half), an estimate
  of :math:`P(R_i > B_i)`, with the Wilson score interval (Newcombe 1998);
- the **Wilcoxon** signed-rank p-value from :data:`WILCOXON_FROM` pairs (with fewer
  its smallest two-sided value, :math:`2 / 2^n`, cannot reach 0.05);
- **seeds needed**: how many seeds the paired t-test needs to detect a difference of
  ``detectable`` (a share of the baseline's mean profit) with 80 % power, from the
  observed SD of the per-seed differences (``statsmodels`` ``TTestPower``).

Each of these intervals is checked for coverage at 3, 5, 10 and 30 seeds by
:mod:`experiments.bench.verdicts`.

Entry points: :func:`summarise` turns a table of run results into one row per
(scenario, agent) and one per agent over all scenarios; :func:`verdict` says what a
row means in words. The pieces (:func:`fieller`, :func:`compare_paired`,
:func:`stratified_bootstrap`, ...) are pure functions of arrays.

References
----------
E. C. Fieller (1954). Some problems in interval estimation. JRSS B 16, 175-185.
R. G. Newcombe (1998). Two-sided confidence intervals for the single proportion:
comparison of seven methods. Statistics in Medicine 17, 857-872.
R. R. Wilcox (2012). Introduction to Robust Estimation and Hypothesis Testing, 4.4
(the Tukey-McLaughlin interval for a trimmed mean).
B. Efron, R. J. Tibshirani (1993). An Introduction to the Bootstrap, ch. 13-14.
S. Holm (1979). A simple sequentially rejective multiple test procedure. Scand. J. Stat.
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
from scipy import special, stats

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

#: From this many seeds on, mean and IQM intervals are BCa bootstrap; below, t-based.
BOOTSTRAP_FROM = 20
#: Fewest seeds for an IQM (below it the IQM is the mean of one or two middle values).
IQM_FROM = 8
#: Fewest paired seeds for P(improve) (with 3, "always better" happens 1 in 8 by chance).
IMPROVEMENT_FROM = 5
#: Fewest pairs for a Wilcoxon p-value (with 5 its two-sided minimum is 0.0625).
WILCOXON_FROM = 6
#: Power the "seeds needed" figure plans for.
PLANNED_POWER = 0.8
#: Default difference worth detecting, as a share of the baseline's mean profit.
DETECTABLE = 0.01

#: The columns of :func:`summarise`, in order. ``*_low`` / ``*_high`` bound the CI of
#: the column they follow; ``*_ci`` names the method of that interval.
SUMMARY_COLUMNS = (
    "scenario", "agent", "baseline", "confidence", "n_scenarios", "n_seeds",
    "mean", "mean_low", "mean_high", "mean_ci",
    "iqm", "iqm_low", "iqm_high", "iqm_ci",
    "gap", "gap_low", "gap_high",
    "normalised", "normalised_low", "normalised_high",
    "n_pairs",
    "diff", "diff_t_low", "diff_t_high",
    "diff_pct", "diff_pct_t_low", "diff_pct_t_high",
    "p_ttest", "p_holm", "n_compared", "p_wilcoxon",
    "sd_diff", "detectable", "seeds_needed",
    "prob_improvement", "prob_improvement_low", "prob_improvement_high",
    "notes",
)  # fmt: skip

#: How each interval of the summary is computed, in words (the report's legend).
CI_METHODS = {
    "mean": f"t-interval below {BOOTSTRAP_FROM} seeds, BCa bootstrap from {BOOTSTRAP_FROM}",
    "iqm": f"from {IQM_FROM} seeds; Tukey-McLaughlin trimmed-t interval below "
    f"{BOOTSTRAP_FROM}, BCa bootstrap from {BOOTSTRAP_FROM}",
    "diff_pct": "Fieller interval of the ratio of mean profits (inverts the paired t-test; "
    "p is that test, Holm-adjusted across the challengers of a scenario)",
    "normalised": "Fieller interval of (mean R - mean B) / (mean oracle - mean B)",
    "gap": "Fieller interval of 1 - mean R / mean oracle",
    "prob_improvement": f"share of seeds the agent won on the same luck, Wilson score "
    f"interval, from {IMPROVEMENT_FROM} seeds",
}


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

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


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
    r"""The optimality gap of one run, :math:`g = 1 - R / O`, elementwise.

    0 for a run that earns the optimum, 0.1 for one that falls 10 % short. NaN where
    :math:`O \le 0` (or is missing). :func:`summarise` reports the gap of the *mean*
    profits, :math:`1 - \bar R / \bar O`, not the mean of these.
    """
    profit, oracle = np.broadcast_arrays(
        np.asarray(profit, dtype=float), np.asarray(oracle_value, dtype=float)
    )
    valid = oracle > 0
    gap = np.full(profit.shape, np.nan)
    gap[valid] = 1.0 - profit[valid] / oracle[valid]
    return gap


def normalised_score(
    profit: ArrayLike,
    baseline_profit: ArrayLike,
    oracle_value: ArrayLike,
    *,
    confidence: float = 0.95,
) -> Estimate:
    r"""The normalised score of expected values, :math:`z = (\bar R - \bar B) / (\bar O - \bar B)`.

    The share of the baseline's distance to the optimum that the policy closes: 0 for
    the baseline, 1 for the oracle, negative below the baseline. Means over the seeds
    where all three are known, so a seed on which a lucky baseline beat the oracle's
    *expected* profit counts like any other (dividing per seed would blow up or drop
    it). The interval is Fieller's on the paired :math:`(R_i - B_i, O_i - B_i)`
    (:func:`fieller`); its bounds are NaN when the oracle's margin over the baseline
    is not distinguishable from zero at this level, the value NaN when that margin
    is not positive.
    """
    profit, baseline, oracle = np.broadcast_arrays(
        np.asarray(profit, dtype=float).ravel(),
        np.asarray(baseline_profit, dtype=float).ravel(),
        np.asarray(oracle_value, dtype=float).ravel(),
    )
    known = np.isfinite(profit) & np.isfinite(baseline) & np.isfinite(oracle)
    return fieller(profit[known] - baseline[known], oracle[known] - baseline[known], confidence)


# ------------------------------------------------------------------------------ intervals


def t_interval(values: ArrayLike, confidence: float = 0.95) -> Estimate:
    r"""Mean with the t-interval :math:`\bar x \pm t_{n-1, 1-\alpha/2}\, s / \sqrt n`.

    Exact for normal data at any :math:`n \ge 2`; NaN bounds below two values.
    """
    array = np.asarray(values, dtype=float).ravel()
    if array.size < 2:
        return Estimate(float(np.mean(array)) if array.size else math.nan, math.nan, math.nan)
    mean = float(np.mean(array))
    if not np.any(array - array[0]):  # a deterministic scenario: [c, c]
        return Estimate(mean, mean, mean)
    half = _t_quantile(confidence, array.size - 1) * float(np.std(array, ddof=1))
    half /= math.sqrt(array.size)
    return Estimate(mean, mean - half, mean + half)


def _t_quantile(confidence: float, df: int) -> float:
    """:math:`t_{df, (1 + \text{confidence}) / 2}` (``scipy.special.stdtrit``: the same
    function as ``scipy.stats.t.ppf`` without its argument checks, 100 x faster)."""
    return float(special.stdtrit(df, 0.5 + confidence / 2.0))


def trimmed_t_interval(values: ArrayLike, confidence: float = 0.95) -> Estimate:
    r"""The IQM with the Tukey-McLaughlin interval (Wilcox 2012, 4.4.1).

    With :math:`g = \lfloor n / 4 \rfloor` values trimmed from each end,
    :math:`h = n - 2g` kept and :math:`s_w^2` the variance of the sample winsorized at
    the same points, :math:`\mathrm{IQM} \pm t_{h-1, 1-\alpha/2}\, s_w \sqrt n / h`.
    Hand-written: scipy's ``mstats.trimmed_mean_ci`` divides by :math:`(1 - 2 \cdot
    0.25)\sqrt n` whatever :math:`g` is, which agrees only when 4 divides :math:`n`.
    """
    array = np.sort(np.asarray(values, dtype=float).ravel())
    n = array.size
    g = n // 4
    kept = n - 2 * g
    if kept < 2:
        return Estimate(interquartile_mean(array), math.nan, math.nan)
    winsorized = np.clip(array, array[g], array[n - g - 1])
    spread = float(np.std(winsorized, ddof=1)) * math.sqrt(n) / kept
    centre = interquartile_mean(array)
    half = _t_quantile(confidence, kept - 1) * spread
    return Estimate(centre, centre - half, centre + half)


def fieller(numerator: ArrayLike, denominator: ArrayLike, confidence: float = 0.95) -> Estimate:
    r"""The ratio of paired means :math:`\rho = E[x] / E[y]` with Fieller's interval.

    The interval is every :math:`\rho` that the t-test of :math:`E[x - \rho y] = 0` on
    the paired differences :math:`x_i - \rho y_i` does not reject:
    :math:`(\bar x - \rho \bar y)^2 \le t^2\, \widehat{\mathrm{Var}}(\bar x - \rho \bar y)`
    with :math:`t = t_{n-1, 1-\alpha/2}`. Writing :math:`\rho = \hat\rho + u`,
    :math:`\hat\rho = \bar x / \bar y`, :math:`e_i = x_i - \hat\rho y_i`:

    .. math:: u^2 (\bar y^2 - t^2 v_{yy}) + 2 u\, t^2 v_{ey} - t^2 v_{ee} \le 0,

    with :math:`v_{ab}` the sample covariance of :math:`a, b` over :math:`n`. When
    :math:`\bar y^2 > t^2 v_{yy}` (the denominator's mean is distinguishable from zero)
    the set is the interval between the two roots; otherwise it is unbounded, and the
    bounds are NaN. Exact for bivariate normal pairs at every :math:`n \ge 2`, and
    :math:`\rho_0` lies inside exactly when the paired t-test of
    :math:`x - \rho_0 y` gives :math:`p \ge \alpha`: the interval and that p-value
    never disagree. Hand-written: neither scipy nor statsmodels has the paired form.

    :return: :math:`\hat\rho` (NaN when :math:`\bar y = 0` or there are no pairs) and
        its interval (NaN bounds below two pairs or when unbounded).
    """
    x = np.asarray(numerator, dtype=float).ravel()
    y = np.asarray(denominator, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"fieller: {x.size} numerators but {y.size} denominators")
    n = x.size
    if n == 0 or np.mean(y) == 0:
        return Estimate.undefined()
    mean_x, mean_y = float(np.mean(x)), float(np.mean(y))
    ratio = mean_x / mean_y
    if n < 2 or not math.isfinite(ratio):
        return Estimate(ratio, math.nan, math.nan)
    t2 = _t_quantile(confidence, n - 1) ** 2
    e = x - ratio * y
    covariance = np.cov(np.vstack([e, y]), ddof=1) / n
    v_ee, v_ey, v_yy = float(covariance[0, 0]), float(covariance[0, 1]), float(covariance[1, 1])
    a = mean_y**2 - t2 * v_yy
    if not a > 0:
        return Estimate(ratio, math.nan, math.nan)
    b = 2.0 * t2 * v_ey
    root = math.sqrt(max(b * b + 4.0 * a * t2 * v_ee, 0.0))
    return Estimate(ratio, ratio + (-b - root) / (2.0 * a), ratio + (-b + root) / (2.0 * a))


def share_interval(wins: float, n: int, confidence: float = 0.95) -> Estimate:
    r"""A share :math:`k / n` with its Wilson score interval (Newcombe 1998, method 3).

    :math:`\big(k + z^2/2 \pm z \sqrt{k (n - k) / n + z^2 / 4}\big) / (n + z^2)`
    (``statsmodels.stats.proportion.proportion_confint``); unlike the Wald interval it
    is never [1, 1] when every seed was won. ``wins`` may hold halves (ties).
    """
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return Estimate.undefined()
    low, high = proportion_confint(wins, n, alpha=1.0 - confidence, method="wilson")
    return Estimate(wins / n, float(low), float(high))


def seeds_needed(
    sd_difference: float, difference: float, confidence: float = 0.95, power: float = PLANNED_POWER
) -> float:
    r"""Seeds a two-sided paired t-test needs to detect ``difference`` with ``power``.

    From the effect size :math:`|\delta| / s_d`, with :math:`s_d` the SD of the
    per-seed differences (``statsmodels.stats.power.TTestPower``), rounded up; 2 when
    the differences do not vary; NaN when ``difference`` is 0 or unknown.
    """
    from statsmodels.stats.power import TTestPower

    if not (math.isfinite(sd_difference) and math.isfinite(difference)) or difference == 0:
        return math.nan
    if sd_difference <= 0:
        return 2.0
    effect = abs(difference) / sd_difference
    alpha = 1.0 - confidence
    # The normal approximation n_z = ((z_{alpha/2} + z_power) / effect)^2 never exceeds
    # the t-test's need; the exact power over a window from just below it, in one call,
    # finds the first n that reaches ``power`` (10 x faster than solve_power's search).
    approximate = ((stats.norm.isf(alpha / 2.0) + stats.norm.ppf(power)) / effect) ** 2
    if not approximate < 1e6:  # t is normal there: the approximation is the answer
        return float(math.ceil(approximate)) if math.isfinite(approximate) else math.inf
    start = max(2, math.floor(approximate) - 2)
    while True:
        seeds = np.arange(start, start + 16)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            powers = np.asarray(TTestPower().power(effect, seeds, alpha, alternative="two-sided"))
        if start > 2 and powers[0] >= power:
            start = max(2, start // 2)  # began too high: look lower
            continue
        enough = np.flatnonzero(powers >= power)
        if enough.size:
            return float(seeds[enough[0]])
        start += 16


# ------------------------------------------------------------------------------ bootstrap


def pooled_mean(samples: Sequence[FloatArray]) -> FloatArray:
    r"""Mean over all seeds of all strata, :math:`\frac{1}{\sum_s n_s}\sum_s\sum_i x_{s,i}`."""
    return np.concatenate(samples, axis=1).mean(axis=1)


def pooled_iqm(samples: Sequence[FloatArray]) -> FloatArray:
    """Interquartile mean over all seeds of all strata (see :func:`interquartile_mean`).

    Sorts and averages the middle directly: ``scipy.stats.trim_mean`` gives the same
    numbers (see the tests) through a wrapper that costs more than the work here."""
    values = np.sort(np.concatenate(samples, axis=1), axis=1)
    cut = values.shape[1] // 4
    return values[:, cut : values.shape[1] - cut].mean(axis=1)


def stratified_bootstrap(
    strata: Sequence[ArrayLike],
    statistic: Statistic,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: BootstrapMethod = "bca",
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
    strata; with a single stratum it agrees with scipy (see the tests). Bootstrap
    intervals run narrow with few seeds (the bootstrap variance of a mean carries a
    factor :math:`(n - 1) / n`), which is why :func:`summarise` uses them only from
    :data:`BOOTSTRAP_FROM` seeds on.

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
    # Ties count one half, so a discrete statistic is not biased by them.
    below = np.mean(replicates < estimate) + 0.5 * np.mean(replicates == estimate)
    if not 0.0 < below < 1.0 or jackknife.size < 2:
        return levels
    bias = stats.norm.ppf(below)
    acceleration = _acceleration(jackknife)
    z = stats.norm.ppf(levels)
    return stats.norm.cdf(bias + (bias + z) / (1.0 - acceleration * (bias + z)))


def _acceleration(jackknife: FloatArray) -> float:
    r"""BCa's acceleration :math:`a` from jackknife values (scale-free).

    The spreads are divided by their largest magnitude first: :math:`a` does not
    change, and tiny spreads (values near 1e-200) no longer underflow
    :math:`(\sum s^2)^{3/2}` to zero.
    """
    spread = jackknife.mean() - jackknife
    largest = float(np.max(np.abs(spread)))
    if not largest > 0 or not math.isfinite(largest):
        return 0.0
    spread = spread / largest
    return float(np.sum(spread**3)) / (6.0 * float(np.sum(spread**2)) ** 1.5)


# ------------------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class PairedComparison:
    r"""An agent :math:`R` against the baseline :math:`B` on the same seeds.

    :param n_pairs: seeds with runs of both.
    :param difference: :math:`\bar R - \bar B` with the paired t-interval.
    :param relative: :math:`100 (\bar R / \bar B - 1)` (%) with Fieller's interval
        (:func:`fieller`); NaN bounds when :math:`\bar B` is not distinguishably
        positive, NaN value when it is not positive.
    :param p_ttest: two-sided p-value of the paired t-test of :math:`E[R - B] = 0`,
        the test both intervals invert.
    :param p_wilcoxon: two-sided Wilcoxon signed-rank p-value, from
        :data:`WILCOXON_FROM` pairs.
    :param sd_difference: SD of the per-seed differences :math:`R_i - B_i`.
    :param improvement: share of seeds with :math:`R_i > B_i` (ties one half), Wilson
        interval, from :data:`IMPROVEMENT_FROM` pairs.
    :param notes: what was left out or set by convention, in words.
    """

    n_pairs: int
    difference: Estimate
    relative: Estimate
    p_ttest: float
    p_wilcoxon: float
    sd_difference: float
    improvement: Estimate
    notes: tuple[str, ...] = ()

    @classmethod
    def empty(cls, note: str) -> PairedComparison:
        none = Estimate.undefined()
        return cls(0, none, none, math.nan, math.nan, math.nan, none, (note,))


def compare_paired(
    agent: ArrayLike, baseline: ArrayLike, *, confidence: float = 0.95
) -> PairedComparison:
    r"""The agent's per-seed profits against the baseline's on the same seeds.

    ``agent[i]`` and ``baseline[i]`` are the profits on seed ``i`` (common random
    numbers); pairs with a NaN are skipped. Every interval and the p-value come from
    the one paired t-test family, so that "p < alpha" and "the CI excludes zero" are
    the same statement. When every difference is exactly zero the p-values are 1 and
    the intervals [0, 0].
    """
    pair = _pair_array(agent, baseline)
    pair = pair[np.isfinite(pair).all(axis=1)]
    if not len(pair):
        return PairedComparison.empty("no seed has runs of both the agent and the baseline")
    x, y = pair[:, 0], pair[:, 1]
    differences = x - y
    n = differences.size
    notes: list[str] = []
    relative = fieller(x, y, confidence)
    if not np.mean(y) > 0:
        notes.append("no relative difference: the baseline's mean profit is not positive")
        relative = Estimate.undefined()
    elif n >= 2 and not relative.bounded:
        notes.append(
            "the relative difference has no finite interval: the baseline's mean profit is "
            "not distinguishable from zero"
        )
    relative = Estimate(*(100.0 * (value - 1.0) for value in (relative.value, relative.low,
                                                             relative.high)))  # fmt: skip
    p_ttest, p_wilcoxon = _paired_p_values(differences, notes)
    if n < IMPROVEMENT_FROM:
        notes.append(f"no P(improve) below {IMPROVEMENT_FROM} paired seeds")
        improvement = Estimate.undefined()
    else:
        wins = float(np.sum(differences > 0) + 0.5 * np.sum(differences == 0))
        improvement = share_interval(wins, n, confidence)
    return PairedComparison(
        n_pairs=int(n),
        difference=t_interval(differences, confidence),
        relative=relative,
        p_ttest=p_ttest,
        p_wilcoxon=p_wilcoxon,
        sd_difference=float(np.std(differences, ddof=1)) if n >= 2 else math.nan,
        improvement=improvement,
        notes=tuple(notes),
    )


def holm(p_values: ArrayLike) -> FloatArray:
    r"""Holm's step-down adjustment of a family of p-values (NaN stay NaN and do not count).

    With the :math:`m` known p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`:
    :math:`\tilde p_{(k)} = \min\big(1, \max_{j \le k} (m - j + 1)\, p_{(j)}\big)`.
    Rejecting where :math:`\tilde p < \alpha` keeps the chance of any false "reliable"
    verdict among the challengers at most :math:`\alpha`. Hand-written in four lines
    because ``statsmodels``' ``multipletests`` gives the same numbers (see the tests)
    but runs a full garbage collection on every call, 0.2 s.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    known = np.flatnonzero(np.isfinite(p))
    order = known[np.argsort(p[known], kind="stable")]
    factors = len(order) - np.arange(len(order))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    return adjusted


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
    r""":math:`100 (R - B) / B` (%) per seed, NaN where :math:`B \le 0` or the ratio
    overflows."""
    valid = baseline_profit > 0
    relative = np.full(profit.shape, np.nan)
    with np.errstate(over="ignore"):
        relative[valid] = 100.0 * (profit[valid] - baseline_profit[valid]) / baseline_profit[valid]
    relative[~np.isfinite(relative)] = np.nan
    return relative


def _paired_p_values(differences: FloatArray, notes: list[str]) -> tuple[float, float]:
    """Two-sided p-values of the paired t-test and (from 6 pairs) the Wilcoxon test."""
    if differences.size < 2:
        notes.append("fewer than two paired seeds: no interval and no p-value")
        return math.nan, math.nan
    if not np.any(differences):
        notes.append("the agent and the baseline earned exactly the same on every seed: p = 1")
        return 1.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant differences: see t_interval
        if np.any(differences - differences[0]):
            n = differences.size
            t = float(np.mean(differences)) / (float(np.std(differences, ddof=1)) / math.sqrt(n))
            p_ttest = float(2.0 * special.stdtr(n - 1, -abs(t)))  # = scipy's ttest_1samp
        else:
            p_ttest = 0.0  # the same nonzero difference on every seed: t is infinite
        if differences.size < WILCOXON_FROM:
            notes.append(f"no Wilcoxon p-value below {WILCOXON_FROM} pairs")
            return p_ttest, math.nan
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
        (:math:`R - B`) and ``relative_difference_pct``
        (:math:`100 (R - B) / B`, NaN where :math:`B \le 0`), sorted by
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
    seed: int
    detectable: float

    def rng(self, *key: object) -> np.random.Generator:
        """A generator for one figure, keyed by its scope, agent and name.

        Every figure draws its own resamples, so adding an agent or a scenario never
        changes another agent's intervals.
        """
        words = [zlib.crc32(str(part).encode("utf-8")) for part in key]
        return np.random.default_rng([self.seed, *words])


@dataclass(frozen=True)
class _Scope:
    """Per-seed profits of every agent (NaN where it has no run) and the oracle's value,
    on the seeds of one scenario, or averaged over the scenarios of each seed."""

    label: object
    n_scenarios: int
    runs: dict[str, FloatArray]
    oracle: FloatArray
    partial: dict[str, int]  # seeds left out of a pooled row: runs in some scenarios only


def summarise(
    results: pd.DataFrame,
    baseline: str = DEFAULT_BASELINE,
    oracle_column: str | None = DEFAULT_ORACLE_COLUMN,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    detectable: float = DETECTABLE,
) -> pd.DataFrame:
    """One row per (scenario, agent) and one per agent over all scenarios.

    :param results: one row per run, with columns ``scenario``, ``agent``, ``seed``,
        ``profit`` (episode profit, averaged over evaluation episodes), and
        optionally the oracle's expected profit (``oracle_column``).
    :param baseline: the agent every other is compared with.
    :param oracle_column: the column with the oracle's value of the (scenario, seed);
        ``None`` or a missing column leaves the gap and the normalised score NaN and
        says so in ``notes``.
    :param confidence: level of every interval; the tests use ``1 - confidence``.
    :param n_resamples: bootstrap resamples per BCa interval (from
        :data:`BOOTSTRAP_FROM` seeds).
    :param seed: seeds the bootstrap; the same data and seed give the same table,
        whatever the order of the rows.
    :param detectable: the difference worth detecting, as a share of the baseline's
        mean profit, for ``seeds_needed``.
    :return: the columns of :data:`SUMMARY_COLUMNS`; rows over all scenarios have
        ``scenario == OVERALL`` and come last. Comparison columns are NaN on the
        baseline's own rows. ``notes`` says what was left out and why.
    :raises InputError: a missing column, an unknown baseline, a non-numeric profit or
        a repeated run.
    """
    _check_bootstrap_settings(n_resamples, confidence, "bca")
    if not (isinstance(detectable, int | float) and 0.0 < detectable < 10.0):
        raise InputError(f"detectable must be a share between 0 and 10, got {detectable!r}")
    table = _validate(results, baseline, oracle_column)
    settings = _Settings(int(n_resamples), float(confidence), int(seed), float(detectable))
    scopes = [_scenario_scope(table, scenario) for scenario in table.scenarios]
    rows = []
    for scope in [*scopes, _pooled_scope(table)]:
        rows += _scope_rows(scope, table.agents, baseline, table.notes, settings)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def summarise_seeds(
    runs: Mapping[str, ArrayLike],
    oracle: ArrayLike | None = None,
    baseline: str = DEFAULT_BASELINE,
    *,
    scenario: object = OVERALL,
    n_scenarios: int = 1,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    detectable: float = DETECTABLE,
) -> pd.DataFrame:
    """The rows of :func:`summarise` for one scope, from per-seed arrays.

    ``runs[agent][i]`` is the agent's profit on seed ``i`` (NaN: no run), already
    averaged over the scenarios of the seed for a pooled scope (``n_scenarios`` of
    them); ``oracle[i]`` the oracle's expected profit. Skips the validation and the
    reshaping of a results table: what the coverage benchmark calls thousands of
    times. Holm's adjustment runs over the challengers given here.
    """
    settings = _Settings(int(n_resamples), float(confidence), int(seed), float(detectable))
    arrays = {agent: np.asarray(values, dtype=float).ravel() for agent, values in runs.items()}
    if baseline not in arrays:
        raise InputError(f"baseline agent '{baseline}' is not in the runs")
    length = len(arrays[baseline])
    oracle_values = np.full(length, np.nan) if oracle is None else np.asarray(oracle, dtype=float)
    scope = _Scope(scenario, n_scenarios, arrays, oracle_values.ravel(), {})
    agents = [baseline, *sorted(agent for agent in arrays if agent != baseline)]
    notes = (
        () if oracle is not None else ("no oracle values: no optimality gap or normalised score",)
    )
    rows = _scope_rows(scope, agents, baseline, notes, settings)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _scope_rows(
    scope: _Scope,
    agents: list[str],
    baseline: str,
    notes: tuple[str, ...],
    settings: _Settings,
) -> list[dict[str, object]]:
    """The rows of one scope, with the challengers' p-values Holm-adjusted together."""
    rows = [
        _summary_row(scope, agent, baseline, notes, settings)
        for agent in agents
        if scope.label == OVERALL or np.isfinite(scope.runs[agent]).any()
    ]
    challengers = [row for row in rows if row["agent"] != baseline]
    adjusted = holm([float(row["p_ttest"]) for row in challengers])  # type: ignore[arg-type]
    compared = int(np.isfinite(adjusted).sum())
    for row, p_holm in zip(challengers, adjusted, strict=True):
        row["p_holm"], row["n_compared"] = float(p_holm), compared
    return rows


def _scenario_scope(table: _Results, scenario: object) -> _Scope:
    profit = table.profit.xs(scenario, level="scenario")
    oracle = pd.Series(table.oracle, index=table.profit.index).xs(scenario, level="scenario")
    runs = {agent: profit[agent].to_numpy(dtype=float) for agent in table.agents}
    return _Scope(scenario, 1, runs, oracle.to_numpy(dtype=float), {})


def _pooled_scope(table: _Results) -> _Scope:
    """Each agent's profit averaged over the scenarios of a seed; seeds without a run in
    every scenario are NaN (and counted in ``partial``)."""
    n_scenarios = len(table.scenarios)
    by_seed = table.profit.groupby(level="seed")
    counts = by_seed.count()
    means = by_seed.mean().where(counts == n_scenarios)
    oracle = pd.Series(table.oracle, index=table.profit.index).groupby(level="seed")
    oracle_means = oracle.mean().where(oracle.count() == n_scenarios)
    partial = ((counts > 0) & (counts < n_scenarios)).sum()
    return _Scope(
        OVERALL,
        n_scenarios,
        {agent: means[agent].to_numpy(dtype=float) for agent in table.agents},
        oracle_means.to_numpy(dtype=float),
        {agent: int(partial[agent]) for agent in table.agents},
    )


def _summary_row(
    scope: _Scope, agent: str, baseline: str, table_notes: tuple[str, ...], settings: _Settings
) -> dict[str, object]:
    """The summary of one agent on the seeds of one scope."""
    notes = list(table_notes)
    if scope.partial.get(agent):
        notes.append(
            f"{scope.partial[agent]} seeds without a run in every scenario are left out of "
            "the pooled figures"
        )
    profit, reference = scope.runs[agent], scope.runs[baseline]
    own = profit[np.isfinite(profit)]
    row: dict[str, object] = {
        "scenario": scope.label,
        "agent": agent,
        "baseline": baseline,
        "confidence": settings.confidence,
        "n_scenarios": scope.n_scenarios,
        "n_seeds": int(own.size),
    }
    key = (scope.label, agent)
    row |= _mean_columns(own, settings, key)
    row |= _iqm_columns(own, settings, key, notes)
    row |= _oracle_columns(profit, reference, scope.oracle, settings.confidence, notes)
    if agent == baseline:
        comparison = PairedComparison.empty("this agent is the baseline")
        needed = math.nan
    else:
        unpaired = int((np.isfinite(profit) & np.isnan(reference)).sum())
        if unpaired:
            notes.append(
                f"{unpaired} seeds have no baseline run and are left out of the comparison"
            )
        comparison = compare_paired(profit, reference, confidence=settings.confidence)
        paired = np.isfinite(profit) & np.isfinite(reference)
        worth = settings.detectable * float(np.mean(reference[paired])) if paired.any() else 0.0
        needed = seeds_needed(comparison.sd_difference, worth, settings.confidence)
    notes.extend(comparison.notes)
    row |= {
        "n_pairs": comparison.n_pairs,
        "diff": comparison.difference.value,
        "diff_t_low": comparison.difference.low,
        "diff_t_high": comparison.difference.high,
        "diff_pct": comparison.relative.value,
        "diff_pct_t_low": comparison.relative.low,
        "diff_pct_t_high": comparison.relative.high,
        "p_ttest": comparison.p_ttest,
        "p_holm": math.nan,
        "n_compared": 0,
        "p_wilcoxon": comparison.p_wilcoxon,
        "sd_diff": comparison.sd_difference,
        "detectable": settings.detectable,
        "seeds_needed": needed,
    }
    row |= _columns("prob_improvement", comparison.improvement)
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def _mean_columns(values: FloatArray, settings: _Settings, key: tuple) -> dict[str, object]:
    """Mean profit: t-interval below :data:`BOOTSTRAP_FROM` seeds, BCa from there on."""
    if values.size >= BOOTSTRAP_FROM:
        estimate = stratified_mean(
            [values], n_resamples=settings.n_resamples, confidence=settings.confidence,
            method="bca", rng=settings.rng(*key, "mean"),
        )  # fmt: skip
        return _columns("mean", estimate) | {"mean_ci": "BCa"}
    estimate = t_interval(values, settings.confidence)
    return _columns("mean", estimate) | {"mean_ci": "t" if estimate.bounded else ""}


def _iqm_columns(
    values: FloatArray, settings: _Settings, key: tuple, notes: list[str]
) -> dict[str, object]:
    """IQM from :data:`IQM_FROM` seeds: trimmed-t interval, BCa from :data:`BOOTSTRAP_FROM`."""
    if values.size < IQM_FROM:
        notes.append(f"no IQM below {IQM_FROM} seeds")
        return _columns("iqm", Estimate.undefined()) | {"iqm_ci": ""}
    if values.size >= BOOTSTRAP_FROM:
        estimate = stratified_iqm(
            [values], n_resamples=settings.n_resamples, confidence=settings.confidence,
            method="bca", rng=settings.rng(*key, "iqm"),
        )  # fmt: skip
        return _columns("iqm", estimate) | {"iqm_ci": "BCa"}
    return _columns("iqm", trimmed_t_interval(values, settings.confidence)) | {
        "iqm_ci": "trimmed t"
    }


def _oracle_columns(
    profit: FloatArray, reference: FloatArray, oracle: FloatArray, confidence: float,
    notes: list[str],
) -> dict[str, float]:  # fmt: skip
    """The gap :math:`1 - \\bar R / \\bar O` and the normalised score, both of means."""
    if not np.isfinite(oracle).any():
        return _columns("gap", Estimate.undefined()) | _columns("normalised", Estimate.undefined())
    runs = np.isfinite(profit)
    missing = int((runs & ~np.isfinite(oracle)).sum())
    if missing:
        notes.append(f"no oracle value on {missing} of {int(runs.sum())} seeds: left out of the "
                     "gap and the normalised score")  # fmt: skip
    with_oracle = runs & np.isfinite(oracle)
    ratio = fieller(profit[with_oracle], oracle[with_oracle], confidence)
    if with_oracle.any() and not np.mean(oracle[with_oracle]) > 0:
        notes.append("no optimality gap: the oracle's mean profit is not positive")
        gap = Estimate.undefined()
    else:
        gap = Estimate(1.0 - ratio.value, 1.0 - ratio.high, 1.0 - ratio.low)
    known = with_oracle & np.isfinite(reference)
    score = normalised_score(profit[known], reference[known], oracle[known], confidence=confidence)
    margin = oracle[known] - reference[known]
    if known.any() and not np.mean(margin) > 0:
        notes.append("no normalised score: the oracle's mean profit does not exceed the baseline's")
        score = Estimate.undefined()
    elif known.sum() >= 2 and not score.bounded and np.any(profit[known] != reference[known]):
        notes.append(
            "the normalised score has no finite interval: the oracle's margin over the "
            "baseline is not distinguishable from zero with these seeds"
        )
    return _columns("gap", gap) | _columns("normalised", score)


def _columns(name: str, estimate: Estimate) -> dict[str, float]:
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


# ------------------------------------------------------------------------------ verdict


def verdict(summary_row: pd.Series | Mapping[str, object], optimum: str = "the DP optimum") -> str:
    """A plain-language paragraph on one row of :func:`summarise`.

    The headline is the relative difference of mean profit with its Fieller interval
    and the paired t-test that interval inverts (the absolute difference and its
    t-interval when the ratio has no finite interval). It is called reliable only when
    the Holm-adjusted p-value is below ``1 - confidence``; otherwise the paragraph says
    "no reliable difference", why, and how many seeds would tell a difference of
    ``detectable`` with 80 % power.
    """
    row = dict(summary_row)
    agent, baseline = str(row["agent"]), str(row["baseline"])
    against = "the A/B test" if baseline == DEFAULT_BASELINE else f"'{baseline}'"
    where = " over all scenarios" if row["scenario"] == OVERALL else (
        f" in scenario '{row['scenario']}'")  # fmt: skip
    if agent == baseline:
        return f"{agent} is the baseline{where}; the other agents are compared with it."
    n = int(row["n_pairs"] or 0)
    if not n or not _finite(row["diff"]):
        return f"{agent} could not be compared with {against}{where}: no seed has runs of both."
    confidence = float(row["confidence"])  # type: ignore[arg-type]
    alpha, level = 1.0 - confidence, f"{100 * confidence:g} %"
    value, low, high, unit = _headline_difference(row)
    change = f"{_amount(abs(value), unit)} {'more' if value > 0 else 'less'}"
    if unit != "%":
        change += " profit"
    test = f"paired t-test over {_count(n, 'seed')}"
    if row["scenario"] == OVERALL:
        test += f", each averaged over {_count(row['n_scenarios'], 'scenario')}"
    context = _context_sentences(row, against, level, optimum)
    if n < 2:
        return " ".join([
            f"{agent} earned {change} than {against}{where} on the one seed both ran: one "
            "seed gives no interval and no test, so the data cannot tell whether it is better.",
            *context,
        ])  # fmt: skip
    p_value, p_holm = float(row["p_ttest"]), float(row["p_holm"])  # type: ignore[arg-type]
    k = int(row["n_compared"] or 0)  # type: ignore[arg-type]
    interval = f"{level} CI [{_amount(low, unit, signed=True)}, {_amount(high, unit, signed=True)}]"
    holm_text = f"; Holm-adjusted over {k} challengers {_p_text(p_holm, alpha)}" if k > 1 else ""
    if _finite(p_holm) and p_holm < alpha:
        return " ".join([
            f"{agent} earned {change} than {against}{where} ({interval}; {test}, "
            f"{_p_text(p_value, alpha)}{holm_text}).",
            *context,
        ])  # fmt: skip
    if p_value < alpha:
        # The interval is the one comparison's; only Holm's p allows for the others, so the
        # sentence says which of the two each number is.
        reason = (
            f"and taken alone its {interval} excludes zero ({test}, "
            f"{_p_text(p_value, alpha)}), but not once the {k} challengers compared are "
            f"allowed for (Holm-adjusted {_p_text(p_holm, alpha)})"
        )
    else:
        reason = f"but the {interval} includes zero ({test}, {_p_text(p_value, alpha)})"
    headline = (
        f"{agent} showed no reliable difference from {against}{where}: it earned {change} "
        f"on average, {reason}."
    )
    return " ".join([headline, *_power_sentences(row, n), *context])


def _headline_difference(row: Mapping[str, object]) -> tuple[float, float, float, str]:
    """(value, low, high, unit): the relative difference (%) where its interval is finite,
    else the absolute difference; both intervals invert the same paired t-test."""
    if all(_finite(row[c]) for c in ("diff_pct", "diff_pct_t_low", "diff_pct_t_high")):
        return (float(row["diff_pct"]), float(row["diff_pct_t_low"]),  # type: ignore[arg-type]
                float(row["diff_pct_t_high"]), "%")  # type: ignore[arg-type]  # fmt: skip
    return (float(row["diff"]), float(row["diff_t_low"]),  # type: ignore[arg-type]
            float(row["diff_t_high"]), "")  # type: ignore[arg-type]  # fmt: skip


def _power_sentences(row: Mapping[str, object], n: int) -> list[str]:
    """What the data cannot tell: seeds needed to detect ``detectable`` at 80 % power."""
    needed, share = row["seeds_needed"], float(row["detectable"])  # type: ignore[arg-type]
    if not _finite(needed):
        return []
    needed = int(needed)  # type: ignore[arg-type]
    size = f"{100 * share:g} %"
    spread = f"SD of the per-seed difference {float(row['sd_diff']):,.0f}"  # type: ignore[arg-type]
    if needed > n:
        return [
            f"Too few seeds to tell a difference of {size}: at the spread seen here ({spread}) "
            f"about {needed} seeds would detect one with {100 * PLANNED_POWER:g} % power; "
            f"this comparison had {n}."
        ]
    return [
        f"With {n} seeds a difference of {size} would have been detected with at least "
        f"{100 * PLANNED_POWER:g} % power ({spread}; about {needed} seeds suffice)."
    ]


def _context_sentences(
    row: Mapping[str, object], against: str, level: str, optimum: str
) -> list[str]:
    """Where the agent's mean stands between the baseline's and ``optimum`` (the oracle the
    runs were scored against, in words), and the share of seeds it won."""
    sentences = []
    if _finite(row["normalised"]):
        score = f"{float(row['normalised']):.2f}"  # type: ignore[arg-type]
        scale = f"On a scale from {against} (0) to {optimum} (1) its mean profit scored {score}"
        if _finite(row["normalised_low"]) and _finite(row["normalised_high"]):
            sentences.append(
                f"{scale} ({level} CI [{float(row['normalised_low']):.2f}, "  # type: ignore[arg-type]
                f"{float(row['normalised_high']):.2f}])."  # type: ignore[arg-type]
            )
        else:
            sentences.append(
                f"{scale}; with these seeds the scale's length (the optimum's margin over "
                f"{against}) is too uncertain for a finite interval."
            )
    if _finite(row["prob_improvement"]):
        share, n = float(row["prob_improvement"]), int(row["n_pairs"])  # type: ignore[arg-type]
        sentences.append(
            f"It earned more than {against} on {share * n:g} of {n} seeds with the same luck: "
            f"on a further seed it would with probability {share:.2f} ({level} CI "
            f"[{float(row['prob_improvement_low']):.2f}, "  # type: ignore[arg-type]
            f"{float(row['prob_improvement_high']):.2f}])."  # type: ignore[arg-type]
        )
    return sentences


def _amount(value: float, unit: str, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value:{sign}.1f} %" if unit == "%" else f"{value:{sign},.1f}"


def _count(number: object, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _p_text(p: float, alpha: float = 0.05) -> str:
    """``p = 0.031`` with enough digits that the text and ``p`` fall on the same side of
    ``alpha`` (0.0496 is never shown as 0.05)."""
    if not math.isfinite(p):
        return "no p-value"
    if p < 0.001 and alpha > 0.001:
        return "p < 0.001"
    for digits in range(2, 8):
        text = f"{p:.{digits}g}"
        if (float(text) < alpha) == (p < alpha):
            return f"p = {text}"
    return f"p = {p!r}"


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False

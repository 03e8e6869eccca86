r"""Bandit off-policy estimators: what would the target policy have earned on the logged contexts?

Notation. The log holds n rounds :math:`(x_i, a_i, r_i, \mu_i)` where
:math:`\mu_i = \mu(a_i \mid x_i)` is the logging policy's propensity; the target policy
gives :math:`\pi(a \mid x_i)` for every action. The importance weight of a round is
:math:`w_i = \pi(a_i \mid x_i) / \mu_i`; a reward model :math:`\hat q(x, a)` predicts the
reward of any action, and :math:`\hat V(x_i) = \sum_a \pi(a \mid x_i)\, \hat q(x_i, a)` is
its value of the target in context :math:`x_i`. Every estimator targets
:math:`V(\pi) = \mathbb{E}_x \sum_a \pi(a \mid x)\, \mathbb{E}[r \mid x, a]`.

Each estimator is a small frozen dataclass (after Open Bandit Pipeline's design, not its
code): a ``name``, its hyper-parameters, :meth:`~BanditEstimator.contributions` (the
per-round terms whose mean is the estimate) and :meth:`~BanditEstimator.statistic` (the
estimate as a function of sample means, which the bootstrap resamples).

Reward model. :math:`\hat q` is cross-fitted: rows are split into K folds at random and
each fold's predictions come from a model trained on the other K - 1 folds, so that no
row's own reward leaks into the model that corrects it (Chernozhukov et al. 2018). The
model is any scikit-learn regressor on the features ``[context, one-hot(action)]``;
the default is a :class:`~sklearn.ensemble.HistGradientBoostingRegressor`. A training
fold whose rewards are nearly constant (fewer than :data:`MIN_SIGNAL_SHARE` of its rows
differ from the most common reward: all zeros, or a click rate under 1 %) is predicted
by its mean instead, and every prediction is clipped to the training fold's reward
range, so that sparse rewards neither crash the fit nor blow up the estimate.

Confidence intervals. A percentile bootstrap over rounds (Efron & Tibshirani 1993, ch. 13),
written out rather than :func:`scipy.stats.bootstrap`: scipy's default BCa interval
needs a jackknife, n fits of the statistic (10^10 operations at n = 10^5), and its
percentile method resamples one statistic at a time. Here each resample is a vector of
counts, and the sample means of every estimator's terms come out of one matrix product
(:func:`bootstrap_means`); self-normalised estimators are resampled as ratios, not with
their normaliser held fixed. In :func:`summarise` the reward model and any selected
hyper-parameter are fitted once and held fixed across resamples, so its interval
reflects sampling noise given the model, not the model's own uncertainty.
:func:`evaluate` therefore gives the estimators that read the model the interval of the
*refit* bootstrap
(:mod:`experiments.ope.refit`), which fits the model again in every resample. Estimates
made with the same seed on the same log share their resamples, so the difference
between two targets has a paired interval (:func:`paired_difference`).

References
----------
Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and
structural parameters. *The Econometrics Journal* 21(1).
Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from experiments.ope.diagnostics import OverlapDiagnostics, overlap_diagnostics
from experiments.ope.logs import LoggedDecisions, check_target_probabilities
from sim.logs.errors import InputError

#: Default confidence level of the intervals.
CONFIDENCE = 0.95
#: Default number of bootstrap resamples.
N_BOOTSTRAP = 200
#: Default number of cross-fitting folds for the reward model.
N_FOLDS = 5
#: A training fold in which fewer rows than this share differ from the most common
#: reward is predicted by its mean (see the module docstring).
MIN_SIGNAL_SHARE = 0.01
#: Names of the built-in reward models for :func:`make_reward_model`.
REWARD_MODELS: tuple[str, ...] = ("hgb", "ridge", "linear")
#: Interval methods (:attr:`Estimate.interval`): the percentile interval of the
#: replicates, and value +/- t(B - 1) x the standard deviation of refit replicates.
PERCENTILE, REFIT_T = "percentile bootstrap", "refit bootstrap, t"
#: Counts held in memory at once by the bootstrap (resamples x rows).
_BOOTSTRAP_BLOCK = 4_000_000

Details = Mapping[str, float | str]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Estimate:
    """An off-policy estimate of a target policy's value with its bootstrap interval.

    Attributes
    ----------
    estimator : str
        Name of the estimator (``"dr"``, ``"switch-dr"``, ...).
    value : float
        Estimated value: mean reward per round (bandit) or discounted return per
        episode (sequential), in the reward's units. NaN when undefined (a
        self-normalised estimate with every weight 0).
    ci_low, ci_high : float
        Percentile bootstrap interval at level ``confidence`` (NaN without resamples).
    std_error : float
        Standard deviation of the bootstrap replicates.
    n : int
        Rounds (bandit) or episodes (sequential) the estimate rests on.
    n_bootstrap, confidence, seed
        How the interval was made.
    details : mapping
        Hyper-parameters, including any chosen by data-driven selection.
    diagnostics : OverlapDiagnostics or None
        Overlap between target and logging policy (``diagnostics.warning`` says when
        it is poor).
    replicates : ndarray, shape (n_bootstrap,)
        The bootstrap replicates, for paired comparisons; not part of :meth:`as_dict`.
    interval : str
        How the interval was made: :data:`PERCENTILE` (the model held fixed, or no
        model) or :data:`REFIT_T` (the reward model refitted in every resample,
        :mod:`experiments.ope.refit`).
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n: int
    n_bootstrap: int
    confidence: float
    seed: int
    details: Details = field(default_factory=dict)
    diagnostics: OverlapDiagnostics | None = None
    replicates: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    interval: str = PERCENTILE

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        result = {
            key: clean(getattr(self, key))
            for key in (
                "estimator",
                "value",
                "ci_low",
                "ci_high",
                "std_error",
                "n",
                "n_bootstrap",
                "confidence",
                "seed",
                "interval",
            )
        }
        result["details"] = {key: clean(value) for key, value in self.details.items()}
        result["diagnostics"] = (
            {key: clean(value) for key, value in self.diagnostics.as_dict().items()}
            if self.diagnostics is not None
            else None
        )
        return result


def _mean_of_first(means: np.ndarray) -> np.ndarray:
    return means[..., 0]


def _ratio_of_first_two(means: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return means[..., 0] / means[..., 1]


@dataclass(frozen=True, eq=False)
class Statistic:
    """An estimate written as a smooth function of the sample means of k per-unit terms.

    ``value = combine(terms.mean(axis=1))``. The bootstrap resamples units (rounds or
    episodes), recomputes the k means and applies ``combine`` to each resample, so
    ratios and sums of ratios are resampled as what they are.

    Attributes
    ----------
    terms : ndarray, shape (k, n)
        Per-unit terms.
    combine : callable
        Maps means of shape (..., k) to values of shape (...).
    details : mapping
        Hyper-parameters to report with the estimate.
    """

    terms: np.ndarray
    combine: Callable[[np.ndarray], np.ndarray] = _mean_of_first
    details: Details = field(default_factory=dict)

    @classmethod
    def mean_of(cls, contributions: np.ndarray, details: Details | None = None) -> Statistic:
        """The plain mean of per-unit contributions."""
        return cls(np.asarray(contributions, dtype=float)[None, :], _mean_of_first, details or {})

    @classmethod
    def ratio(
        cls, numerator: np.ndarray, denominator: np.ndarray, details: Details | None = None
    ) -> Statistic:
        """``mean(numerator) / mean(denominator)`` (NaN when the denominator's mean is 0)."""
        return cls(np.vstack([numerator, denominator]), _ratio_of_first_two, details or {})

    @property
    def value(self) -> float:
        return float(self.combine(self.terms.mean(axis=1)))


def resample_counts(n: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of resamples of n units, each a (block, n) array of how often each unit is drawn.

    Each resample draws n unit indices with replacement from
    ``numpy.random.default_rng(seed)``; the same seed and n give the same resamples, so
    the fixed-model bootstrap (:func:`bootstrap_means`) and the refit bootstrap
    (:mod:`experiments.ope.refit`) of one log and seed draw the same units.
    """
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK // max(n, 1))
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (draws + (np.arange(size) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=size * n).reshape(size, n)


def bootstrap_means(terms: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """Means of each row of ``terms`` (k, n) over ``n_bootstrap`` resamples of its columns.

    Resamples from :func:`resample_counts`. Vectorised: a block of resamples is a
    (block, n) matrix of counts, and all k means of the block are one matrix product.
    Returns (n_bootstrap, k).
    """
    terms = np.atleast_2d(np.asarray(terms, dtype=float))
    n = terms.shape[1]
    means = np.empty((n_bootstrap, terms.shape[0]))
    start = 0
    for counts in resample_counts(n, n_bootstrap, seed):
        means[start : start + counts.shape[0]] = counts @ terms.T / n
        start += counts.shape[0]
    return means


def summarise(
    statistics: Sequence[tuple[str, Statistic]],
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    diagnostics: OverlapDiagnostics | None = None,
) -> list[Estimate]:
    """One :class:`Estimate` per named statistic, all bootstrapped on the same resamples.

    The terms of every statistic are stacked and resampled together (:func:`bootstrap_means`),
    so the cost is one pass over the data per block of resamples whatever the number of
    estimators. The interval is the percentile interval of the replicates, ignoring
    resamples where a statistic is undefined (a ratio with a zero denominator).
    """
    check_bootstrap(n_bootstrap, confidence)
    if not statistics:
        return []
    sizes = [statistic.terms.shape[0] for _, statistic in statistics]
    n = statistics[0][1].terms.shape[1]
    stacked = np.vstack([statistic.terms for _, statistic in statistics])
    means = bootstrap_means(stacked, n_bootstrap, seed)
    bounds = np.cumsum([0, *sizes])
    estimates = []
    for (name, statistic), start, stop in zip(statistics, bounds[:-1], bounds[1:], strict=True):
        replicates = np.asarray(statistic.combine(means[:, start:stop]), dtype=float)
        low, high, spread = _interval(replicates, confidence)
        estimates.append(
            Estimate(
                estimator=name,
                value=statistic.value,
                ci_low=low,
                ci_high=high,
                std_error=spread,
                n=n,
                n_bootstrap=n_bootstrap,
                confidence=confidence,
                seed=seed,
                details=dict(statistic.details),
                diagnostics=diagnostics,
                replicates=replicates,
            )
        )
    return estimates


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Percentile interval and standard deviation of the finite replicates (NaN if none)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    spread = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return float(low), float(high), spread


def check_bootstrap(n_bootstrap: int, confidence: float) -> None:
    """Raise :class:`InputError` unless ``n_bootstrap >= 0`` and ``0 < confidence < 1``."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer):
        raise InputError(f"n_bootstrap must be a whole number, got {n_bootstrap!r}")
    if n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be >= 0 (0 skips the interval), got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence!r}")


def paired_difference(candidate: Estimate, incumbent: Estimate) -> Estimate:
    """``candidate - incumbent`` with a paired bootstrap interval.

    Both estimates must come from the same log, seed and number of resamples (so that
    replicate b of each was computed on the same resample). A rollout gate recommends
    the candidate when ``ci_low > 0``.
    """
    for attribute in ("n", "n_bootstrap", "seed", "confidence"):
        mine, theirs = getattr(candidate, attribute), getattr(incumbent, attribute)
        if mine != theirs:
            raise InputError(
                f"cannot pair {candidate.estimator} with {incumbent.estimator}: {attribute} "
                f"differs ({mine} vs {theirs}); estimate both on the same log with the same "
                "seed and resamples"
            )
    if candidate.interval != incumbent.interval:
        raise InputError(
            f"cannot pair {candidate.estimator} with {incumbent.estimator}: one interval is a "
            f"{candidate.interval}, the other a {incumbent.interval}"
        )
    replicates = candidate.replicates - incumbent.replicates
    value = candidate.value - incumbent.value
    if candidate.interval == REFIT_T:
        low, high, spread = t_interval(value, replicates, candidate.confidence)
    else:
        low, high, spread = _interval(replicates, candidate.confidence)
    return Estimate(
        estimator=f"{candidate.estimator} - {incumbent.estimator}",
        value=value,
        ci_low=low,
        ci_high=high,
        std_error=spread,
        n=candidate.n,
        n_bootstrap=candidate.n_bootstrap,
        confidence=candidate.confidence,
        seed=candidate.seed,
        details={},
        diagnostics=candidate.diagnostics,
        replicates=replicates,
        interval=candidate.interval,
    )


def t_interval(
    value: float, replicates: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    r"""``value`` :math:`\pm t_{B-1}\, s` with s the standard deviation of the B finite
    replicates, and s itself (NaN when fewer than 2 replicates are finite).

    With few resamples the bootstrap's standard deviation is itself uncertain: if the
    replicates are roughly normal, :math:`s^2 (B - 1) / \sigma^2 \sim \chi^2_{B-1}`, and
    the quantile of Student's t with B - 1 degrees of freedom makes the interval cover
    at its level for any B (:mod:`experiments.ope.refit`).
    """
    from scipy.stats import t as student

    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2 or not math.isfinite(value):
        return math.nan, math.nan, math.nan
    spread = float(finite.std(ddof=1))
    half = float(student.ppf(0.5 + confidence / 2.0, finite.size - 1)) * spread
    return value - half, value + half, spread


# --------------------------------------------------------------------------- reward model


def make_reward_model(kind: str = "hgb", seed: int = 0) -> RegressorMixin:
    """A fresh built-in reward model: ``"hgb"`` (gradient-boosted trees), ``"ridge"`` or
    ``"linear"`` (:class:`PerActionRidge`).

    Ridge on ``[context, one-hot(action)]`` is additive in context and action, so it
    cannot learn that actions suit different contexts; the doubly robust estimators
    stay unbiased with it, but the direct method may not. ``"linear"`` fits one linear
    model per action, so it can, and costs a few small linear solves.
    """
    if kind == "hgb":
        return HistGradientBoostingRegressor(random_state=seed)
    if kind == "ridge":
        return Ridge(alpha=1.0)
    if kind == "linear":
        return PerActionRidge()
    raise InputError(f"unknown reward model {kind!r} (expected one of: {', '.join(REWARD_MODELS)})")


class PerActionRidge(RegressorMixin, BaseEstimator):
    r"""One ridge regression per action on the standardised context, solved in closed form.

    Reads the features ``[context, one-hot(action)]`` of :func:`action_features` (the
    last ``n_actions`` columns are the one-hot action) and fits, for each action a,
    :math:`\hat q(x, a) = \beta_{a0} + \tilde x^\top \beta_a`, with :math:`\tilde x` the
    context standardised on the training rows and the penalty :math:`\alpha \lVert
    \beta_a \rVert^2` (intercept not penalised). An action without training rows is
    predicted by the mean reward. With no context it is the mean reward per action.

    Parameters
    ----------
    n_actions : int
        Number of actions A (set by :func:`fit_predict`).
    alpha : float
        Ridge penalty on the standardised slopes.
    """

    def __init__(self, n_actions: int = 1, alpha: float = 1.0) -> None:
        self.n_actions = n_actions
        self.alpha = alpha

    def _split(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = np.asarray(features, dtype=float)
        context = features[:, : features.shape[1] - self.n_actions]
        action = np.argmax(features[:, features.shape[1] - self.n_actions :], axis=1)
        return context, action

    def _design(self, context: np.ndarray) -> np.ndarray:
        return np.hstack([np.ones((context.shape[0], 1)), (context - self.mean_) / self.scale_])

    def fit(self, features: np.ndarray, target: np.ndarray) -> PerActionRidge:
        context, action = self._split(features)
        target = np.asarray(target, dtype=float)
        self.mean_ = context.mean(axis=0)
        scale = context.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        design = self._design(context)
        width = design.shape[1]
        penalty = self.alpha * np.diag(np.r_[0.0, np.ones(width - 1)])
        self.coef_ = np.zeros((self.n_actions, width))
        self.coef_[:, 0] = target.mean()
        for arm in range(self.n_actions):
            rows = action == arm
            if not rows.any():
                continue
            block = design[rows]
            gram = block.T @ block + penalty
            self.coef_[arm] = np.linalg.lstsq(gram, block.T @ target[rows], rcond=None)[0]
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        context, action = self._split(features)
        return np.einsum("ij,ij->i", self._design(context), self.coef_[action])


def action_features(context: np.ndarray, action: np.ndarray, n_actions: int) -> np.ndarray:
    """Regression features ``[context, one-hot(action)]``, shape (n, d + A)."""
    one_hot = np.zeros((action.size, n_actions))
    one_hot[np.arange(action.size), action] = 1.0
    return np.hstack([context, one_hot])


def fold_ids(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold in ``[0, K)`` per row, whole groups at a time (rows are groups of one for
    bandits, episodes for sequences), K = min(n_folds, number of groups), at random."""
    codes, inverse = np.unique(groups, return_inverse=True)
    folds = min(n_folds, codes.size)
    order = np.random.default_rng(seed).permutation(codes.size)
    fold_of_group = np.empty(codes.size, dtype=np.int64)
    fold_of_group[order] = np.arange(codes.size) % folds
    return fold_of_group[inverse.ravel()]


def check_folds(n_folds: int, n_groups: int, unit: str = "rows") -> None:
    """Raise :class:`InputError` unless cross-fitting over ``n_folds`` folds is possible.

    ``n_folds = 1`` fits and predicts on the same data (no cross-fitting).
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 1:
        raise InputError(f"n_folds must be a whole number >= 1, got {n_folds!r}")
    if n_folds > 1 and n_groups < 2:
        raise InputError(
            f"cross-fitting over {n_folds} folds needs at least 2 {unit}, got {n_groups} "
            "(use n_folds=1 to fit and predict on the same data)"
        )


def _nearly_constant(values: np.ndarray) -> bool:
    """Whether fewer than MIN_SIGNAL_SHARE of ``values`` differ from the most common one."""
    _, counts = np.unique(values, return_counts=True)
    return 1.0 - counts.max() / values.size < MIN_SIGNAL_SHARE


def fit_predict(
    model: RegressorMixin,
    context: np.ndarray,
    action: np.ndarray,
    target: np.ndarray,
    predict_context: np.ndarray,
    n_actions: int,
) -> np.ndarray:
    """Fit a clone of ``model`` to ``target`` on ``[context, one-hot(action)]`` and predict
    every action for each row of ``predict_context``: shape (m, A).

    A nearly constant target (see :data:`MIN_SIGNAL_SHARE`) is predicted by its mean;
    predictions are clipped to the target's observed range.
    """
    m = predict_context.shape[0]
    if _nearly_constant(target):
        return np.full((m, n_actions), float(target.mean()))
    if isinstance(model, PerActionRidge):  # sklearn's clone costs more than this fit
        fresh: RegressorMixin = PerActionRidge(n_actions, model.alpha)
    else:
        fresh = clone(model)
    fitted = fresh.fit(action_features(context, action, n_actions), target)
    every_action = np.repeat(np.arange(n_actions), m)
    features = action_features(np.tile(predict_context, (n_actions, 1)), every_action, n_actions)
    predictions = np.asarray(fitted.predict(features), dtype=float).reshape(n_actions, m).T
    return np.clip(predictions, target.min(), target.max())


def resolve_model(model: RegressorMixin | str, seed: int) -> RegressorMixin:
    """A built-in model by name (see :func:`make_reward_model`) or the estimator given."""
    return make_reward_model(model, seed) if isinstance(model, str) else model


def cross_fit_reward_model(
    logs: LoggedDecisions,
    *,
    model: RegressorMixin | str = "hgb",
    n_folds: int = N_FOLDS,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    r"""Cross-fitted reward predictions :math:`\hat q(x_i, a)` for every row and action, (n, A).

    Row i's predictions come from a model trained on the folds not containing i (see the
    module docstring); ``n_folds = 1`` trains and predicts on all rows. ``groups`` keeps
    rows with the same label in one fold (a bootstrap resample's copies of one row or
    episode, :mod:`experiments.ope.refit`); default: every row its own group.
    """
    groups = np.arange(logs.n_rows) if groups is None else np.asarray(groups)
    check_folds(n_folds, np.unique(groups).size)
    model = resolve_model(model, seed)
    q_hat = np.empty((logs.n_rows, logs.n_actions))
    folds = fold_ids(groups, n_folds, seed)
    for fold in range(int(folds.max()) + 1):
        held_out = folds == fold
        train = ~held_out if n_folds > 1 else held_out
        q_hat[held_out] = fit_predict(
            model,
            logs.context[train],
            logs.action[train],
            logs.reward[train],
            logs.context[held_out],
            logs.n_actions,
        )
    return q_hat


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class BanditInputs:
    r"""What the bandit estimators read, validated and computed once.

    Attributes
    ----------
    logs : LoggedDecisions
    target : ndarray, shape (n, A)
        Target probabilities :math:`\pi(a \mid x_i)`, rows summing to 1.
    q_hat : ndarray, shape (n, A), or None
        Reward predictions :math:`\hat q(x_i, a)`, cross-fitted (see :meth:`fit`); None
        when only model-free estimators are used.
    """

    logs: LoggedDecisions
    target: np.ndarray
    q_hat: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, actions = self.logs.n_rows, self.logs.n_actions
        object.__setattr__(self, "target", check_target_probabilities(self.target, n, actions))
        if self.q_hat is not None:
            q_hat = np.array(self.q_hat, dtype=float)
            if q_hat.shape != (n, actions):
                raise InputError(f"q_hat has shape {q_hat.shape}, expected {(n, actions)}")
            if not np.all(np.isfinite(q_hat)):
                raise InputError("q_hat: reward predictions must be finite numbers")
            object.__setattr__(self, "q_hat", q_hat)

    @classmethod
    def fit(
        cls,
        logs: LoggedDecisions,
        target: np.ndarray,
        *,
        reward_model: RegressorMixin | str = "hgb",
        n_folds: int = N_FOLDS,
        seed: int = 0,
    ) -> BanditInputs:
        """Inputs with a reward model cross-fitted on ``logs`` (:func:`cross_fit_reward_model`)."""
        q_hat = cross_fit_reward_model(logs, model=reward_model, n_folds=n_folds, seed=seed)
        return cls(logs, target, q_hat)

    @classmethod
    def for_estimators(
        cls,
        logs: LoggedDecisions,
        target: np.ndarray,
        estimators: Sequence[BanditEstimator],
        q_hat: np.ndarray | None = None,
        *,
        reward_model: RegressorMixin | str = "hgb",
        n_folds: int = N_FOLDS,
        seed: int = 0,
    ) -> BanditInputs:
        """Inputs for ``estimators``: the reward model is cross-fitted (:meth:`fit`) only
        when one of them needs it and ``q_hat`` is not given."""
        if q_hat is None and any(estimator.needs_reward_model for estimator in estimators):
            return cls.fit(logs, target, reward_model=reward_model, n_folds=n_folds, seed=seed)
        return cls(logs, target, q_hat)

    @property
    def n(self) -> int:
        return self.logs.n_rows

    @property
    def reward(self) -> np.ndarray:
        return self.logs.reward

    @cached_property
    def target_logged(self) -> np.ndarray:
        r""":math:`\pi(a_i \mid x_i)`, the target's probability of each logged action."""
        return self.target[np.arange(self.n), self.logs.action]

    @cached_property
    def weight(self) -> np.ndarray:
        r"""Importance weights :math:`w_i = \pi(a_i \mid x_i) / \mu(a_i \mid x_i)`."""
        return self.target_logged / self.logs.propensity

    def reward_model(self, estimator: str) -> tuple[np.ndarray, np.ndarray]:
        r"""Model terms (:math:`\hat q(x_i, a_i)`, :math:`\hat V(x_i)`), each shape (n,).

        :math:`\hat V(x_i) = \sum_a \pi(a \mid x_i)\, \hat q(x_i, a)`.
        """
        if self.q_hat is None:
            raise InputError(
                f"{estimator} needs a reward model: build the inputs with BanditInputs.fit or "
                "pass q_hat"
            )
        return self._q_logged, self._q_target

    @cached_property
    def _q_logged(self) -> np.ndarray:
        assert self.q_hat is not None
        return self.q_hat[np.arange(self.n), self.logs.action]

    @cached_property
    def _q_target(self) -> np.ndarray:
        assert self.q_hat is not None
        return np.sum(self.target * self.q_hat, axis=1)

    @cached_property
    def diagnostics(self) -> OverlapDiagnostics:
        return overlap_diagnostics(
            self.target, self.logs.action, self.logs.propensity, weight=self.weight
        )


# --------------------------------------------------------------------------- estimators


class BanditEstimator(ABC):
    """An off-policy estimator for contextual bandits.

    Subclasses are frozen dataclasses with a ``name`` field and their hyper-parameters.
    """

    name: str
    #: Whether the estimator reads the reward model ``q_hat``.
    needs_reward_model: ClassVar[bool] = False

    @abstractmethod
    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        """Per-round terms, shape (n,), whose mean is the estimate."""

    def hyperparameters(self) -> dict[str, float | str]:
        return {}

    def statistic(self, inputs: BanditInputs) -> Statistic:
        """The estimate as a function of means, for the bootstrap (default: the mean of
        :meth:`contributions`)."""
        return Statistic.mean_of(self.contributions(inputs), self.hyperparameters())

    def estimate(
        self,
        inputs: BanditInputs,
        *,
        n_bootstrap: int = N_BOOTSTRAP,
        confidence: float = CONFIDENCE,
        seed: int = 0,
    ) -> Estimate:
        """The estimate with its percentile bootstrap interval and overlap diagnostics."""
        return estimate_all(
            [self], inputs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
        )[0]


def _check_nonnegative(name: str, value: float) -> None:
    if not isinstance(value, int | float | np.floating | np.integer) or not value >= 0:
        raise InputError(f"{name} must be a number >= 0 (inf allowed), got {value!r}")


@dataclass(frozen=True)
class DirectMethod(BanditEstimator):
    r"""Direct method: the reward model's value of the target.

    .. math:: \hat V_{\mathrm{DM}} = \frac{1}{n} \sum_{i=1}^n \sum_a \pi(a \mid x_i)\,
              \hat q(x_i, a)

    Low variance, but biased wherever :math:`\hat q` is wrong, and it extrapolates to
    actions the logger never took.

    References: Beygelzimer, A. & Langford, J. (2009). The offset tree for learning with
    partial labels. *KDD*. Dudík, M., Langford, J. & Li, L. (2011). Doubly robust policy
    evaluation and learning. *ICML*.
    """

    name: str = "dm"
    needs_reward_model: ClassVar[bool] = True

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        return inputs.reward_model(self.name)[1]


@dataclass(frozen=True)
class InverseProbabilityWeighting(BanditEstimator):
    r"""Inverse probability weighting (importance sampling).

    .. math:: \hat V_{\mathrm{IPS}} = \frac{1}{n} \sum_{i=1}^n w_i\, r_i,
              \qquad w_i = \frac{\pi(a_i \mid x_i)}{\mu(a_i \mid x_i)}

    Unbiased when the logger gives every action the target takes a positive
    probability; its variance grows with the weights.

    References: Horvitz, D. G. & Thompson, D. J. (1952). A generalization of sampling
    without replacement from a finite universe. *JASA* 47(260). Precup, D., Sutton, R. S.
    & Singh, S. (2000). Eligibility traces for off-policy policy evaluation. *ICML*.
    """

    name: str = "ips"

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        return inputs.weight * inputs.reward


@dataclass(frozen=True)
class SelfNormalizedIPW(BanditEstimator):
    r"""Self-normalised inverse probability weighting.

    .. math:: \hat V_{\mathrm{SNIPS}} = \frac{\sum_{i=1}^n w_i\, r_i}{\sum_{i=1}^n w_i}

    Biased for finite n but consistent, bounded by the observed rewards, and usually
    of much lower variance than IPS. Undefined (NaN) when every weight is 0.
    Contributions are :math:`w_i r_i / \bar w`; the bootstrap resamples the ratio.

    Reference: Swaminathan, A. & Joachims, T. (2015). The self-normalized estimator for
    counterfactual learning. *NeurIPS*.
    """

    name: str = "snips"

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return inputs.weight * inputs.reward / inputs.weight.mean()

    def statistic(self, inputs: BanditInputs) -> Statistic:
        return Statistic.ratio(inputs.weight * inputs.reward, inputs.weight)


@dataclass(frozen=True)
class DoublyRobust(BanditEstimator):
    r"""Doubly robust: the direct method plus an importance-weighted correction of its error.

    .. math:: \hat V_{\mathrm{DR}} = \frac{1}{n} \sum_{i=1}^n \Big[ \hat V(x_i)
              + w_i \big(r_i - \hat q(x_i, a_i)\big) \Big]

    Unbiased when the propensities are right (whatever :math:`\hat q`), and of low
    variance when :math:`\hat q` is good. With all weights 0 it is the direct method;
    with :math:`\hat q = 0` it is IPS.

    Reference: Dudík, M., Langford, J. & Li, L. (2011). Doubly robust policy evaluation and
    learning. *ICML*; Dudík, M. et al. (2014). *Statistical Science* 29(4).
    """

    name: str = "dr"
    needs_reward_model: ClassVar[bool] = True

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        q_logged, q_target = inputs.reward_model(self.name)
        return q_target + inputs.weight * (inputs.reward - q_logged)


@dataclass(frozen=True)
class SelfNormalizedDR(BanditEstimator):
    r"""Self-normalised doubly robust: the DR correction divided by the mean weight.

    .. math:: \hat V_{\mathrm{SNDR}} = \frac{1}{n} \sum_{i=1}^n \hat V(x_i)
              + \frac{\sum_i w_i \big(r_i - \hat q(x_i, a_i)\big)}{\sum_i w_i}

    References: Thomas, P. & Brunskill, E. (2016). Data-efficient off-policy policy
    evaluation for reinforcement learning. *ICML* (weighted doubly robust);
    Swaminathan & Joachims (2015) for self-normalisation.
    """

    name: str = "sndr"
    needs_reward_model: ClassVar[bool] = True

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        q_logged, q_target = inputs.reward_model(self.name)
        with np.errstate(divide="ignore", invalid="ignore"):
            return q_target + inputs.weight * (inputs.reward - q_logged) / inputs.weight.mean()

    def statistic(self, inputs: BanditInputs) -> Statistic:
        q_logged, q_target = inputs.reward_model(self.name)
        terms = np.vstack([q_target, inputs.weight * (inputs.reward - q_logged), inputs.weight])
        return Statistic(terms, _model_plus_ratio)


def _model_plus_ratio(means: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return means[..., 0] + means[..., 1] / means[..., 2]


@dataclass(frozen=True)
class SwitchDR(BanditEstimator):
    r"""Switch doubly robust: the DR correction only where the weight is at most ``tau``.

    .. math:: \hat V_{\mathrm{Switch}} = \frac{1}{n} \sum_{i=1}^n \Big[ \hat V(x_i)
              + w_i \big(r_i - \hat q(x_i, a_i)\big)\, \mathbb{1}\{w_i \le \tau\} \Big]

    In expectation this is Wang et al.'s estimator, DR on the actions whose ratio
    :math:`\pi(a \mid x) / \mu(a \mid x)` is at most :math:`\tau` and the direct method on
    the others; written this way it needs only the logged action's propensity.
    :math:`\tau = \infty` gives DR, :math:`\tau = 0` the direct method. Choose
    :math:`\tau` from the data with :mod:`experiments.ope.selection`.

    Reference: Wang, Y.-X., Agarwal, A. & Dudík, M. (2017). Optimal and adaptive off-policy
    evaluation in contextual bandits. *ICML*.
    """

    tau: float = math.inf
    name: str = "switch-dr"
    needs_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_nonnegative("tau", self.tau)

    def hyperparameters(self) -> dict[str, float | str]:
        return {"tau": float(self.tau)}

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        q_logged, q_target = inputs.reward_model(self.name)
        kept = inputs.weight <= self.tau
        return q_target + np.where(kept, inputs.weight * (inputs.reward - q_logged), 0.0)


@dataclass(frozen=True)
class DoublyRobustWithShrinkage(BanditEstimator):
    r"""Doubly robust with optimistic shrinkage of the weights.

    .. math:: \hat V_{\mathrm{DRos}} = \frac{1}{n} \sum_{i=1}^n \Big[ \hat V(x_i)
              + \hat w_i \big(r_i - \hat q(x_i, a_i)\big) \Big],
              \qquad \hat w_i = \frac{\lambda\, w_i}{w_i^2 + \lambda}

    The shrunk weight minimises a bound on the mean squared error; large weights shrink
    most. :math:`\lambda = \infty` gives DR, :math:`\lambda = 0` the direct method.
    Choose :math:`\lambda` from the data with :mod:`experiments.ope.selection`.

    Reference: Su, Y., Dimakopoulou, M., Krishnamurthy, A. & Dudík, M. (2020). Doubly robust
    off-policy evaluation with shrinkage. *ICML*.
    """

    shrinkage: float = math.inf
    name: str = "dr-os"
    needs_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_nonnegative("shrinkage (lambda)", self.shrinkage)

    def hyperparameters(self) -> dict[str, float | str]:
        return {"lambda": float(self.shrinkage)}

    def shrunk_weight(self, weight: np.ndarray) -> np.ndarray:
        if math.isinf(self.shrinkage):
            return weight
        if self.shrinkage == 0:
            return np.zeros_like(weight)
        return self.shrinkage * weight / (weight**2 + self.shrinkage)

    def contributions(self, inputs: BanditInputs) -> np.ndarray:
        q_logged, q_target = inputs.reward_model(self.name)
        return q_target + self.shrunk_weight(inputs.weight) * (inputs.reward - q_logged)


# --------------------------------------------------------------------------- running them


def estimate_all(
    estimators: Sequence[BanditEstimator],
    inputs: BanditInputs,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> list[Estimate]:
    """Every estimator on the same inputs and the same bootstrap resamples."""
    statistics = [(estimator.name, estimator.statistic(inputs)) for estimator in estimators]
    return summarise(
        statistics,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        diagnostics=inputs.diagnostics,
    )


def evaluate(
    logs: LoggedDecisions,
    target: np.ndarray,
    estimators: Sequence[BanditEstimator],
    *,
    q_hat: np.ndarray | None = None,
    reward_model: RegressorMixin | str = "hgb",
    n_folds: int = N_FOLDS,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> list[Estimate]:
    """Estimate the target policy's value on ``logs`` with each estimator.

    The reward model is cross-fitted once (only if an estimator needs it and ``q_hat``
    is not given), then every estimator is bootstrapped on the same resamples. The
    estimators that read the model then get the refit bootstrap's interval, the model
    fitted again in every resample (:mod:`experiments.ope.refit`); with ``q_hat`` given
    the model is held fixed and the interval says so (``interval`` is
    :data:`PERCENTILE`).
    """
    from experiments.ope.refit import refit_bandit

    check_bootstrap(n_bootstrap, confidence)
    inputs = BanditInputs.for_estimators(
        logs, target, estimators, q_hat, reward_model=reward_model, n_folds=n_folds, seed=seed
    )
    estimates = estimate_all(
        estimators, inputs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    if q_hat is not None:
        return estimates
    return refit_bandit(
        logs,
        [inputs.target],
        estimators,
        [estimates],
        reward_model=reward_model,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )[0]

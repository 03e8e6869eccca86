r"""Sequential off-policy estimators for episodic logs: the target's discounted return.

An episodic log has an ``episode`` and a ``step`` per row; within an episode, rows are
ordered by step and :math:`t = 0, 1, \dots` is a row's rank (a gap in step numbers is not
a missing step). Episodes may differ in length; the horizon H is the longest. With
per-step ratios :math:`\rho_t = \pi(a_t \mid x_t) / \mu(a_t \mid x_t)`, the cumulative
weight is :math:`W_t = \prod_{s \le t} \rho_s` (and :math:`W_{-1} = 1`). An episode that
ends before H is padded with reward 0 and ratio 1, so its weight carries on unchanged
(the absorbing-state convention). Every estimator targets

.. math:: V(\pi) = \mathbb{E}_\pi\Big[\sum_{t=0}^{H-1} \gamma^t r_t\Big].

The model-based ones read :math:`\hat Q_t(x, a)`, the target's action value at step t,
from fitted Q evaluation (:func:`fitted_q_evaluation`), cross-fitted over episodes: an
episode's Q values come from models trained on the other folds' episodes; and
:math:`\hat V_t(x) = \sum_a \pi(a \mid x)\, \hat Q_t(x, a)`.

Intervals: the percentile bootstrap of :mod:`experiments.ope.estimators`, resampling
whole episodes; for the estimators that read the Q model (DR, WDR, FQE) the refit
bootstrap of :mod:`experiments.ope.refit`, which fits the Q model again in every
resample of episodes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
from sklearn.base import RegressorMixin

from experiments.ope.diagnostics import OverlapDiagnostics, overlap_diagnostics
from experiments.ope.estimators import (
    CONFIDENCE,
    N_BOOTSTRAP,
    N_FOLDS,
    Estimate,
    Statistic,
    check_bootstrap,
    check_folds,
    estimate_all,
    fit_predict,
    fold_ids,
    resolve_model,
)
from experiments.ope.logs import LoggedDecisions, check_target_probabilities
from sim.logs.errors import InputError

# --------------------------------------------------------------------------- episode layout


@dataclass(frozen=True, eq=False)
class EpisodeLayout:
    """Where each logged row sits in its episode.

    Attributes
    ----------
    episode : ndarray of int, shape (n,)
        Episode index in ``[0, E)``.
    time : ndarray of int, shape (n,)
        Rank of the row's step within its episode, ``t`` in ``[0, H)``.
    next_row : ndarray of int, shape (n,)
        Row of the episode's next step, -1 at the episode's end.
    n_episodes, horizon : int
        E and H (the longest episode).
    """

    episode: np.ndarray
    time: np.ndarray
    next_row: np.ndarray
    n_episodes: int
    horizon: int

    @classmethod
    def of(cls, logs: LoggedDecisions) -> EpisodeLayout:
        if logs.episode is None or logs.step is None:
            raise InputError(
                "sequential estimators need an episodic log: columns 'episode' and 'step'"
            )
        order = np.lexsort((logs.step, logs.episode))
        episodes = logs.episode[order]
        starts = np.r_[True, episodes[1:] != episodes[:-1]]
        start_of_group = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
        time = np.empty(order.size, dtype=np.int64)
        time[order] = np.arange(order.size) - start_of_group
        next_row = np.full(order.size, -1, dtype=np.int64)
        continues = ~starts[1:]
        next_row[order[:-1][continues]] = order[1:][continues]
        return cls(
            episode=logs.episode,
            time=time,
            next_row=next_row,
            n_episodes=int(logs.episode.max()) + 1,
            horizon=int(time.max()) + 1,
        )

    def padded(self, values: np.ndarray, fill: float) -> np.ndarray:
        """Per-row ``values`` as an (E, H) array, ``fill`` after each episode's end."""
        grid = np.full((self.n_episodes, self.horizon), fill, dtype=float)
        grid[self.episode, self.time] = values
        return grid


# --------------------------------------------------------------------------- fitted Q evaluation


def _check_discount(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise InputError(f"gamma (discount) must be in [0, 1], got {gamma!r}")


def fitted_q_evaluation(
    logs: LoggedDecisions,
    target: np.ndarray,
    *,
    model: RegressorMixin | str = "hgb",
    gamma: float = 1.0,
    n_folds: int = N_FOLDS,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    r"""Cross-fitted :math:`\hat Q_t(x_i, a)` for every logged row and action, shape (n, A).

    Fitted Q evaluation over a finite horizon, backward over steps: one regressor per
    step t on the features ``[context, one-hot(action)]`` (as the bandit reward model,
    with its fallback for nearly constant targets),

    .. math:: \hat Q_{t}(x_t, a_t) \approx r_t + \gamma \sum_{a'} \pi(a' \mid x_{t+1})\,
              \hat Q_{t+1}(x_{t+1}, a'),

    where the second term is absent at an episode's last step. Episodes are split into
    ``n_folds`` folds; a fold's rows are predicted by the models fitted on the other
    folds (``n_folds = 1``: fitted and predicted on every episode). A step no training
    episode reaches is predicted as 0. ``groups`` (one label per row) keeps episodes with
    the same label in one fold: a bootstrap resample's copies of one logged episode
    (:mod:`experiments.ope.refit`); default: the episodes.

    Reference: Le, H., Voloshin, C. & Yue, Y. (2019). Batch policy learning under
    constraints. *ICML* (fitted Q evaluation); Ernst, D., Geurts, P. & Wehenkel, L.
    (2005). Tree-based batch mode reinforcement learning. *JMLR* 6.
    """
    _check_discount(gamma)
    layout = EpisodeLayout.of(logs)
    target = check_target_probabilities(target, logs.n_rows, logs.n_actions)
    groups = layout.episode if groups is None else np.asarray(groups)
    check_folds(n_folds, np.unique(groups).size, unit="episodes")
    regressor = resolve_model(model, seed)
    folds = fold_ids(groups, n_folds, seed)
    q_hat = np.zeros((logs.n_rows, logs.n_actions))
    for fold in range(int(folds.max()) + 1):
        predict = folds == fold
        train = ~predict if n_folds > 1 else predict
        q_hat[predict] = _backward_fit(logs, target, layout, regressor, gamma, train)[predict]
    return q_hat


def _backward_fit(
    logs: LoggedDecisions,
    target: np.ndarray,
    layout: EpisodeLayout,
    model: RegressorMixin,
    gamma: float,
    train: np.ndarray,
) -> np.ndarray:
    """Q_t fitted on the ``train`` rows, predicted for every row: (n, A)."""
    q_hat = np.zeros((logs.n_rows, logs.n_actions))
    value = np.zeros(logs.n_rows)  # V_t(x_i) of the train rows, filled from the last step back
    for t in reversed(range(layout.horizon)):
        at_t = layout.time == t
        fit_rows = np.flatnonzero(at_t & train)
        rows = np.flatnonzero(at_t)
        if fit_rows.size == 0:
            continue
        following = layout.next_row[fit_rows]
        future = np.where(following >= 0, value[np.maximum(following, 0)], 0.0)
        backup = logs.reward[fit_rows] + gamma * future
        q_hat[rows] = fit_predict(
            model,
            logs.context[fit_rows],
            logs.action[fit_rows],
            backup,
            logs.context[rows],
            logs.n_actions,
        )
        value[fit_rows] = np.sum(target[fit_rows] * q_hat[fit_rows], axis=1)
    return q_hat


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class EpisodeInputs:
    r"""What the sequential estimators read: the log laid out as (episodes, steps) grids.

    Attributes
    ----------
    logs : LoggedDecisions
        An episodic log (with ``episode`` and ``step``).
    target : ndarray, shape (n, A)
        Target probabilities per logged row.
    gamma : float
        Discount in [0, 1].
    q_hat : ndarray, shape (n, A), or None
        :math:`\hat Q_t(x_i, a)` per logged row, at the row's own step (see
        :meth:`fit`); None when only importance sampling is used.
    """

    logs: LoggedDecisions
    target: np.ndarray
    gamma: float = 1.0
    q_hat: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_discount(self.gamma)
        n, actions = self.logs.n_rows, self.logs.n_actions
        object.__setattr__(self, "target", check_target_probabilities(self.target, n, actions))
        if self.q_hat is not None:
            q_hat = np.array(self.q_hat, dtype=float)
            if q_hat.shape != (n, actions) or not np.all(np.isfinite(q_hat)):
                raise InputError(
                    f"q_hat must hold finite numbers with shape {(n, actions)}, got {q_hat.shape}"
                )
            object.__setattr__(self, "q_hat", q_hat)
        self.layout  # noqa: B018 -- lays the log out now, so that a non-episodic log fails here

    @cached_property
    def layout(self) -> EpisodeLayout:
        return EpisodeLayout.of(self.logs)

    @classmethod
    def fit(
        cls,
        logs: LoggedDecisions,
        target: np.ndarray,
        *,
        gamma: float = 1.0,
        q_model: RegressorMixin | str = "hgb",
        n_folds: int = N_FOLDS,
        seed: int = 0,
        groups: np.ndarray | None = None,
    ) -> EpisodeInputs:
        r"""Inputs with :math:`\hat Q` from cross-fitted :func:`fitted_q_evaluation`."""
        q_hat = fitted_q_evaluation(
            logs, target, model=q_model, gamma=gamma, n_folds=n_folds, seed=seed, groups=groups
        )
        return cls(logs, target, gamma, q_hat)

    @property
    def n_episodes(self) -> int:
        return self.layout.n_episodes

    @cached_property
    def discount(self) -> np.ndarray:
        r""":math:`\gamma^t`, shape (H,)."""
        return self.gamma ** np.arange(self.layout.horizon)

    @cached_property
    def reward(self) -> np.ndarray:
        """Rewards, (E, H), 0 after an episode's end."""
        return self.layout.padded(self.logs.reward, 0.0)

    @cached_property
    def weight(self) -> np.ndarray:
        r"""Cumulative weights :math:`W_t`, (E, H), constant after an episode's end."""
        rows = np.arange(self.logs.n_rows)
        ratio = self.target[rows, self.logs.action] / self.logs.propensity
        return np.cumprod(self.layout.padded(ratio, 1.0), axis=1)

    @cached_property
    def previous_weight(self) -> np.ndarray:
        r""":math:`W_{t-1}`, (E, H), with :math:`W_{-1} = 1`."""
        return np.hstack([np.ones((self.n_episodes, 1)), self.weight[:, :-1]])

    def q_model(self, estimator: str) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`\hat Q_t(x_t, a_t)`, :math:`\hat V_t(x_t)`) as (E, H) grids, 0 after the end."""
        if self.q_hat is None:
            raise InputError(
                f"{estimator} needs a Q model: build the inputs with EpisodeInputs.fit or pass "
                "q_hat"
            )
        rows = np.arange(self.logs.n_rows)
        q_logged = self.layout.padded(self.q_hat[rows, self.logs.action], 0.0)
        v_target = self.layout.padded(np.sum(self.target * self.q_hat, axis=1), 0.0)
        return q_logged, v_target

    @cached_property
    def diagnostics(self) -> OverlapDiagnostics:
        """Overlap of the per-episode weights :math:`W_{H-1}`."""
        return overlap_diagnostics(
            self.target, self.logs.action, self.logs.propensity, weight=self.weight[:, -1]
        )


# --------------------------------------------------------------------------- estimators


class SequentialEstimator(ABC):
    """An off-policy estimator for episodic logs; subclasses are frozen dataclasses."""

    name: str
    #: Whether the estimator reads the Q model ``q_hat``.
    needs_q_model: ClassVar[bool] = False

    @abstractmethod
    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        """The estimate as a function of means of per-episode terms."""

    def estimate(
        self,
        inputs: EpisodeInputs,
        *,
        n_bootstrap: int = N_BOOTSTRAP,
        confidence: float = CONFIDENCE,
        seed: int = 0,
    ) -> Estimate:
        """The estimate with its bootstrap interval over episodes."""
        return estimate_all_sequential(
            [self], inputs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
        )[0]


def _per_step_ratios(means: np.ndarray, horizon: int, discount: np.ndarray) -> np.ndarray:
    r""":math:`\sum_t \gamma^t m_t / m_{H+t}` over the last axis; a 0/0 step counts as 0."""
    numerator, denominator = means[..., :horizon], means[..., horizon : 2 * horizon]
    safe = np.where(denominator != 0, denominator, 1.0)
    return np.sum(discount * np.where(denominator != 0, numerator / safe, 0.0), axis=-1)


@dataclass(frozen=True)
class PerDecisionIS(SequentialEstimator):
    r"""Per-decision importance sampling: each reward weighted by the ratios up to its step.

    .. math:: \hat V_{\mathrm{PDIS}} = \frac{1}{E} \sum_{e=1}^{E} \sum_{t=0}^{H-1}
              \gamma^t\, W^{(e)}_t\, r^{(e)}_t

    Unbiased; lower variance than weighting the whole return by :math:`W_{H-1}`.

    Reference: Precup, D., Sutton, R. S. & Singh, S. (2000). Eligibility traces for
    off-policy policy evaluation. *ICML*.
    """

    name: str = "pdis"

    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        return Statistic.mean_of(inputs.weight * inputs.reward @ inputs.discount)


@dataclass(frozen=True)
class WeightedPerDecisionIS(SequentialEstimator):
    r"""Weighted per-decision importance sampling: PDIS with each step's weights normalised.

    .. math:: \hat V_{\mathrm{WPDIS}} = \sum_{t=0}^{H-1} \gamma^t
              \frac{\sum_e W^{(e)}_t\, r^{(e)}_t}{\sum_e W^{(e)}_t}

    Biased but consistent, and far more stable than PDIS. A step at which every
    weight is 0 contributes 0.

    Reference: Precup, D., Sutton, R. S. & Singh, S. (2000); Mahmood, A. R., van Hasselt,
    H. & Sutton, R. S. (2014). Weighted importance sampling for off-policy learning with
    linear function approximation. *NeurIPS*.
    """

    name: str = "wpdis"

    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        horizon, discount = inputs.layout.horizon, inputs.discount
        terms = np.vstack([(inputs.weight * inputs.reward).T, inputs.weight.T])
        return Statistic(terms, lambda means: _per_step_ratios(means, horizon, discount))


@dataclass(frozen=True)
class SequentialDR(SequentialEstimator):
    r"""Sequential doubly robust: the Q model's value, corrected step by step with IS weights.

    .. math:: \hat V_{\mathrm{DR}} = \frac{1}{E} \sum_{e} \sum_{t=0}^{H-1} \gamma^t
              \Big[ W_t \big(r_t - \hat Q_t(x_t, a_t)\big) + W_{t-1}\, \hat V_t(x_t) \Big]

    Unbiased when the propensities are right (whatever :math:`\hat Q`); with
    :math:`\hat Q` equal to the true action values its variance is only that of the
    transitions and the target's own choices. With one step it is the bandit DR.

    Reference: Jiang, N. & Li, L. (2016). Doubly robust off-policy value evaluation for
    reinforcement learning. *ICML*.
    """

    name: str = "dr"
    needs_q_model: ClassVar[bool] = True

    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        q_logged, v_target = inputs.q_model(self.name)
        per_step = inputs.weight * (inputs.reward - q_logged) + inputs.previous_weight * v_target
        return Statistic.mean_of(per_step @ inputs.discount)


@dataclass(frozen=True)
class WeightedDR(SequentialEstimator):
    r"""Weighted doubly robust: sequential DR with each step's weights normalised.

    .. math:: \hat V_{\mathrm{WDR}} = \sum_{t=0}^{H-1} \gamma^t \bigg[
              \frac{\sum_e W_t (r_t - \hat Q_t(x_t, a_t))}{\sum_e W_t}
              + \frac{\sum_e W_{t-1} \hat V_t(x_t)}{\sum_e W_{t-1}} \bigg]

    Reference: Thomas, P. & Brunskill, E. (2016). Data-efficient off-policy policy
    evaluation for reinforcement learning. *ICML*.
    """

    name: str = "wdr"
    needs_q_model: ClassVar[bool] = True

    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        q_logged, v_target = inputs.q_model(self.name)
        weight, previous = inputs.weight, inputs.previous_weight
        horizon, discount = inputs.layout.horizon, inputs.discount
        terms = np.vstack(
            [(weight * (inputs.reward - q_logged)).T, weight.T, (previous * v_target).T, previous.T]
        )

        def combine(means: np.ndarray) -> np.ndarray:
            correction = _per_step_ratios(means[..., : 2 * horizon], horizon, discount)
            baseline = _per_step_ratios(means[..., 2 * horizon :], horizon, discount)
            return correction + baseline

        return Statistic(terms, combine)


@dataclass(frozen=True)
class FittedQEvaluation(SequentialEstimator):
    r"""Fitted Q evaluation: the Q model's value of the first state.

    .. math:: \hat V_{\mathrm{FQE}} = \frac{1}{E} \sum_e \sum_a \pi(a \mid x^{(e)}_0)\,
              \hat Q_0(x^{(e)}_0, a)

    with :math:`\hat Q` from :func:`fitted_q_evaluation`. No importance weights: low
    variance, biased where the regressor cannot represent the action values.

    Reference: Le, H., Voloshin, C. & Yue, Y. (2019). Batch policy learning under
    constraints. *ICML*.
    """

    name: str = "fqe"
    needs_q_model: ClassVar[bool] = True

    def statistic(self, inputs: EpisodeInputs) -> Statistic:
        _, v_target = inputs.q_model(self.name)
        return Statistic.mean_of(v_target[:, 0])


#: Sequential estimators by name, for :func:`experiments.ope.selection.estimators_by_name`.
SEQUENTIAL_ESTIMATORS: dict[str, Callable[[], SequentialEstimator]] = {
    "pdis": PerDecisionIS,
    "wpdis": WeightedPerDecisionIS,
    "dr": SequentialDR,
    "wdr": WeightedDR,
    "fqe": FittedQEvaluation,
}


def estimate_all_sequential(
    estimators: Sequence[SequentialEstimator],
    inputs: EpisodeInputs,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> list[Estimate]:
    """Every estimator on the same inputs and the same bootstrap resamples of episodes."""
    return estimate_all(
        estimators,  # type: ignore[arg-type] - anything with a name and a statistic
        inputs,  # type: ignore[arg-type]
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )


def evaluate_sequential(
    logs: LoggedDecisions,
    target: np.ndarray,
    estimators: Sequence[SequentialEstimator],
    *,
    gamma: float = 1.0,
    q_hat: np.ndarray | None = None,
    q_model: RegressorMixin | str = "hgb",
    n_folds: int = N_FOLDS,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> list[Estimate]:
    """Estimate the target's expected discounted return per episode with each estimator.

    Fitted Q evaluation runs once (cross-fitted over episodes), only if an estimator
    needs it and ``q_hat`` is not given; the Q-model estimators' intervals then come
    from the refit bootstrap, which fits the Q model again in every resample of episodes
    (:mod:`experiments.ope.refit`). With ``q_hat`` given they hold it fixed.
    """
    from experiments.ope.refit import refit_sequential

    check_bootstrap(n_bootstrap, confidence)
    fitted = q_hat is None and any(estimator.needs_q_model for estimator in estimators)
    if fitted:
        inputs = EpisodeInputs.fit(
            logs, target, gamma=gamma, q_model=q_model, n_folds=n_folds, seed=seed
        )
    else:
        inputs = EpisodeInputs(logs, target, gamma, q_hat)
    estimates = estimate_all_sequential(
        estimators, inputs, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    if not fitted or n_bootstrap == 0:
        return estimates
    return refit_sequential(
        logs,
        [target],
        estimators,
        [estimates],
        gamma=gamma,
        q_model=q_model,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )[0]

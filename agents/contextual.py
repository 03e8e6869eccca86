r"""Contextual bandits with linear pay-offs: LinUCB and linear Thompson sampling.

Each arm k has its own linear model of the period's profit given the observation
:math:`x` (disjoint models, Li et al. 2010):

.. math::

    r = a_k + \beta_k^\top x + \varepsilon, \qquad \varepsilon \sim N(0, \sigma^2).

Both agents share the online machinery of :class:`agents.bandits.BanditAgent` (learned
snapshot, ``begin_episode``, unplayed arms first, save and load) and the regressions
below; they differ only in how they explore. The features are the observation as it
is (flattened); the env already scales every block to order 1.

**Prior.** Flat on the intercept :math:`a_k`: profits range over orders of magnitude,
so nothing is assumed about an arm's level before it is played (hence unplayed arms
first). :math:`\beta_k \sim N(0, \tau^2/(\lambda d)\, I)` on the :math:`d` slopes,
:math:`\lambda` = ``ridge``: a context that moves every feature by one unit (in mean
square) shifts profit by about :math:`\tau/\sqrt\lambda`, however many features there
are, where :math:`\tau^2 = \sigma^2 + \mathrm{Var}_k(\bar r_k)` is the variance of the
profit of an arm picked at random (noise plus the spread of the arms' mean profits).
Both :math:`\sigma` and :math:`\tau` are estimated from the data (empirical Bayes), so
the prior is as wide as the profits are, whatever their scale. :math:`\sigma^2` is the
pooled within-arm variance (:meth:`agents.bandits.ArmStatistics.pooled_variance`); it
ignores the context, so it overstates the noise when the context matters (more
exploration, never less), but it exists from the first repeated play, where a residual
variance with :math:`d` slopes per arm would need :math:`d` plays.

**Posterior.** With a flat intercept the slopes are a ridge regression on features and
profits centred at the arm's own means :math:`\bar x_k`, :math:`\bar r_k`:

.. math::

    G_k = \sum_{i: a_i = k} (x_i - \bar x_k)(x_i - \bar x_k)^\top, \qquad
    c_k = \sum_{i: a_i = k} (x_i - \bar x_k)(r_i - \bar r_k), \qquad
    \hat\beta_k = (G_k + \lambda' I)^{-1} c_k, \quad \lambda' = \lambda d\, \sigma^2 / \tau^2,

and the profit of arm k in context :math:`x` is Normal with

.. math::

    \mu_k(x) = \bar r_k + \hat\beta_k^\top (x - \bar x_k), \qquad
    w_k(x)^2 = \sigma^2 \Big( \frac{1}{n_k} + (x - \bar x_k)^\top (G_k + \lambda' I)^{-1}
    (x - \bar x_k) \Big).

**Numerics.** :math:`\bar x_k`, :math:`G_k` and :math:`c_k` are updated one play at a
time (Welford's co-moment update, no large sums cancelling). The penalty
:math:`\lambda'` moves every period with :math:`\sigma` and :math:`\tau`, so rather than
refactoring every arm's matrix each period, each arm keeps the eigendecomposition
:math:`G_k = V_k D_k V_k^\top` (recomputed only for the arm just played; :math:`G_k` is
symmetric positive semi-definite), and :math:`(G_k + \lambda' I)^{-1} v = V_k (D_k +
\lambda')^{-1} V_k^\top v` for any :math:`\lambda'`: no matrix inverse, no ill-conditioned
solve (:math:`D_k + \lambda' \geq \lambda' > 0`). Observation blocks that never move
are exact zeros in :math:`x - \bar x_k` and cost nothing.

**Scale.** Rewards :math:`a r + b` (:math:`a > 0`) give :math:`a\mu_k + b` and
:math:`a w_k`, with :math:`\lambda'` unchanged: the same choices.

References
----------
- L. Li, W. Chu, J. Langford, R. E. Schapire (2010). A contextual-bandit approach to
  personalized news article recommendation. *WWW*, 661-670. (LinUCB, disjoint models.)
- S. Agrawal, N. Goyal (2013). Thompson sampling for contextual bandits with linear
  payoffs. *ICML*, 127-135.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from pydantic import Field
from threadpoolctl import ThreadpoolController

from agents.bandits import ArmStatistics, BanditAgent, Hyperparameters
from agents.base import register_agent, state_array
from sim.logs.errors import InputError

#: Smallest ratio sigma^2 / tau^2 used in the penalty: keeps it positive when the
#: profits have no noise at all (a ratio, so it does not depend on the reward scale).
MIN_NOISE_RATIO = 1e-9


@functools.cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


@dataclass
class ArmRegressions:
    """Each arm's centred features and co-moments (saved), and the eigendecomposition of
    its :math:`G_k` (recomputed for the arm that changes; not saved)."""

    feature_means: np.ndarray  # (K, d): mean context of the arm's plays
    comoment: np.ndarray  # (K, d, d): G_k
    cross: np.ndarray  # (K, d): c_k
    eigenvalues: np.ndarray  # (K, d): D_k, clipped at 0
    eigenvectors: np.ndarray  # (K, d, d): V_k, columns
    projected_cross: np.ndarray  # (K, d): V_k^T c_k

    @classmethod
    def empty(cls, n_arms: int, n_features: int) -> ArmRegressions:
        zeros = np.zeros((n_arms, n_features))
        return cls(
            zeros.copy(),
            np.zeros((n_arms, n_features, n_features)),
            zeros.copy(),
            zeros.copy(),
            np.repeat(np.eye(n_features)[None], n_arms, axis=0),
            zeros.copy(),
        )

    @classmethod
    def from_moments(
        cls, feature_means: np.ndarray, comoment: np.ndarray, cross: np.ndarray
    ) -> ArmRegressions:
        regressions = cls.empty(*feature_means.shape)
        regressions.feature_means[:] = feature_means
        regressions.comoment[:] = comoment
        regressions.cross[:] = cross
        for arm in range(feature_means.shape[0]):
            regressions.decompose(arm)
        return regressions

    def update(
        self, arm: int, features: np.ndarray, plays: float, reward: float, reward_mean: float
    ) -> None:
        """Fold one play in; ``plays`` and ``reward_mean`` are the arm's after this play."""
        step = features - self.feature_means[arm]
        self.feature_means[arm] += step / plays
        # (x - old mean)(x - new mean)^T = (n - 1)/n step step^T: symmetric by construction.
        self.comoment[arm] += ((plays - 1.0) / plays) * np.outer(step, step)
        self.cross[arm] += step * (reward - reward_mean)
        self.decompose(arm)

    def decompose(self, arm: int) -> None:
        # One BLAS thread: for a few hundred features, threads only add contention (an
        # eigendecomposition took 6x longer with two threads on a busy two-core machine).
        with _blas_threads().limit(limits=1, user_api="blas"):
            eigenvalues, eigenvectors = np.linalg.eigh(self.comoment[arm])
        self.eigenvalues[arm] = np.maximum(eigenvalues, 0.0)
        self.eigenvectors[arm] = eigenvectors
        self.projected_cross[arm] = eigenvectors.T @ self.cross[arm]

    def predict(
        self, features: np.ndarray, reward_means: np.ndarray, penalty: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per arm, :math:`\\mu_k(x)` and :math:`w_k(x)^2 / \\sigma^2 - 1/n_k`: the mean
        profit and the slopes' share of its variance, in units of the noise variance."""
        offsets = features[None, :] - self.feature_means  # (K, d)
        projected = np.einsum("kji,kj->ki", self.eigenvectors, offsets)  # V_k^T (x - x_k)
        shrink = 1.0 / (self.eigenvalues + penalty)
        means = reward_means + np.einsum("ki,ki,ki->k", projected, shrink, self.projected_cross)
        slope_variance = np.einsum("ki,ki,ki->k", projected, shrink, projected)
        return means, slope_variance

    def copy(self) -> ArmRegressions:
        return ArmRegressions(
            self.feature_means.copy(),
            self.comoment.copy(),
            self.cross.copy(),
            self.eigenvalues.copy(),
            self.eigenvectors.copy(),
            self.projected_cross.copy(),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "feature_means": self.feature_means,
            "comoment": self.comoment,
            "cross": self.cross,
        }


@dataclass
class ContextualState:
    """The arm statistics (plays, mean profits, noise) and the regressions."""

    statistics: ArmStatistics
    regressions: ArmRegressions

    def copy(self) -> ContextualState:
        return ContextualState(self.statistics.copy(), self.regressions.copy())

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.statistics.arrays(), **self.regressions.arrays()}


class LinearBandit(BanditAgent[ContextualState]):
    """Disjoint linear models per arm (module docstring); subclasses say what to add to
    each arm's mean profit when exploring (:meth:`_exploration`)."""

    def _n_features(self) -> int:
        if not isinstance(self.observation_space, spaces.Box):
            raise InputError(
                f"agent '{self.name}' needs a Box (vector) observation, not "
                f"{type(self.observation_space).__name__}"
            )
        return int(np.prod(self.observation_space.shape))

    def _prior(self) -> ContextualState:
        return ContextualState(
            ArmStatistics.empty(self.n_arms), ArmRegressions.empty(self.n_arms, self._n_features())
        )

    def _state_from_arrays(self, arrays: dict[str, np.ndarray]) -> ContextualState:
        """The saved statistics and moments, checked: shapes ``(K, d)``, ``(K, d, d)`` and
        ``(K, d)``, finite, each co-moment matrix symmetric (its eigendecomposition is
        recomputed here, so a damaged one cannot fail later)."""
        arms, features = self.n_arms, self._n_features()
        feature_means = state_array(arrays, "feature_means", shape=(arms, features))
        comoment = state_array(arrays, "comoment", shape=(arms, features, features))
        cross = state_array(arrays, "cross", shape=(arms, features))
        if not np.allclose(comoment, np.swapaxes(comoment, 1, 2), rtol=1e-9, atol=1e-12):
            raise InputError("array 'comoment' is not symmetric; expected co-moment matrices")
        regressions = ArmRegressions.from_moments(feature_means, comoment, cross)
        return ContextualState(ArmStatistics.from_arrays(arrays, arms), regressions)

    def _statistics(self) -> ArmStatistics:
        return self.state.statistics

    def features(self, observation: np.ndarray) -> np.ndarray:
        """The observation as a float vector of the length the agent was set up for."""
        flat = np.asarray(observation, dtype=float).reshape(-1)
        expected = self._n_features()
        if flat.size != expected:
            raise InputError(
                f"agent '{self.name}' expects observations of {expected} values, got {flat.size}"
            )
        return flat

    def _update(self, arm: int, observation: np.ndarray, reward: float) -> None:
        statistics = self.state.statistics
        statistics.update(arm, reward)
        self.state.regressions.update(
            arm,
            self.features(observation),
            statistics.counts[arm],
            reward,
            statistics.means[arm],
        )

    def slope_penalty(self) -> float:
        """:math:`\\lambda' = \\lambda d \\sigma^2 / \\tau^2`; :math:`\\lambda d` until the
        noise can be estimated."""
        statistics = self.state.statistics
        prior_precision = self.config.ridge * self._n_features()
        pooled = statistics.pooled_variance()
        if pooled is None:
            return prior_precision
        noise = pooled[0]
        spread = float(statistics.means[statistics.played()].var())
        ratio = noise / (noise + spread) if noise + spread > 0 else 1.0
        return prior_precision * max(ratio, MIN_NOISE_RATIO)

    def profit_posterior(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each arm's posterior mean profit :math:`\\mu_k(x)` (-inf while unplayed) and
        its variance divided by :math:`\\sigma^2`."""
        statistics = self.state.statistics
        means, slope_variance = self.state.regressions.predict(
            self.features(observation), statistics.means, self.slope_penalty()
        )
        played = statistics.played()
        means = np.where(played, means, -np.inf)
        return means, slope_variance + 1.0 / np.maximum(statistics.counts, 1.0)

    def _exploit(self, observation: np.ndarray) -> int:
        means, _ = self.profit_posterior(observation)
        if not self.state.statistics.played().any():
            return 0
        return int(np.argmax(means))

    def _explore(self, observation: np.ndarray, variance: float, dof: int) -> int:
        means, relative_variance = self.profit_posterior(observation)
        widths = np.sqrt(variance * relative_variance)
        return int(np.argmax(means + self._exploration(widths)))

    @abstractmethod
    def _exploration(self, widths: np.ndarray) -> np.ndarray:
        """What to add to each arm's mean profit, given :math:`w_k(x)`, the posterior
        standard deviation of that mean in reward units."""


class LinUCBConfig(Hyperparameters):
    ridge: float = Field(
        1.0, gt=0, description="lambda: prior precision of the context's whole effect, in 1 / tau^2"
    )
    exploration: float = Field(
        2.0, ge=0, description="alpha: the width of the upper bound, in posterior sds"
    )


@register_agent
class LinUCB(LinearBandit):
    r"""LinUCB with disjoint linear models (Li et al., 2010, Algorithm 1).

    Play :math:`\arg\max_k \; \mu_k(x) + \alpha\, w_k(x)` (module docstring), with
    :math:`\alpha` = ``exploration``. Li et al. regress [0, 1] rewards with a fixed ridge
    and :math:`\alpha = 1 + \sqrt{\ln(2/\delta)/2}` (2.2 for :math:`\delta = 0.05`); here
    the regression's prior and the bound are in units of the estimated profit spread and
    noise, so neither depends on the reward scale. The deterministic choice is
    :math:`\arg\max_k \mu_k(x)`.
    """

    name = "linucb"
    Config = LinUCBConfig

    def _exploration(self, widths: np.ndarray) -> np.ndarray:
        return self.config.exploration * widths


class LinThompsonConfig(Hyperparameters):
    ridge: float = Field(
        1.0, gt=0, description="lambda: prior precision of the context's whole effect, in 1 / tau^2"
    )
    posterior_scale: float = Field(
        1.0, gt=0, description="v: multiplier of the posterior's spread (1: the exact posterior)"
    )


@register_agent
class LinThompson(LinearBandit):
    r"""Linear Thompson sampling (Agrawal & Goyal, 2013) with disjoint models.

    Each period draw :math:`(\tilde a_k, \tilde\beta_k)` from every arm's posterior, with
    its covariance multiplied by :math:`v^2` (:math:`v` = ``posterior_scale``), and play
    :math:`\arg\max_k \tilde a_k + \tilde\beta_k^\top x`. With one context per period and
    independent arms only that scalar matters, and it is
    :math:`N(\mu_k(x), v^2 w_k(x)^2)` (module docstring), so that is what is drawn: one
    standard normal per arm instead of a :math:`d`-vector. Agrawal & Goyal's
    :math:`v = R\sqrt{24 d \ln(1/\delta) / \epsilon}` serves their proof; :math:`v = 1`
    is the exact posterior. The deterministic choice is :math:`\arg\max_k \mu_k(x)`.
    """

    name = "lin-thompson"
    Config = LinThompsonConfig

    def _exploration(self, widths: np.ndarray) -> np.ndarray:
        draws = self.rng_.standard_normal(widths.size)
        return self.config.posterior_scale * widths * draws

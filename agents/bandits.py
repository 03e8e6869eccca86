"""Multi-armed bandits over a task's arms: epsilon-greedy, UCB1 and Thompson sampling.

A bandit treats each arm of the task (:mod:`agents.arms`: a constant action such as
"every price at 0.9 x list") as a slot machine whose pay-out is the period's profit,
and ignores the observation. That is right when today's action does not change
tomorrow's demand (the ``stationary`` preset) and a useful baseline when it does.

**Online agents.** A bandit learns while it acts (``online = True``):

- :meth:`BanditAgent.learn` plays ``budget`` env steps of whole episodes, choosing with
  exploration and updating after every period, records each episode's profit in the
  learning curve, and keeps the statistics it ends with as its *learned state*;
- :meth:`BanditAgent.begin_episode` restores the learned state (the prior when
  ``learn`` was never called) and reseeds the agent's own random generator, so an
  evaluation episode is a business running the bandit live from what it knew, and the
  same seed gives the same episode;
- :meth:`BanditAgent.observe` updates the statistics of the arm just played;
- :meth:`BanditAgent.predict` with ``deterministic=True`` returns the arm with the best
  mean reward (no exploration); with ``deterministic=False`` it explores as the
  algorithm says.

**Scale.** Profits run from hundreds to millions per period and are not in [0, 1], so
every algorithm here makes the same choices when all rewards are multiplied by a
positive constant (or shifted by a constant): exploration is measured in units of the pooled
within-arm standard deviation of the rewards, estimated from the data (see
:class:`ArmStatistics`), never in absolute units.

**Unplayed arms first.** Each exploring algorithm plays every arm once before anything
else (in an order drawn from the agent's generator), and plays the arm with the best
mean while no arm has been played twice (the pooled standard deviation needs one degree
of freedom). The deterministic choice only considers arms that have been played; with
no data at all it is arm 0.

The agent's generator is seeded from ``(seed, BANDIT_STREAM)`` rather than ``seed``
itself, so its draws are independent of the env's, which is seeded with the same
``seed`` in evaluation.

References
----------
- P. Auer, N. Cesa-Bianchi, P. Fischer (2002). Finite-time analysis of the multiarmed
  bandit problem. *Machine Learning* 47, 235-256. (UCB1, UCB1-Normal, epsilon_n-greedy.)
- W. R. Thompson (1933). On the likelihood that one unknown probability exceeds another
  in view of the evidence of two samples. *Biometrika* 25, 285-294.
- J. Honda, A. Takemura (2014). Optimality of Thompson sampling for Gaussian bandits
  depends on priors. *AISTATS*. (Normal rewards with unknown mean and variance.)
- B. P. Welford (1962). Note on a method for calculating corrected sums of squares and
  products. *Technometrics* 4, 419-420. (The running variance.)
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field

from agents.arms import arm_set, env_arm_set
from agents.base import Agent, ProgressCallback, check_actions, register_agent, state_array
from agents.evaluation import play_online
from sim.logs.errors import InputError

#: Mixed into the agent's seed so that its random stream differs from the env's.
BANDIT_STREAM = 0x62616E64  # "band"


def agent_generator(seed: int | None) -> np.random.Generator:
    """The agent's own generator for ``seed``: independent of an env seeded with ``seed``."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), BANDIT_STREAM])


# -- arm statistics -------------------------------------------------------------------


@dataclass
class ArmStatistics:
    """Count, mean and sum of squared deviations of each arm's rewards (Welford, 1962).

    After reward ``r`` for arm k: ``n_k += 1``, ``delta = r - mean_k``,
    ``mean_k += delta / n_k``, ``sq_dev_k += delta * (r - mean_k)``; so ``sq_dev_k`` is
    ``sum_i (r_i - mean_k)^2`` without the cancellation of ``sum r^2 - n mean^2``.
    """

    counts: np.ndarray  # (K,) float: plays per arm
    means: np.ndarray  # (K,) mean reward per arm
    sq_dev: np.ndarray  # (K,) sum of squared deviations from the arm's mean

    @classmethod
    def empty(cls, n_arms: int) -> ArmStatistics:
        return cls(np.zeros(n_arms), np.zeros(n_arms), np.zeros(n_arms))

    @property
    def n_arms(self) -> int:
        return int(self.counts.size)

    @property
    def total(self) -> int:
        """Plays of all arms together."""
        return int(self.counts.sum())

    def played(self) -> np.ndarray:
        return self.counts > 0

    def update(self, arm: int, reward: float) -> None:
        self.counts[arm] += 1.0
        delta = reward - self.means[arm]
        self.means[arm] += delta / self.counts[arm]
        self.sq_dev[arm] += delta * (reward - self.means[arm])

    def pooled_variance(self) -> tuple[float, int] | None:
        """Within-arm variance pooled over arms, ``sum_k sq_dev_k / dof`` with
        ``dof = sum_k (n_k - 1)`` over played arms; None while ``dof`` is 0."""
        dof = self.total - int(np.count_nonzero(self.played()))
        if dof <= 0:
            return None
        return float(self.sq_dev.sum() / dof), dof

    def greedy_arm(self) -> int:
        """The played arm with the best mean (arm 0 when none has been played)."""
        if not self.played().any():
            return 0
        return int(np.argmax(np.where(self.played(), self.means, -np.inf)))

    def copy(self) -> ArmStatistics:
        return ArmStatistics(self.counts.copy(), self.means.copy(), self.sq_dev.copy())

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "means": self.means, "sq_dev": self.sq_dev}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_arms: int) -> ArmStatistics:
        """Inverse of :meth:`arrays` for ``n_arms`` arms; InputError naming the array when
        one is missing, of another shape, not finite, or negative (counts, squared
        deviations)."""
        return cls(
            state_array(arrays, "counts", shape=(n_arms,), minimum=0.0),
            state_array(arrays, "means", shape=(n_arms,)),
            state_array(arrays, "sq_dev", shape=(n_arms,), minimum=0.0),
        )


# -- the shared base ------------------------------------------------------------------


class LearnedState(Protocol):
    """What a bandit learns: copied for the snapshot, saved as named arrays."""

    def copy(self) -> Self: ...

    def arrays(self) -> dict[str, np.ndarray]: ...


State = TypeVar("State", bound=LearnedState)


class BanditAgent(Agent, Generic[State]):
    """An online agent choosing among the arms of a MultiDiscrete task.

    Holds the arms (``arm_actions``, saved with the state, since a loaded agent has no
    env to read them from), the current statistics, the learned snapshot that every
    episode starts from, and the agent's random generator. Subclasses say what the
    statistics are (:meth:`_prior`, :meth:`_state_from_arrays`, :meth:`_statistics`), how
    a reward updates them (:meth:`_update`), and how an arm is chosen when exploiting
    (:meth:`_exploit`) and exploring (:meth:`_explore`); :meth:`_choose` plays unplayed
    arms first for all of them.
    """

    action_spaces: ClassVar[tuple[type[gym.Space], ...]] = (spaces.MultiDiscrete,)
    online: ClassVar[bool] = True

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.arm_actions_: np.ndarray | None = None  # (K, n) int64
        self.state_: State | None = None  # the statistics now
        self.learned_: State | None = None  # the snapshot each episode starts from
        self.rng_ = agent_generator(None)

    # -- arms and state ---------------------------------------------------------------

    def setup(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().setup(observation_space, action_space)
        self.arm_actions_ = None
        self.state_ = None
        self.learned_ = None

    def bind(self, env: gym.Env) -> None:
        """Take the arms from ``env`` (its action blocks decide them, see
        :func:`agents.arms.env_arm_set`); an agent that already has arms must get the same."""
        actions = env_arm_set(env).actions
        if self.arm_actions_ is None:
            self.arm_actions_ = actions
        elif not np.array_equal(actions, self.arm_actions_):
            raise InputError(
                f"agent '{self.name}' learned {len(self.arm_actions_)} arms that differ from "
                f"the {len(actions)} arms of this env; train it on this task"
            )

    @property
    def arm_actions(self) -> np.ndarray:
        """Arm k's action is row k. Without an env, every action of the space is an arm
        (up to :data:`agents.arms.DEFAULT_MAX_ARMS`, then all elements move together)."""
        if self.arm_actions_ is None:
            if self.action_space is None:
                raise InputError(f"agent '{self.name}' has not been set up for an env")
            self.arm_actions_ = arm_set(self.action_space).actions
        return self.arm_actions_

    @property
    def n_arms(self) -> int:
        return int(self.arm_actions.shape[0])

    @property
    def state(self) -> State:
        """The current statistics (the learned snapshot, or the prior, until an update)."""
        if self.state_ is None:
            self.state_ = self._starting_state()
        return self.state_

    def _starting_state(self) -> State:
        return self.learned_.copy() if self.learned_ is not None else self._prior()

    def arm_of(self, action: np.ndarray) -> int:
        """The arm whose action is ``action`` (InputError when it is none of them)."""
        matches = np.flatnonzero((self.arm_actions == np.asarray(action).reshape(1, -1)).all(1))
        if matches.size == 0:
            raise InputError(
                f"agent '{self.name}': action {np.asarray(action).tolist()} is not one of its arms"
            )
        return int(matches[0])

    # -- learning and acting ----------------------------------------------------------

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Play ``budget`` env steps online, starting from the learned state (the prior the
        first time), and keep the statistics reached as the new learned state.

        The env is reset with ``seed`` once and then without a seed (its own stream goes
        on); the agent's generator is seeded from ``seed``. ``log_dir`` is not used.
        """
        self.setup_for(env)
        self.state_ = self._starting_state()
        self.rng_ = agent_generator(seed)
        play_online(self, env, budget, seed, progress)
        self.learned_ = self.state.copy()
        return self

    def begin_episode(self, seed: int | None = None) -> None:
        """Restore the learned state (the prior before any ``learn``); reseed from ``seed``."""
        self.state_ = self._starting_state()
        self.rng_ = agent_generator(seed)

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        """Arm's action (int64): the best mean with ``deterministic``, else the algorithm's
        exploring choice."""
        arm = self._choose(np.asarray(observation), explore=not deterministic)
        return self.arm_actions[arm].copy()

    def observe(
        self,
        observation: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_observation: np.ndarray,
        info: dict[str, Any],
    ) -> None:
        """Credit ``reward`` to the arm whose action was played."""
        self._update(self.arm_of(action), np.asarray(observation), float(reward))

    # -- persistence ------------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The arms and the learned snapshot (the prior when nothing was learned)."""
        snapshot = self.learned_ if self.learned_ is not None else self._prior()
        return {"arm_actions": self.arm_actions, **snapshot.arrays()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the arms (actions of the saved action space) and the learned snapshot
        (checked by :meth:`_state_from_arrays`)."""
        assert self.action_space is not None
        actions = state_array(arrays, "arm_actions", kind="int")
        self.arm_actions_ = check_actions("arm_actions", actions, self.action_space)
        self.learned_ = self._state_from_arrays(arrays)
        self.state_ = self.learned_.copy()

    # -- what each algorithm says -----------------------------------------------------

    def _choose(self, observation: np.ndarray, explore: bool) -> int:
        """The arm to play: exploiting, :meth:`_exploit`; exploring, an unplayed arm (at
        random) while there is one, :meth:`_exploit` while no arm has been played twice
        (the pooled variance has no degree of freedom yet), then :meth:`_explore`."""
        if not explore:
            return self._exploit(observation)
        statistics = self._statistics()
        unplayed = np.flatnonzero(~statistics.played())
        if unplayed.size:
            return int(self.rng_.choice(unplayed))
        pooled = statistics.pooled_variance()
        if pooled is None:
            return self._exploit(observation)
        return self._explore(observation, *pooled)

    @abstractmethod
    def _prior(self) -> State:
        """The statistics before any reward."""

    @abstractmethod
    def _state_from_arrays(self, arrays: dict[str, np.ndarray]) -> State:
        """Inverse of the state's ``arrays()`` for :attr:`n_arms` arms; InputError naming
        the array when one does not fit (see :func:`agents.base.state_array`)."""

    @abstractmethod
    def _statistics(self) -> ArmStatistics:
        """The per-arm reward statistics within :attr:`state`."""

    @abstractmethod
    def _update(self, arm: int, observation: np.ndarray, reward: float) -> None:
        """Fold ``reward``, earned by ``arm`` in ``observation``, into :attr:`state`."""

    @abstractmethod
    def _exploit(self, observation: np.ndarray) -> int:
        """The played arm with the best estimated mean (arm 0 before any play)."""

    @abstractmethod
    def _explore(self, observation: np.ndarray, variance: float, dof: int) -> int:
        """The exploring choice once every arm was played; ``variance`` is the pooled
        within-arm variance of the rewards, with ``dof`` degrees of freedom."""


class ArmBandit(BanditAgent[ArmStatistics]):
    """A context-free bandit: its state is the :class:`ArmStatistics` alone."""

    def _prior(self) -> ArmStatistics:
        return ArmStatistics.empty(self.n_arms)

    def _state_from_arrays(self, arrays: dict[str, np.ndarray]) -> ArmStatistics:
        return ArmStatistics.from_arrays(arrays, self.n_arms)

    def _statistics(self) -> ArmStatistics:
        return self.state

    def _update(self, arm: int, observation: np.ndarray, reward: float) -> None:
        self.state.update(arm, reward)

    def _exploit(self, observation: np.ndarray) -> int:
        return self.state.greedy_arm()


# -- the algorithms -------------------------------------------------------------------


class Hyperparameters(BaseModel):
    """Base of the bandits' Config: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EpsilonGreedyConfig(Hyperparameters):
    epsilon: float = Field(
        0.1,
        gt=0,
        description="c in the exploration rate eps_t = min(1, c K / t) after t plays of K arms",
    )


@register_agent
class EpsilonGreedy(ArmBandit):
    r"""Epsilon-greedy with a decaying exploration rate (Auer et al., 2002, epsilon_n-greedy).

    After every arm was played once, at play :math:`t` (plays so far) explore with
    probability :math:`\varepsilon_t = \min(1, cK/t)`, choosing an arm uniformly at
    random; otherwise play :math:`\arg\max_k \bar r_k`. Auer et al.'s schedule is
    :math:`cK/(d^2 t)` with :math:`d` a lower bound on the gap in [0, 1]-rewards; here the
    unknown :math:`d` is folded into ``epsilon`` (:math:`c`).

    **Scale-free** by construction: the greedy choice depends on the order of the means
    only, and the exploration rate on counts only.
    """

    name = "epsilon-greedy"
    Config = EpsilonGreedyConfig

    def exploration_rate(self, plays: int) -> float:
        return min(1.0, self.config.epsilon * self.n_arms / max(plays, 1))

    def _explore(self, observation: np.ndarray, variance: float, dof: int) -> int:
        statistics = self.state
        if self.rng_.random() < self.exploration_rate(statistics.total):
            return int(self.rng_.integers(statistics.n_arms))
        return statistics.greedy_arm()


class UCB1Config(Hyperparameters):
    exploration: float = Field(
        1.0, ge=0, description="c, the multiplier of the confidence bonus (1: UCB1's own)"
    )


@register_agent
class UCB1(ArmBandit):
    r"""UCB1 (Auer et al., 2002) with the bonus in units of the rewards' noise.

    Play :math:`\arg\max_k \; \bar r_k + c\,\hat\sigma \sqrt{2 \ln t / n_k}`, with
    :math:`t` the plays so far, :math:`n_k` arm k's plays and :math:`\hat\sigma` the
    pooled within-arm standard deviation, :math:`\hat\sigma^2 = \sum_k \sum_i (r_{k,i} -
    \bar r_k)^2 / (t - K)`. UCB1's bonus :math:`\sqrt{2\ln t/n_k}` assumes rewards in
    [0, 1]; multiplying it by :math:`\hat\sigma` makes the index a
    :math:`z`-score-like bound as in UCB1-Normal (which uses each arm's own variance and
    a forced-exploration rule too slow for 52 periods).

    **Scale-free**: multiplying every reward by :math:`a > 0` (or adding :math:`b`)
    maps every index :math:`u_k` to :math:`a u_k + b`, so the choices are the same.
    """

    name = "ucb1"
    Config = UCB1Config

    def upper_bounds(self, statistics: ArmStatistics, variance: float) -> np.ndarray:
        log_plays = math.log(max(statistics.total, 1))
        bonus = math.sqrt(variance) * np.sqrt(2.0 * log_plays / statistics.counts)
        return statistics.means + self.config.exploration * bonus

    def _explore(self, observation: np.ndarray, variance: float, dof: int) -> int:
        return int(np.argmax(self.upper_bounds(self.state, variance)))


class ThompsonConfig(Hyperparameters):
    prior_dof: float = Field(
        4.0,
        gt=0,
        description=(
            "weight, in observations, of the pooled variance in each arm's variance prior "
            "(capped by the pooled variance's own degrees of freedom)"
        ),
    )
    posterior_scale: float = Field(
        1.0, gt=0, description="multiplier of the posterior spread (1: the exact posterior)"
    )


@register_agent
class ThompsonSampling(ArmBandit):
    r"""Thompson sampling (Thompson, 1933) for Normal profits with unknown mean and variance.

    Model: arm k's rewards are :math:`N(\mu_k, \sigma_k^2)`. Prior: flat on
    :math:`\mu_k`; :math:`\sigma_k^2 \sim \mathrm{Inv\text{-}Gamma}(\nu_0/2,
    \nu_0 s^2/2)`, an empirical-Bayes prior worth :math:`\nu_0` observations of the
    pooled within-arm variance :math:`s^2` (heteroscedastic arms, shrunk toward a
    common noise level). :math:`\nu_0 = \min(\text{prior\_dof}, t - K)`: the prior
    never claims more degrees of freedom than :math:`s^2` has. The conjugate
    (Normal-inverse-gamma) posterior after :math:`n_k` rewards with mean
    :math:`\bar r_k` and squared deviations :math:`S_k` gives the Student-t marginal

    .. math::

        \mu_k \mid \text{data} \sim \bar r_k + \tau_k\, T_{\nu_k}, \qquad
        \nu_k = \nu_0 + n_k - 1, \qquad
        \tau_k^2 = \frac{\nu_0 s^2 + S_k}{\nu_k\, n_k}.

    Each period draws one :math:`\tilde\mu_k` per arm (spread multiplied by
    ``posterior_scale``) and plays :math:`\arg\max_k \tilde\mu_k`; the deterministic
    choice is the best posterior mean :math:`\bar r_k`. Honda & Takemura (2014) study
    this model's priors; the flat-mean prior needs each arm played once first.

    **Scale-free**: rewards :math:`a r + b` give :math:`a\tilde\mu_k + b` from the same
    Student-t draws, so the choices are the same.
    """

    name = "thompson"
    Config = ThompsonConfig

    def posterior(
        self, statistics: ArmStatistics, variance: float, dof: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Location, scale and degrees of freedom of each arm's Student-t posterior."""
        prior_dof = min(self.config.prior_dof, float(dof))
        posterior_dof = prior_dof + statistics.counts - 1.0
        scale_sq = (prior_dof * variance + statistics.sq_dev) / (posterior_dof * statistics.counts)
        return statistics.means, np.sqrt(scale_sq), posterior_dof

    def _explore(self, observation: np.ndarray, variance: float, dof: int) -> int:
        location, scale, posterior_dof = self.posterior(self.state, variance, dof)
        draws = self.rng_.standard_t(posterior_dof)
        return int(np.argmax(location + self.config.posterior_scale * scale * draws))

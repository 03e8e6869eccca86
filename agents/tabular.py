r"""Tabular Q-learning and Double Q-learning over a discretised market state.

Both agents read the same way, top to bottom: the hyper-parameters
(:class:`TabularConfig`), the two schedules (exploration, :func:`epsilon_at`, and step
size, :func:`step_size`), then one training loop in :meth:`TabularAgent.learn`. They
differ only in how many tables they keep and which table each update goes to
(:meth:`TabularAgent.learner_tables`).

**State and actions.** The state is the integer of :class:`agents.discretize.Discretiser`
(period, mean reference price, mean pantry, mean active share, each in bins); the
actions are the arms of :func:`agents.arms.env_arm_set` (every MultiDiscrete action
when there are at most ``max_arms``, else one level per action block). Continuous
(Box) action spaces are rejected: a table needs finitely many actions.

**Q-learning** (Watkins, 1989). For a transition :math:`(s, a, r, s')`::

    Q(s, a) <- Q(s, a) + alpha_n * [ c r + gamma max_a' Q(s', a') - Q(s, a) ]

with the max term 0 when :math:`s'` is the state after the horizon's last period (the
task ends there; an outside time limit that cuts an episode earlier is not an end, so
it bootstraps). :math:`c` is ``reward_scale``: profits are 1e3 .. 1e5 currency units per
period, so by default Q-values are in thousands of currency units. With the period in
the state and ``gamma = 1``, :math:`Q(s, a)` estimates the expected profit from the
period of :math:`s` to the end of the horizon when :math:`a` is charged now and the
greedy policy after.

**Double Q-learning** (van Hasselt, 2010, "Double Q-learning", NeurIPS 23). Two tables
:math:`Q^A, Q^B`; each transition updates one of them, and the *other* values the
action the updated table thinks best::

    a* = argmax_a' Q^A(s', a')
    Q^A(s, a) <- Q^A(s, a) + alpha_n * [ c r + gamma Q^B(s', a*) - Q^A(s, a) ]

(and the same with A and B swapped). Choosing :math:`a^*` with one table and valuing
it with the other, independent, one removes the upward bias of :math:`\max` over noisy
estimates; in exchange the estimate is biased downwards when arms are close. The
agent acts on the mean of the two tables.

**Episodic backward updates** (``backward_updates=True``, the default). The
transitions of an episode are kept until it ends and then updated last period first
(Lee et al., 2019, "Sample-efficient deep reinforcement learning via episodic backward
update", NeurIPS 32). Each target then bootstraps from a next state that this episode
has already updated, so the last period's profit reaches the first period in one
episode instead of one period per episode: over a 52-period undiscounted horizon,
the difference between learning the reference price's long-run value and not.
Double Q alternates its tables along the episode for the same reason
(:meth:`DoubleQLearningAgent.learner_tables`). The update rules are unchanged.

**Step size.** The n-th update of an entry (this one included) moves it by

.. math:: \alpha_n = \min\left(1, \alpha_0 \left(\frac{c + 1}{c + n}\right)^w\right)

with ``learning_rate`` :math:`\alpha_0`, ``learning_rate_offset`` :math:`c` and
``learning_rate_power`` :math:`w`. The default, :math:`c = H` the horizon and
:math:`w = 1`, is the rate of Jin et al. (2018, "Is Q-learning provably efficient?",
NeurIPS 31) for finite-horizon Q-learning: it weights the last :math:`\sim n / H`
targets, which were bootstrapped from better estimates than the early ones, where the
running mean (:math:`c = 0, w = 1`) would keep every stale early target with weight
:math:`1 / n` and learn exponentially slowly in :math:`H`. :math:`c = 0` with
:math:`w \in (0.5, 1)` is the polynomial rate of Even-Dar and Mansour (2003); :math:`w = 0`
is a constant step. Counting visits makes the step free of the reward's scale.

**Exploration.** Temporally extended epsilon-greedy (Dabney, Ostrovski and Barreto,
2021, "Temporally-extended epsilon-greedy exploration", ICLR): when no exploratory arm
is being held, with probability epsilon a uniform arm is drawn and held for a
geometric number of periods with mean ``exploration_persistence``; otherwise the
greedy arm (ties broken at random). A price moves the reference price only by
:math:`(1 - \omega)` of the gap each period, so one exploratory period rarely shows
what a sustained price is worth; holding it for a few does, and is what finds the
high-price regime of ``pricing-reference`` reliably. Epsilon decays from
``epsilon_start`` to ``epsilon_end`` over the first ``exploration_fraction`` of the
budget, then stays (:func:`epsilon_at`). ``predict(obs, deterministic=False)`` is plain
epsilon-greedy at the last epsilon.

**Greedy action.** ``predict(obs, deterministic=True)`` takes the first arm of highest
value (a state never visited in training has all values at ``initial_q``: arm 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agents.arms import DEFAULT_MAX_ARMS, env_arm_set
from agents.base import Agent, ProgressCallback, check_actions, register_agent, state_array
from agents.discretize import (
    DEFAULT_ACTIVE_EDGES,
    DEFAULT_PANTRY_EDGES,
    DEFAULT_REFERENCE_EDGES,
    Discretiser,
)
from sim.logs.errors import InputError

#: (state, arm, scaled reward, next state, whether the next state is past the horizon).
Transition = tuple[int, int, float, int, bool]


class TabularConfig(BaseModel):
    """Hyper-parameters of :class:`QLearningAgent` and :class:`DoubleQLearningAgent`."""

    model_config = ConfigDict(extra="forbid")

    # -- the update ----------------------------------------------------------------
    gamma: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="discount per period; 1 is right for a finite horizon with time in the state",
    )
    learning_rate: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="alpha_0 in the step size alpha_n = alpha_0 ((c + 1) / (c + n))^w",
    )
    learning_rate_offset: float | None = Field(
        None,
        ge=0.0,
        description="c in the step size; None: the horizon in periods (Jin et al. 2018); "
        "0: the polynomial rate alpha_0 / n^w",
    )
    learning_rate_power: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="w in the step size (n: updates of the state-action); 0: constant alpha_0",
    )
    reward_scale: float = Field(
        1e-3, gt=0.0, description="rewards (currency units) are multiplied by this before learning"
    )
    initial_q: float = Field(
        0.0,
        description="initial value of every state-action, in scaled reward units; above the "
        "best return it makes the greedy policy try every arm (optimistic initialisation)",
    )
    backward_updates: bool = Field(
        True,
        description="apply an episode's updates in reverse order when it ends (episodic "
        "backward update) instead of after each step",
    )
    # -- exploration ---------------------------------------------------------------
    epsilon_start: float = Field(1.0, ge=0.0, le=1.0, description="exploration rate at step 0")
    epsilon_end: float = Field(
        0.05, ge=0.0, le=1.0, description="exploration rate after the decay, held to the end"
    )
    exploration_fraction: float = Field(
        0.5, gt=0.0, le=1.0, description="share of the budget over which epsilon decays"
    )
    epsilon_decay: Literal["linear", "exponential"] = Field(
        "linear", description="shape of the decay from epsilon_start to epsilon_end"
    )
    exploration_persistence: float = Field(
        2.0,
        ge=1.0,
        description="mean periods an exploratory arm is held (geometric); 1: plain epsilon-greedy",
    )
    # -- state and actions -----------------------------------------------------------
    reference_edges: tuple[float, ...] = Field(
        DEFAULT_REFERENCE_EDGES,
        description="interior bin edges of the mean reference price / list price",
    )
    pantry_edges: tuple[float, ...] = Field(
        DEFAULT_PANTRY_EDGES,
        description="interior bin edges of the mean pantry, in periods of baseline demand",
    )
    active_edges: tuple[float, ...] = Field(
        DEFAULT_ACTIVE_EDGES, description="interior bin edges of the mean active customer share"
    )
    period_bins: int | None = Field(
        None, ge=1, description="equal stretches of the horizon in the state; None: one per period"
    )
    max_arms: int = Field(
        DEFAULT_MAX_ARMS, ge=1, description="largest full action grid used as it is"
    )

    @field_validator("epsilon_end")
    @classmethod
    def _end_at_most_start(cls, value: float, info: ValidationInfo) -> float:
        start = info.data.get("epsilon_start")
        if start is not None and value > start:
            raise ValueError(f"must not exceed epsilon_start ({start})")
        return value

    @field_validator("epsilon_decay")
    @classmethod
    def _exponential_needs_positive_end(cls, value: str, info: ValidationInfo) -> str:
        if value == "exponential" and info.data.get("epsilon_end") == 0.0:
            raise ValueError("exponential decay needs epsilon_end > 0")
        return value

    @field_validator("reference_edges", "pantry_edges", "active_edges")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"must be strictly increasing, got {list(value)}")
        return value


def epsilon_at(step: int, budget: int, config: TabularConfig) -> float:
    r"""Exploration rate at ``step`` of a ``budget``-step run.

    With progress :math:`u = \min(1, \text{step} / (f B))` (``exploration_fraction``
    :math:`f`): linear :math:`\epsilon_0 + (\epsilon_1 - \epsilon_0) u`, exponential
    :math:`\epsilon_0 (\epsilon_1 / \epsilon_0)^u`; :math:`\epsilon_1` from then on.
    """
    start, end = config.epsilon_start, config.epsilon_end
    progress = step / max(1.0, config.exploration_fraction * budget)
    if progress >= 1.0:
        return end
    if config.epsilon_decay == "exponential" and start > 0:
        return start * (end / start) ** progress
    return start + (end - start) * progress


def exploration_duration(config: TabularConfig, rng: np.random.Generator) -> int:
    """Periods an exploratory arm is held: geometric with mean ``exploration_persistence``
    (``P(n) = (1 - p)^(n - 1) p`` with ``p = 1 / mean``); always 1 for a mean of 1."""
    if config.exploration_persistence <= 1.0:
        return 1
    return int(rng.geometric(1.0 / config.exploration_persistence))


def step_size(visits: int, config: TabularConfig, horizon: int) -> float:
    r"""The step size of the n-th update of a state-action (see the module docstring):
    :math:`\min(1, \alpha_0 ((c + 1) / (c + n))^w)`, with :math:`c` the
    ``learning_rate_offset`` or, when that is None, the ``horizon``."""
    offset = float(horizon) if config.learning_rate_offset is None else config.learning_rate_offset
    ratio = (offset + 1.0) / (offset + visits)
    return min(1.0, config.learning_rate * ratio**config.learning_rate_power)


class TabularAgent(Agent):
    """Epsilon-greedy learning of ``n_tables`` Q tables of shape (states, arms).

    Subclasses set how many tables and which one each update goes to
    (:meth:`learner_tables`).

    Learned attributes: ``discretiser`` (:class:`Discretiser`), ``arms`` ``(K, n)`` the
    MultiDiscrete action of each arm, ``q`` ``(n_tables, n_states, K)`` values in scaled
    reward units, ``visits`` of the same shape (updates per entry), ``epsilon`` the
    exploration rate ``predict(deterministic=False)`` uses, ``steps_done`` env steps
    learned from so far.
    """

    Config: ClassVar[type[BaseModel]] = TabularConfig
    action_spaces: ClassVar[tuple[type[gym.Space], ...]] = (spaces.MultiDiscrete,)
    n_tables: ClassVar[int] = 1

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.config: TabularConfig
        self.discretiser: Discretiser | None = None
        self.arms: np.ndarray | None = None
        self.q: np.ndarray | None = None
        self.visits: np.ndarray | None = None
        self.epsilon = self.config.epsilon_start
        self.steps_done = 0
        self._rng = np.random.default_rng()

    # -- set-up ---------------------------------------------------------------------

    def bind(self, env: gym.Env) -> None:
        """Build the discretiser and arms for ``env`` and allocate the tables, the first
        time; afterwards check that ``env`` maps to the same states and arms."""
        config = self.config
        discretiser = Discretiser.for_env(
            env,
            reference_edges=config.reference_edges,
            pantry_edges=config.pantry_edges,
            active_edges=config.active_edges,
            period_bins=config.period_bins,
        )
        arms = env_arm_set(env, config.max_arms).actions
        if self.q is None:
            self.discretiser, self.arms = discretiser, arms
            shape = (self.n_tables, discretiser.n_states, len(arms))
            self.q = np.full(shape, config.initial_q, dtype=float)
            self.visits = np.zeros(shape, dtype=np.int64)
            return
        assert self.discretiser is not None and self.arms is not None
        if not discretiser.same_as(self.discretiser):
            raise InputError(
                f"agent '{self.name}' learned states for {self.discretiser.n_segments} segments, "
                f"{self.discretiser.n_products} products and a horizon of "
                f"{self.discretiser.horizon}; this env has {discretiser.n_segments}, "
                f"{discretiser.n_products} and {discretiser.horizon}"
            )
        if not np.array_equal(arms, self.arms):
            raise InputError(f"agent '{self.name}' learned other arms than this env offers")

    def _tables(self) -> tuple[Discretiser, np.ndarray, np.ndarray, np.ndarray]:
        if self.discretiser is None or self.arms is None or self.q is None or self.visits is None:
            raise InputError(
                f"agent '{self.name}' has not been trained or loaded; call learn first"
            )
        return self.discretiser, self.arms, self.q, self.visits

    # -- acting ---------------------------------------------------------------------

    def action_values(self, state: int) -> np.ndarray:
        """``(K,)`` the value of each arm in ``state``: the mean over the tables that have
        updated it (``initial_q`` where none has), so that an arm one Double-Q table has
        not yet seen is not pulled towards the initial value."""
        _, _, q, visits = self._tables()
        if self.n_tables == 1:
            return q[0, state, :]
        updated = visits[:, state, :] > 0
        tables = updated.sum(axis=0)
        total = np.where(updated, q[:, state, :], 0.0).sum(axis=0)
        return np.where(tables > 0, total / np.maximum(tables, 1), q[0, state, :])

    def choose_arm(self, state: int, epsilon: float, rng: np.random.Generator) -> int:
        """Epsilon-greedy: a uniform arm with probability epsilon, else a best one (ties
        broken uniformly, so equal initial values do not favour arm 0)."""
        values = self.action_values(state)
        if rng.random() < epsilon:
            return int(rng.integers(values.size))
        best = np.flatnonzero(values == values.max())
        return int(best[0] if best.size == 1 else rng.choice(best))

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        """The greedy arm's action; with ``deterministic=False`` epsilon-greedy at the
        current :attr:`epsilon`."""
        discretiser, arms, _, _ = self._tables()
        state = discretiser.state(np.asarray(observation))
        if deterministic:
            arm = int(np.argmax(self.action_values(state)))
        else:
            arm = self.choose_arm(state, self.epsilon, self._rng)
        return arms[arm].copy()

    def begin_episode(self, seed: int | None = None) -> None:
        """Reseed exploration (``predict(deterministic=False)``) so episodes repeat."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    # -- learning -------------------------------------------------------------------

    def learner_tables(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``(count,)`` the table each of ``count`` consecutive updates goes to: always 0."""
        return np.zeros(count, dtype=np.int64)

    def valuing_table(self, learner: int) -> int:
        """The table that values the next state's best arm in an update of ``learner``."""
        return (learner + 1) % self.n_tables

    def estimates(self, table: int, other: int, state: int) -> np.ndarray:
        """``(K,)`` table ``table``'s values in ``state``, where an arm it has never updated
        takes ``other``'s value.

        A Double-Q table sees half the transitions; an entry it has not updated holds only
        ``initial_q``, which for a profit still to come is a gross underestimate that the
        averaging of targets would keep for a long time. For Q-learning ``table == other``.
        """
        _, _, q, visits = self._tables()
        if table == other:
            return q[table, state]
        return np.where(visits[table, state] > 0, q[table, state], q[other, state])

    def update(
        self,
        state: int,
        arm: int,
        reward: float,
        next_state: int,
        final: bool,
        learner: int,
    ) -> None:
        """One step of the update in the module docstring, of table ``learner``;
        ``reward`` already scaled.

        The updated table picks the next state's best arm and the valuing table prices it:
        the same table is Q-learning's max, two different ones are Double Q-learning.
        """
        discretiser, _, q, visits = self._tables()
        valuer = self.valuing_table(learner)
        following = 0.0
        if not final:
            best_next = int(np.argmax(self.estimates(learner, valuer, next_state)))
            following = self.config.gamma * self.estimates(valuer, learner, next_state)[best_next]
        visits[learner, state, arm] += 1
        alpha = step_size(int(visits[learner, state, arm]), self.config, discretiser.horizon)
        q[learner, state, arm] += alpha * (reward + following - q[learner, state, arm])

    def update_backward(self, transitions: list[Transition], rng: np.random.Generator) -> None:
        """Apply :meth:`update` to ``transitions`` last first, then empty the list.

        Each target then bootstraps from a next state already updated on this episode,
        so the profit of the last period reaches the first in one episode rather than one
        period per episode (Lee et al., 2019, "Sample-efficient deep reinforcement
        learning via episodic backward update", NeurIPS 32).
        """
        learners = self.learner_tables(len(transitions), rng)
        for transition, learner in zip(reversed(transitions), learners, strict=True):
            self.update(*transition, int(learner))
        transitions.clear()

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Learn from ``budget`` env steps of (temporally extended) epsilon-greedy play.

        The env is reset with ``seed`` for the first episode and unseeded after, and
        exploration draws from a generator seeded with ``seed``, so a seed fixes the run.
        Each finished episode's profit goes to :attr:`learning_curve`. ``log_dir`` is not
        used: the learning curve is saved with the agent.
        """
        if budget < 1:
            raise InputError(f"agent '{self.name}': budget must be at least 1 step, got {budget}")
        self.setup_for(env)
        discretiser, arms, _, _ = self._tables()
        config = self.config
        rng = np.random.default_rng(seed)
        self._rng = rng

        observation, _ = env.reset(seed=seed)
        state = discretiser.state(observation)
        episode_return = 0.0
        pending: list[Transition] = []  # this episode's transitions, for backward updates
        explore_arm, explore_left = 0, 0  # the exploratory arm being held, for how long
        episode_ended = False
        for step in range(budget):
            self.epsilon = epsilon_at(step, budget, config)
            # Temporally extended epsilon-greedy: an exploratory arm is held for a while.
            if explore_left == 0 and rng.random() < self.epsilon:
                explore_arm = int(rng.integers(len(arms)))
                explore_left = exploration_duration(config, rng)
            if explore_left > 0:
                arm, explore_left = explore_arm, explore_left - 1
            else:
                arm = self.choose_arm(state, 0.0, rng)
            next_observation, reward, terminated, truncated, _ = env.step(arms[arm])
            next_state = discretiser.state(next_observation)
            # Past the horizon's last period nothing more is earned: bootstrap from 0.
            final = bool(terminated) or discretiser.horizon_reached(next_observation)
            transition = (state, arm, config.reward_scale * float(reward), next_state, final)
            if config.backward_updates:
                pending.append(transition)
            else:
                self.update(*transition, int(self.learner_tables(1, rng)[0]))
            episode_return += float(reward)
            self.steps_done += 1
            episode_ended = bool(terminated or truncated)
            if episode_ended:
                self.update_backward(pending, rng)
                self.learning_curve.record(self.steps_done, episode_return)
                if progress is not None:
                    progress(step + 1)
                observation, _ = env.reset()
                next_state, episode_return = discretiser.state(observation), 0.0
                explore_left = 0
            state = next_state
        self.update_backward(pending, rng)  # the unfinished episode's steps count too
        self.epsilon = epsilon_at(budget, budget, config)
        if progress is not None and not episode_ended:
            progress(budget)  # the last step did not end an episode, so it was not reported
        return self

    # -- persistence ----------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        discretiser, arms, q, visits = self._tables()
        return {
            "q": q,
            "visits": visits,
            "arms": arms,
            "epsilon": np.array(self.epsilon),
            "steps_done": np.array(self.steps_done, dtype=np.int64),
            **discretiser.to_arrays(),
        }

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the tables, checked against the spaces the agent was saved for: the
        discretiser must read this observation space, the arms must be actions of this
        action space, and the tables ``(n_tables, states, arms)`` must hold finite values
        (a NaN would silently become the greedy choice), with visits counts >= 0."""
        assert self.observation_space is not None and self.action_space is not None
        discretiser = Discretiser.from_arrays(arrays)
        discretiser.check_space(self.observation_space)
        arms = check_actions("arms", state_array(arrays, "arms", kind="int"), self.action_space)
        expected = (self.n_tables, discretiser.n_states, len(arms))
        q = state_array(arrays, "q", shape=expected)
        visits = state_array(arrays, "visits", kind="int", shape=expected, minimum=0)
        epsilon = state_array(arrays, "epsilon", shape=(), minimum=0.0, maximum=1.0)
        steps_done = state_array(arrays, "steps_done", kind="int", shape=(), minimum=0)
        self.discretiser, self.arms = discretiser, arms
        self.q, self.visits = q, visits
        self.epsilon, self.steps_done = float(epsilon), int(steps_done)


@register_agent
class QLearningAgent(TabularAgent):
    """Tabular Q-learning (Watkins, 1989): one table, updated towards
    ``c r + gamma max_a' Q(s', a')`` (see the module docstring)."""

    name = "q-learning"


@register_agent
class DoubleQLearningAgent(TabularAgent):
    """Double Q-learning (van Hasselt, 2010): two tables, each transition updates one,
    and the other values the updated table's best next arm (see the module docstring).

    On ``pricing-reference`` it learns a worse policy than Q-learning: with prices
    within a percent of each other its downward bias adds up over 52 undiscounted
    periods, and the two tables' differing errors swamp the gaps between arms.
    """

    name = "double-q"
    n_tables = 2

    def learner_tables(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Tables 0 and 1 in turn from a fair coin's start.

        One update alone goes to a coin's table, as in van Hasselt's algorithm. Along an
        episode updated backwards the tables alternate, so that each update's valuing
        table is the one just updated on the next period: a coin per update would pass
        the episode's later profits back only across the periods where consecutive coins
        differ. Which table takes a transition still never depends on its reward.
        """
        return (int(rng.integers(2)) + np.arange(count)) % 2

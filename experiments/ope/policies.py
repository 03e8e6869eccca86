r"""Stochastic policies over a finite set of arms, each with its full action probabilities.

Off-policy evaluation reads, for every logged context :math:`x`, the logging policy's
probability :math:`\mu(a \mid x)` of every arm :math:`a`, and the target's
:math:`\pi(a \mid x)`. The policies here give both, on the *arms* of a discrete promosim
task (:mod:`agents.arms`): a finite list of MultiDiscrete env actions, indexed
``0 .. A-1``. The context is the env's observation.

Policy specs, as the CLI names them (:func:`parse_policy`):

==========================  ==============================================================
spec                        policy
==========================  ==============================================================
``uniform``                 every arm with probability :math:`1/A`
``status-quo``              list price, no coupons, no ads (alias ``fixed``)
``cost-plus``               unit cost x 1.5 per product
``best-fixed``              the best constant action (:func:`sim.oracles.best_fixed_action`)
``dp``                      the DP optimum's plan, by period (the tasks the DP applies to)
``agent:DIR`` or ``DIR``    a saved promosim agent (:func:`agents.base.load_agent`)
``epsilon:E:BASE``          :math:`\epsilon`-greedy around a deterministic ``BASE`` above
==========================  ==============================================================

A deterministic policy puts probability 1 on the arm its action is; the named ones are
the baselines of :mod:`agents.baselines`, planned with a budget of 0. The
:math:`\epsilon`-greedy policy around a base that takes arm :math:`b(x)` is

.. math:: \pi_\epsilon(a \mid x) = (1 - \epsilon)\, \mathbb{1}\{a = b(x)\} + \epsilon / A,

so every arm has probability at least :math:`\epsilon / A`: the overlap an importance
weight needs, at most :math:`A / \epsilon`.

**The arms.** :func:`agents.arms.env_arm_set` moves every block of the action as one
on large grids (Pricing on 20 products has 7 arms, one per uniform price multiplier),
so a base policy with per-product prices (``best-fixed`` on the default market) may
take an action outside them. :func:`policy_arms` therefore appends to the env's arms
every action the named deterministic policies can take (a planned baseline's plan
rows), so that every policy's actions are arms. A saved agent whose actions depend on
the context (PPO, Q-learning) is checked as it acts: an action that is not an arm
raises :class:`~sim.logs.errors.InputError`. Only the discrete action style has arms.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from agents.arms import ArmSet, env_arm_set
from agents.base import Agent, load_agent
from sim.logs.errors import InputError, did_you_mean
from sim.tasks.env import MarketEnv

UNIFORM = "uniform"
EPSILON = "epsilon"
AGENT_PREFIX = "agent:"
#: Baselines of :mod:`agents.baselines` that need no training, usable by name.
BASELINES: tuple[str, ...] = ("status-quo", "cost-plus", "best-fixed", "dp")
#: Other names for them (``promosim simulate --policy fixed`` is the status quo).
ALIASES: dict[str, str] = {"fixed": "status-quo"}
#: Every name :func:`parse_policy` knows, for suggestions.
POLICY_NAMES: tuple[str, ...] = (UNIFORM, *BASELINES, *ALIASES, EPSILON)

_SPEC_HELP = (
    "expected uniform, status-quo, cost-plus, best-fixed, dp, epsilon:E:BASE (e.g. "
    "epsilon:0.1:status-quo) or a saved agent directory"
)

#: Names a 0-based row for an error message.
Locate = Callable[[int], str]


def _row_location(row: int) -> str:
    return f"context {row}"


# --------------------------------------------------------------------------- policies


class ArmPolicy(ABC):
    """A policy over ``arms``: :meth:`probabilities` of every arm given an observation."""

    spec: str
    arms: ArmSet

    @property
    def n_arms(self) -> int:
        return self.arms.n_arms

    @property
    def is_deterministic(self) -> bool:
        """Whether every context gets probability 1 on one arm."""
        return False

    @abstractmethod
    def probabilities(
        self, observation: np.ndarray, locate: Callable[[], str] | None = None
    ) -> np.ndarray:
        r""":math:`\pi(\cdot \mid x)` for one observation: shape (A,), summing to 1.

        ``locate()`` names the observation in an error (a saved agent's action that is
        not an arm).
        """

    def probability_table(
        self, observations: np.ndarray, locate: Locate = _row_location
    ) -> np.ndarray:
        """Probabilities for each row of ``observations`` (m, d): shape (m, A).

        ``locate`` names a row in an error (a saved agent's action that is not an arm).
        """
        table = np.empty((len(observations), self.n_arms))
        for row, observation in enumerate(observations):
            table[row] = self.probabilities(observation, partial(locate, row))
        return table

    def sample(self, observation: np.ndarray, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """An arm drawn from :meth:`probabilities` with ``rng``, and those probabilities."""
        probabilities = self.probabilities(observation)
        return int(rng.choice(self.n_arms, p=probabilities)), probabilities


@dataclass(eq=False)
class UniformPolicy(ArmPolicy):
    """Every arm with probability 1/A, whatever the context."""

    arms: ArmSet
    spec: str = UNIFORM

    def probabilities(
        self, observation: np.ndarray, locate: Callable[[], str] | None = None
    ) -> np.ndarray:
        return np.full(self.n_arms, 1.0 / self.n_arms)


@dataclass(eq=False)
class DeterministicPolicy(ArmPolicy):
    """The arm a promosim agent's ``predict(observation)`` picks, with probability 1.

    Online agents (bandits, the A/B test) act greedily from their saved state; nothing
    is learned while the policy acts.
    """

    agent: Agent
    arms: ArmSet
    spec: str
    _arm_of_action: dict[bytes, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_agent_fits(self.agent, self.arms, self.spec)

    @property
    def is_deterministic(self) -> bool:
        return True

    def arm(self, observation: np.ndarray, locate: Callable[[], str] | None = None) -> int:
        """The arm index of the agent's action; InputError (at ``locate()``) if it is none."""
        action = np.asarray(
            self.agent.predict(np.asarray(observation, dtype=np.float32), deterministic=True)[0]
        ).astype(np.int64)
        key = action.tobytes()
        arm = self._arm_of_action.get(key)
        if arm is None:
            try:
                arm = self._arm_of_action[key] = self.arms.index_of(action)
            except InputError:
                where = f"{locate()}: " if locate is not None else ""
                raise InputError(
                    f"{where}policy '{self.spec}' takes action {action.tolist()}, which is not "
                    f"one of the {self.n_arms} arms (evaluate it on a log whose arms include it)"
                ) from None
        return arm

    def probabilities(
        self, observation: np.ndarray, locate: Callable[[], str] | None = None
    ) -> np.ndarray:
        return one_hot(self.arm(observation, locate), self.n_arms)

    def sample(self, observation: np.ndarray, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        arm = self.arm(observation)
        return arm, one_hot(arm, self.n_arms)


@dataclass(eq=False)
class EpsilonGreedyPolicy(ArmPolicy):
    r"""With probability :math:`1 - \epsilon` the base policy's arm, else a uniform arm.

    :math:`\pi(a \mid x) = (1 - \epsilon)\, \mathbb{1}\{a = b(x)\} + \epsilon / A`.
    """

    base: DeterministicPolicy
    epsilon: float
    spec: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise InputError(
                f"policy '{self.spec}': epsilon must be in [0, 1], got {self.epsilon:g}"
            )

    @property
    def arms(self) -> ArmSet:  # type: ignore[override]
        return self.base.arms

    def _mix(self, arm: int) -> np.ndarray:
        probabilities = np.full(self.n_arms, self.epsilon / self.n_arms)
        probabilities[arm] += 1.0 - self.epsilon
        return probabilities

    def probabilities(
        self, observation: np.ndarray, locate: Callable[[], str] | None = None
    ) -> np.ndarray:
        return self._mix(self.base.arm(observation, locate))


def one_hot(arm: int, n_arms: int) -> np.ndarray:
    """Probability 1 on ``arm``, shape (n_arms,)."""
    probabilities = np.zeros(n_arms)
    probabilities[arm] = 1.0
    return probabilities


# --------------------------------------------------------------------------- agents and arms


def check_agent_fits(agent: Agent, arms: ArmSet, name: str) -> None:
    """InputError unless ``agent`` acts in a discrete space with actions as long as the arms."""
    space = agent.action_space
    nvec = getattr(space, "nvec", None)
    if nvec is None:
        kind = type(space).__name__ if space is not None else "no"
        raise InputError(
            f"policy '{name}': the agent acts in a {kind} action space; off-policy evaluation "
            "needs the discrete action style (MultiDiscrete), whose actions are arms"
        )
    width = int(np.asarray(nvec).size)
    if width != arms.actions.shape[1]:
        raise InputError(
            f"policy '{name}': the agent's actions have {width} elements, the arms "
            f"{arms.actions.shape[1]} (a different task or market)"
        )


def check_observation_size(agent: Agent, size: int, name: str, where: str) -> None:
    """InputError unless ``agent`` reads observations of ``size`` numbers."""
    shape = getattr(agent.observation_space, "shape", None)
    expected = int(np.prod(shape)) if shape else None
    if expected is not None and expected != size:
        raise InputError(
            f"{where}: policy '{name}' reads observations of {expected} numbers, the contexts "
            f"have {size} (a different task or market)"
        )


def _baseline(name: str, env: MarketEnv) -> Agent:
    """A baseline agent of :mod:`agents.baselines`, planned for ``env`` (budget 0)."""
    from agents.registry import make_agent

    return make_agent(name).learn(env, budget=0)


def _saved_agent(path: str, spec: str, env: MarketEnv) -> Agent:
    agent = load_agent(path)
    check_observation_size(agent, int(np.prod(env.observation_space.shape)), spec, str(path))
    return agent


def _is_agent_directory(spec: str) -> bool:
    path = Path(spec)
    return path.is_dir() and (path / "agent.json").is_file()


def _split_epsilon(spec: str) -> tuple[float, str]:
    """``epsilon:E:BASE`` as (E, BASE)."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not parts[2]:
        raise InputError(f"policy '{spec}': {_SPEC_HELP}")
    try:
        epsilon = float(parts[1])
    except ValueError:
        raise InputError(
            f"policy '{spec}': epsilon '{parts[1]}' is not a number (e.g. epsilon:0.1:status-quo)"
        ) from None
    return epsilon, parts[2]


def _base_agent(spec: str, env: MarketEnv) -> Agent:
    """The agent behind a deterministic spec (a baseline name or a saved agent)."""
    name = ALIASES.get(spec, spec)
    if name in BASELINES:
        return _baseline(name, env)
    if spec.startswith(AGENT_PREFIX):
        return _saved_agent(spec[len(AGENT_PREFIX) :], spec, env)
    if _is_agent_directory(spec):
        return _saved_agent(spec, spec, env)
    if name in (UNIFORM, EPSILON):
        raise InputError(f"policy '{spec}' is not deterministic; a base policy must be")
    raise InputError(
        f"unknown policy '{spec}'{did_you_mean(spec, POLICY_NAMES)} ({_SPEC_HELP}; a "
        "directory must hold a saved agent's agent.json)"
    )


def _base_spec(spec: str) -> str | None:
    """The deterministic base of ``spec`` (itself, or the BASE of epsilon), None for uniform."""
    if spec == UNIFORM:
        return None
    if spec.startswith(f"{EPSILON}:"):
        return _split_epsilon(spec)[1]
    return spec


def _require_discrete(env: MarketEnv) -> None:
    if env.action_style != "discrete":
        raise InputError(
            f"off-policy evaluation needs the discrete action style, not '{env.action_style}'"
        )


@dataclass(frozen=True)
class PolicySet:
    """Policies on one shared set of arms (see :func:`build_policies`)."""

    arms: ArmSet
    policies: tuple[ArmPolicy, ...]


def build_policies(specs: Sequence[str], env: MarketEnv) -> PolicySet:
    """Policies for ``specs`` on one arm set: the env's arms plus every action the
    deterministic bases can take (a planned baseline's plan rows), in that order.

    Each base agent is built once, so a baseline's plan is computed once.
    """
    _require_discrete(env)
    bases: dict[str, Agent] = {}
    for spec in specs:
        base = _base_spec(spec)
        if base is not None and base not in bases:
            bases[base] = _base_agent(base, env)
    arms = extend_arms(env_arm_set(env), [_known_actions(agent) for agent in bases.values()])
    return PolicySet(arms, tuple(_make_policy(spec, arms, bases) for spec in specs))


def parse_policy(spec: str, env: MarketEnv, arms: ArmSet | None = None) -> ArmPolicy:
    """The policy named by ``spec`` (see the module docstring) on ``arms``.

    ``arms`` defaults to the env's arms plus the policy's own actions
    (:func:`build_policies` with one spec). Raises :class:`InputError` with one line for
    an unknown name (suggesting the closest), a bad epsilon, a directory that is not a
    saved agent, or an agent for another task.
    """
    if arms is None:
        return build_policies([spec], env).policies[0]
    _require_discrete(env)
    base = _base_spec(spec)
    bases = {base: _base_agent(base, env)} if base is not None else {}
    return _make_policy(spec, arms, bases)


def _make_policy(spec: str, arms: ArmSet, bases: dict[str, Agent]) -> ArmPolicy:
    if spec == UNIFORM:
        return UniformPolicy(arms)
    if spec.startswith(f"{EPSILON}:"):
        epsilon, base = _split_epsilon(spec)
        return EpsilonGreedyPolicy(DeterministicPolicy(bases[base], arms, base), epsilon, spec)
    return DeterministicPolicy(bases[spec], arms, spec)


def _known_actions(agent: Agent) -> np.ndarray | None:
    """The env actions a planned baseline can take (its plan rows), None for other agents."""
    plan = getattr(agent, "plan", None)
    return None if plan is None else np.asarray(plan, dtype=np.int64).reshape(len(plan), -1)


def extend_arms(arms: ArmSet, extra: Sequence[np.ndarray | None]) -> ArmSet:
    """``arms`` followed by every row of ``extra`` not already an arm (first occurrence)."""
    rows = [tuple(action) for action in arms.actions.tolist()]
    seen = set(rows)
    for actions in extra:
        for action in [] if actions is None else actions.tolist():
            if tuple(action) not in seen:
                seen.add(tuple(action))
                rows.append(tuple(action))
    return ArmSet(np.array(rows, dtype=np.int64).reshape(len(rows), -1), arms.uniform_blocks)


def policy_arms(env: MarketEnv, specs: Sequence[str]) -> ArmSet:
    """The arm set shared by ``specs`` (see :func:`build_policies`)."""
    return build_policies(specs, env).arms

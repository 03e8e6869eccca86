"""One interface for every policy: learners, bandits, baselines and oracles.

The shape is Stable-Baselines3's (``learn``, ``predict``, ``save``, ``load``) so that
the evaluation code and the experiment runner treat PPO, Q-learning, a bandit, a fixed
price and the A/B test alike. Two additions cover policies that learn *while* they act
(bandits, the A/B test) and which a business would run live rather than train in a
simulator first:

- :meth:`Agent.begin_episode` restores the state ``learn`` left (the prior when
  ``learn`` was never called) at the start of every evaluation episode;
- :meth:`Agent.observe` hands the agent each transition as it happens.

Agents that learn offline (PPO, Q-learning) ignore both. Agents that need to split
customers between arms (the A/B test) ask for ``cohorts > 1``; the episode runner then
resets the env with ``options={"cohorts": agent.cohorts}`` and the agent's actions
have one row per cohort (see :class:`sim.env.MarketEnv`).

**Saved form.** A directory holding ``agent.json`` (the agent's name, format version,
hyper-parameters and the spaces it was set up for) and the agent's state in formats
that load without running code: ``state.npz`` (``allow_pickle=False``) or, for torch
networks, a ``weights_only`` state dict. :func:`load_agent` reads ``agent.json`` and
dispatches to the registered class.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ValidationError

from sim.errors import InputError, did_you_mean

#: Format of ``agent.json``; bumped when a saved agent would no longer load.
FORMAT_VERSION = 1

#: Called during ``learn`` with the number of env steps done so far.
ProgressCallback = Callable[[int], None]


@dataclass
class LearningCurve:
    """Return of each training episode, by the env steps done when it ended."""

    steps: list[int] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)

    def record(self, steps: int, episode_return: float) -> None:
        self.steps.append(int(steps))
        self.episode_return.append(float(episode_return))

    def as_rows(self) -> list[dict[str, float]]:
        return [
            {"steps": s, "episode_return": r}
            for s, r in zip(self.steps, self.episode_return, strict=True)
        ]


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """A Box or MultiDiscrete/Discrete space as plain JSON (no pickled objects)."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": np.asarray(space.low).tolist(),
            "high": np.asarray(space.high).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": np.asarray(space.nvec).tolist()}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    raise InputError(f"cannot save a {type(space).__name__} space; expected Box or MultiDiscrete")


def space_from_json(payload: dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_json`."""
    kind = payload.get("type")
    if kind == "Box":
        return spaces.Box(
            np.asarray(payload["low"], dtype=payload["dtype"]),
            np.asarray(payload["high"], dtype=payload["dtype"]),
            dtype=payload["dtype"],
        )
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(payload["nvec"], dtype=np.int64))
    if kind == "Discrete":
        return spaces.Discrete(int(payload["n"]), start=int(payload.get("start", 0)))
    raise InputError(f"unknown space type '{kind}' in agent.json")


class Agent(ABC):
    """A policy for the promosim tasks.

    Subclasses follow scikit-learn's conventions: ``__init__`` only stores
    hyper-parameters, validated by the subclass's pydantic :attr:`Config` (every field
    with a default and a description, CleanRL-style: all of an agent's knobs in one
    place); everything learned lives in attributes set by :meth:`setup` and
    :meth:`learn`. ``self.config`` holds the validated hyper-parameters.

    :cvar name: registry key, used by the CLI and in ``agent.json``.
    :cvar action_spaces: the action space types the agent supports.
    :cvar online: True when the agent learns while it acts (bandits, A/B test).
    :cvar cohorts: number of customer cohorts the agent acts on (1 but for the A/B test).
    """

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]] = BaseModel
    action_spaces: ClassVar[tuple[type[gym.Space], ...]] = (spaces.MultiDiscrete, spaces.Box)
    online: ClassVar[bool] = False
    cohorts: int = 1

    def __init__(self, **hyperparameters: Any) -> None:
        allowed = self.Config.model_fields
        check_hyperparameters(self.name, hyperparameters, dict(allowed))
        try:
            self.config = self.Config(**hyperparameters)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise InputError(
                f"agent '{self.name}': hyper-parameter '{where}' {problem['msg'].lower()}"
            ) from None
        self.hyperparameters: dict[str, Any] = self.config.model_dump(mode="json")
        self.observation_space: gym.Space | None = None
        self.action_space: gym.Space | None = None
        self.learning_curve = LearningCurve()

    # -- set-up ---------------------------------------------------------------------

    def supports(self, action_space: gym.Space) -> bool:
        return isinstance(action_space, self.action_spaces)

    def setup(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Check the spaces and allocate the agent's state for them.

        Raises :class:`InputError` naming the space the agent does not support.
        """
        if not self.supports(action_space):
            supported = " or ".join(t.__name__ for t in self.action_spaces)
            raise InputError(
                f"agent '{self.name}' supports {supported} actions, not "
                f"{type(action_space).__name__}; choose the other action style"
            )
        self.observation_space = observation_space
        self.action_space = action_space

    def setup_for(self, env: gym.Env) -> None:
        """:meth:`setup` for ``env``'s spaces unless already set up for the same ones, then
        :meth:`bind` to it."""
        if self.action_space is None:
            self.setup(env.observation_space, env.action_space)
        elif space_to_json(env.action_space) != space_to_json(self.action_space):
            raise InputError(
                f"agent '{self.name}' was set up for action space {self.action_space}, "
                f"not {env.action_space}"
            )
        self.bind(env.unwrapped)

    def bind(self, env: gym.Env) -> None:  # noqa: B027 - optional hook
        """Read what a business knows about its own market from the unwrapped ``env``
        (list prices, unit costs, the action grid, the horizon; oracles read the whole
        market). Called before every learn and every episode; the default reads nothing."""

    # -- learning and acting --------------------------------------------------------

    @abstractmethod
    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Interact with ``env`` for ``budget`` env steps and improve the policy.

        Implementations call :meth:`setup_for` first, seed every source of randomness
        from ``seed``, call ``progress(steps_done)`` now and then, and record each
        finished episode's return in :attr:`learning_curve`. Agents that keep training
        logs or checkpoints (PPO) write them under ``log_dir`` when it is given.
        """

    @abstractmethod
    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """The action for ``observation``; with ``deterministic=False`` exploration is allowed."""

    def begin_episode(self, seed: int | None = None) -> None:  # noqa: B027 - optional hook
        """Start an evaluation episode (online agents restore their learned state)."""

    def observe(  # noqa: B027 - optional hook
        self,
        observation: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_observation: np.ndarray,
        info: dict[str, Any],
    ) -> None:
        """One transition as it happened (online agents update on it)."""

    # -- persistence ----------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything learned, as named numpy arrays (saved to ``state.npz``)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:  # noqa: B027
        """Restore what :meth:`state_arrays` returned."""

    def save_extra(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Write state that is not plain arrays (network weights) into ``directory``."""

    def load_extra(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Read what :meth:`save_extra` wrote."""

    def save(self, path: str | Path) -> Path:
        """Save into directory ``path`` (created; files replaced atomically)."""
        from sim.atomic import write_atomically

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        if self.action_space is None or self.observation_space is None:
            raise InputError(f"agent '{self.name}' has not been set up for an env; nothing to save")
        manifest = {
            "agent": self.name,
            "format_version": FORMAT_VERSION,
            "hyperparameters": self.hyperparameters,
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "learning_curve": {
                "steps": self.learning_curve.steps,
                "episode_return": self.learning_curve.episode_return,
            },
        }
        arrays = self.state_arrays()
        write_atomically(directory / "state.npz", lambda p: _save_npz(p, arrays))
        self.save_extra(directory)
        write_atomically(
            directory / "agent.json",
            lambda p: p.write_text(json.dumps(manifest, indent=2), encoding="utf-8"),
        )
        return directory

    @classmethod
    def load(cls, path: str | Path) -> Agent:
        """Load a saved agent (any registered class; see :func:`load_agent`)."""
        return load_agent(path)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


#: name -> class, filled by :func:`register_agent`.
AGENTS: dict[str, type[Agent]] = {}


def register_agent(agent_class: type[Agent]) -> type[Agent]:
    """Class decorator: make an agent available by its ``name``."""
    AGENTS[agent_class.name] = agent_class
    return agent_class


def load_agent(path: str | Path) -> Agent:
    """An agent saved by :meth:`Agent.save`; a bad or foreign directory raises InputError."""
    from agents.registry import agent_class

    directory = Path(path)
    if not (directory / "agent.json").is_file() and (directory / "model" / "agent.json").is_file():
        directory = directory / "model"  # a training directory from promosim train
    manifest_path = directory / "agent.json"
    if not directory.is_dir() or not manifest_path.is_file():
        raise InputError(f"{directory}: not a saved agent (expected a directory with agent.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        name = manifest["agent"]
        version = manifest["format_version"]
        hyperparameters = dict(manifest["hyperparameters"])
        observation_space = space_from_json(manifest["observation_space"])
        action_space = space_from_json(manifest["action_space"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise InputError(f"{manifest_path}: not a valid agent manifest ({error})") from None
    if version != FORMAT_VERSION:
        raise InputError(
            f"{manifest_path}: format_version {version}, this promosim reads {FORMAT_VERSION}"
        )
    agent = agent_class(name)(**hyperparameters)
    agent.setup(observation_space, action_space)
    curve = manifest.get("learning_curve") or {}
    agent.learning_curve = LearningCurve(
        list(curve.get("steps", [])), list(curve.get("episode_return", []))
    )
    state_path = directory / "state.npz"
    try:
        with np.load(state_path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise InputError(f"{state_path}: not a readable agent state ({error})") from None
    agent.load_state_arrays(arrays)
    agent.load_extra(directory)
    return agent


def check_hyperparameters(name: str, given: dict[str, Any], allowed: dict[str, Any]) -> None:
    """Reject unknown hyper-parameter names with the closest valid one."""
    for key in given:
        if key not in allowed:
            raise InputError(
                f"agent '{name}' has no hyper-parameter '{key}'{did_you_mean(key, list(allowed))}; "
                f"it takes: {', '.join(sorted(allowed))}"
            )

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
have one row per cohort (see :class:`sim.tasks.env.MarketEnv`).

**Saved form.** A directory holding ``agent.json`` (the agent's name, format version,
hyper-parameters and the spaces it was set up for) and the agent's state in formats
that load without running code: ``state.npz`` (``allow_pickle=False``) or, for torch
networks, a ``weights_only`` state dict. :func:`load_agent` reads ``agent.json`` and
dispatches to the registered class. It checks every file as untrusted input (types,
shapes, finite values) and raises one :class:`~sim.logs.errors.InputError` naming the file;
files that can only be read by unpickling (a stable-baselines3 ``.zip``) need the
caller's explicit ``allow_pickle=True`` (:mod:`agents.safe_load`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, ValidationError

from sim.logs.errors import InputError, did_you_mean

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


#: Element types a saved Box space may declare.
BOX_DTYPES = ("float32", "float64")


def space_from_json(payload: Any) -> gym.Space:
    """Inverse of :func:`space_to_json`; an InputError (without a file name: the caller
    adds it) when ``payload`` is not a space :func:`space_to_json` could have written."""
    if not isinstance(payload, dict):
        raise InputError(f"expected a JSON object with a 'type', not {type(payload).__name__}")
    kind = payload.get("type")
    try:
        if kind == "Box":
            return _box_from_json(payload)
        if kind == "MultiDiscrete":
            nvec = _whole_numbers(payload["nvec"], "nvec")
            if nvec.ndim != 1 or nvec.size == 0 or np.any(nvec < 1):
                raise InputError(
                    f"'nvec' must be a non-empty list of counts >= 1, got {nvec.tolist()}"
                )
            return spaces.MultiDiscrete(nvec)
        if kind == "Discrete":
            n = _whole_numbers(payload["n"], "n")
            start = _whole_numbers(payload.get("start", 0), "start")
            if n.ndim != 0 or start.ndim != 0 or int(n) < 1:
                raise InputError(
                    f"'n' must be a count >= 1 and 'start' an integer, got {n}, {start}"
                )
            return spaces.Discrete(int(n), start=int(start))
    except KeyError as error:
        raise InputError(f"a {kind} space needs '{error.args[0]}'") from None
    raise InputError(f"unknown space type {kind!r}; expected Box, MultiDiscrete or Discrete")


def _box_from_json(payload: dict[str, Any]) -> spaces.Box:
    dtype = payload["dtype"]
    if dtype not in BOX_DTYPES:
        raise InputError(f"Box 'dtype' must be one of {', '.join(BOX_DTYPES)}, got {dtype!r}")
    shape = _whole_numbers(payload["shape"], "shape")
    if shape.ndim != 1 or np.any(shape < 0):
        raise InputError(f"Box 'shape' must be a list of sizes >= 0, got {payload['shape']!r}")
    bounds = []
    for name in ("low", "high"):
        try:
            values = np.asarray(payload[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"Box '{name}' must be numbers of shape {shape.tolist()}") from None
        if values.shape != tuple(shape.tolist()) or np.isnan(values).any():
            raise InputError(
                f"Box '{name}' must be numbers (no NaN) of shape {shape.tolist()}, "
                f"got shape {list(values.shape)}"
            )
        bounds.append(values)
    low, high = bounds
    if np.any(low > high):
        raise InputError("Box 'low' exceeds 'high'")
    return spaces.Box(low.astype(dtype), high.astype(dtype), dtype=dtype)


def _whole_numbers(value: Any, name: str) -> np.ndarray:
    """``value`` (an integer or a list of them; not booleans) as an int64 array."""
    array = np.asarray(value, dtype=object)
    if not all(
        isinstance(item, int) and not isinstance(item, bool) and abs(item) < 2**62
        for item in array.reshape(-1)
    ):
        raise InputError(f"'{name}' must be integers, got {value!r}"[:200])
    return array.astype(np.int64)


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
        for key, value in self.hyperparameters.items():
            if not _all_finite(value):
                raise InputError(
                    f"agent '{self.name}': hyper-parameter '{key}' must be finite, got {value!r}"
                )
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

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """The action for ``observation``, in Stable-Baselines3's shape (its
        ``PolicyPredictor`` protocol), so that ``evaluate_policy`` and SB3 tooling take any
        promosim agent.

        :param observation: one observation of the agent's observation space, or a batch of
            them (one more leading axis, as a VecEnv hands over).
        :param state: a recurrent policy's hidden state; promosim agents are not recurrent,
            so it is handed back unchanged.
        :param episode_start: which batch rows start an episode (SB3's mask for recurrent
            state); unused, as there is no hidden state to reset. Evaluation loops start an
            episode with :meth:`begin_episode`.
        :param deterministic: the policy's best action (True) or one that may explore.
        :return: ``(action, state)``: the action (a batch of actions for a batch of
            observations) and ``state``.
        """
        values = np.asarray(observation)
        shape = self.observation_space.shape if self.observation_space is not None else None
        if shape and values.ndim == len(shape) + 1 and values.shape[1:] == shape:
            return np.stack([self._predict(row, deterministic) for row in values]), state
        return self._predict(values, deterministic), state

    @abstractmethod
    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        """The action for one ``observation``; with ``deterministic=False`` exploration is
        allowed."""

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

    def load_extra(self, directory: Path, allow_pickle: bool = False) -> None:  # noqa: B027
        """Read what :meth:`save_extra` wrote (an optional hook). ``allow_pickle``: the
        caller opted in to unpickling files that hold more than plain data (see
        :mod:`agents.safe_load`); without it such a file is refused."""

    def save(self, path: str | Path) -> Path:
        """Save into directory ``path`` (created; files replaced atomically)."""
        from sim.logs.atomic import write_atomically

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
    def load(cls, path: str | Path, allow_pickle: bool | None = None) -> Agent:
        """Load a saved agent (any registered class; see :func:`load_agent`)."""
        return load_agent(path, allow_pickle=allow_pickle)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if np.asarray(value).dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"state array '{key}' has dtype {np.asarray(value).dtype}, not numbers")
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def _all_finite(value: Any) -> bool:
    """False when ``value`` (JSON-like) holds a NaN or infinite float anywhere."""
    if isinstance(value, float):
        return bool(np.isfinite(value))
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(item) for item in value)
    return True


#: name -> class, filled by :func:`register_agent`.
AGENTS: dict[str, type[Agent]] = {}


def register_agent(agent_class: type[Agent]) -> type[Agent]:
    """Class decorator: make an agent available by its ``name``."""
    AGENTS[agent_class.name] = agent_class
    return agent_class


# -- loading -----------------------------------------------------------------------------

#: dtype kinds a saved state array may have: booleans, integers and floats.
NUMERIC_KINDS = "biuf"


class _SavedCurve(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    steps: list[int] = []
    episode_return: list[float] = []


class _Manifest(BaseModel):
    """The fields of ``agent.json`` (spaces are checked by :func:`space_from_json`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    agent: str
    format_version: int
    hyperparameters: dict[str, Any]
    observation_space: dict[str, Any]
    action_space: dict[str, Any]
    learning_curve: _SavedCurve = _SavedCurve()


def load_agent(path: str | Path, allow_pickle: bool | None = None) -> Agent:
    """An agent saved by :meth:`Agent.save`, or a stable-baselines3 PPO model.

    ``path`` is a saved agent's directory (``agent.json`` + ``state.npz``, and for PPO
    ``policy.pt``), a training directory of ``promosim train`` (its ``model/``), or a
    stable-baselines3 ``.zip`` written by ``PPO.save`` (also as ``model.zip`` in a
    training directory).

    **Safe by default.** promosim's own files load as data only: JSON, ``.npz`` with
    ``allow_pickle=False``, torch weights with ``weights_only=True``. A file that can
    only be read by unpickling it, which can run arbitrary code (a stable-baselines3
    ``.zip``, a ``policy.pt`` holding pickled objects), is refused with an InputError
    saying how to opt in, unless ``allow_pickle`` is True (or None inside
    :func:`agents.safe_load.allowing_pickle`); an opted-in load emits a
    :class:`agents.safe_load.PickleWarning`. ``.npz`` states are never unpickled.

    Everything wrong with the files (missing, empty, truncated, not JSON, wrong types,
    unknown agent, other format version, arrays of the wrong shape or type, NaN or
    infinite values) raises one InputError naming the file and what was expected.

    :param path: the directory (or ``.zip`` file) to load.
    :param allow_pickle: True to allow unpickling after a warning; False to refuse; None
        for the enclosing :func:`~agents.safe_load.allowing_pickle` (False outside one).
    """
    location = Path(path)
    if not location.exists():
        raise InputError(f"{location}: no such file or directory; expected a saved agent")
    if location.is_file():
        return _load_foreign_file(location, allow_pickle)
    if not (location / "agent.json").exists():
        if (location / "model").is_dir():
            location = location / "model"  # a training directory from promosim train
        elif (location / "model.zip").is_file():
            return _load_foreign_file(location / "model.zip", allow_pickle)
    return _load_saved_directory(location, allow_pickle)


def _load_foreign_file(path: Path, allow_pickle: bool | None) -> Agent:
    """A single file given as an agent: a stable-baselines3 PPO ``.zip`` (with consent)."""
    from agents import safe_load

    data = safe_load.stable_baselines3_data(path)
    if data is None:
        raise InputError(
            f"{path}: a file, not a saved agent; expected a directory with agent.json "
            "(Agent.save, promosim train) or a stable-baselines3 PPO .zip"
        )
    if not {"clip_range", "n_epochs"} <= set(data):
        raise InputError(
            f"{path}: a stable-baselines3 model of another algorithm than PPO; promosim "
            "loads stable-baselines3 PPO models only"
        )
    safe_load.require_consent(path, "a stable-baselines3 model is", allow_pickle)
    from agents.ppo import PPOAgent

    return PPOAgent.from_stable_baselines3_zip(path)


def _load_saved_directory(directory: Path, allow_pickle: bool | None) -> Agent:
    from agents.registry import agent_class
    from agents.safe_load import pickle_allowed

    manifest_path = directory / "agent.json"
    if not manifest_path.is_file():
        raise InputError(
            f"{directory}: not a saved agent (no agent.json; expected a directory written by "
            "Agent.save or promosim train)"
        )
    manifest = _read_manifest(manifest_path)
    try:
        observation_space = space_from_json(manifest.observation_space)
    except InputError as error:
        raise InputError(f"{manifest_path}: field 'observation_space': {error}") from None
    try:
        action_space = space_from_json(manifest.action_space)
    except InputError as error:
        raise InputError(f"{manifest_path}: field 'action_space': {error}") from None
    try:
        agent = agent_class(manifest.agent)(**manifest.hyperparameters)
        agent.setup(observation_space, action_space)
    except InputError as error:
        raise InputError(f"{manifest_path}: {error}") from None
    curve = manifest.learning_curve
    if len(curve.steps) != len(curve.episode_return):
        raise InputError(
            f"{manifest_path}: field 'learning_curve': {len(curve.steps)} steps but "
            f"{len(curve.episode_return)} episode returns"
        )
    agent.learning_curve = LearningCurve(list(curve.steps), list(curve.episode_return))
    state_path = directory / "state.npz"
    arrays = read_state_arrays(state_path)
    try:
        agent.load_state_arrays(arrays)
    except InputError as error:
        raise InputError(f"{state_path}: {error}") from None
    except KeyError as error:
        raise InputError(f"{state_path}: array {error} is missing") from None
    except (ValueError, TypeError, IndexError, np.linalg.LinAlgError) as error:
        from agents.safe_load import one_line

        raise InputError(
            f"{state_path}: not a state of agent '{agent.name}' ({one_line(error)})"
        ) from None
    agent.load_extra(directory, allow_pickle=pickle_allowed(allow_pickle))
    return agent


def _read_manifest(path: Path) -> _Manifest:
    """``agent.json`` parsed and checked: JSON object, format version, field types."""
    from agents.safe_load import one_line

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); expected the JSON manifest of a saved agent"
        ) from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({one_line(error)})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        what = (
            "empty" if not text.strip() else f"not valid JSON ({error.msg} at line {error.lineno})"
        )
        raise InputError(f"{path}: {what}; expected the JSON manifest of a saved agent") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(payload).__name__}")
    version = payload.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version != FORMAT_VERSION:
        raise InputError(
            f"{path}: format_version {version}, but this promosim reads format_version "
            f"{FORMAT_VERSION}; save the agent again with this version"
        )
    try:
        return _Manifest.model_validate(payload)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InputError(f"{path}: field '{where}': {problem['msg']}") from None


def read_state_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a saved agent's ``state.npz``, read without unpickling anything
    (``allow_pickle=False``); one InputError naming the file for anything else."""
    import zipfile
    import zlib

    from agents.safe_load import is_zip, one_line

    if not path.is_file():
        raise InputError(f"{path}: missing; a saved agent keeps its learned state there")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty (0 bytes); expected the .npz arrays of a saved agent")
    if not is_zip(path):
        raise InputError(f"{path}: not an .npz archive; expected the arrays of a saved agent")
    arrays: dict[str, np.ndarray] = {}
    key = None
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                value = archive[key]
                if not isinstance(value, np.ndarray):
                    raise InputError(f"{path}: entry '{key}' is not a .npy array")
                arrays[key] = value
    except InputError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise InputError(
                f"{path}: array '{key}' holds pickled Python objects; an agent's state is "
                "plain numbers, and promosim never unpickles a state file"
            ) from None
        raise InputError(f"{path}: not a readable .npz archive ({one_line(error)})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: truncated or damaged .npz archive ({one_line(error)})") from None
    return arrays


def state_array(
    arrays: dict[str, np.ndarray],
    key: str,
    *,
    kind: Literal["float", "int"] = "float",
    shape: tuple[int | None, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> np.ndarray:
    """Saved array ``key``, checked, as a float64 (``kind="float"``) or int64 copy.

    :param shape: the expected shape; None in a place accepts any length there.
    :param minimum, maximum: bounds every element must lie within.
    :raises InputError: naming the array (the caller, :func:`load_agent`, adds the file)
        when it is missing, not numbers (or not integers for ``kind="int"``), of another
        shape, NaN or infinite, or out of bounds.
    """
    if key not in arrays:
        raise InputError(f"array '{key}' is missing")
    value = np.asarray(arrays[key])
    allowed = "iu" if kind == "int" else "iuf"
    if value.dtype.kind not in allowed:
        wanted = "integers" if kind == "int" else "numbers"
        raise InputError(f"array '{key}' has dtype {value.dtype}, expected {wanted}")
    if shape is not None and (
        value.ndim != len(shape)
        or any(
            want is not None and got != want for got, want in zip(value.shape, shape, strict=True)
        )
    ):
        expected = tuple("any" if want is None else want for want in shape)
        raise InputError(f"array '{key}' has shape {value.shape}, expected {expected}")
    if kind == "int":
        if value.dtype.kind == "u" and value.size and value.max() > np.iinfo(np.int64).max:
            raise InputError(f"array '{key}' holds integers too large")
        result = value.astype(np.int64)
    else:
        result = value.astype(np.float64)
        if not np.all(np.isfinite(result)):
            raise InputError(f"array '{key}' holds NaN or infinite values")
    if minimum is not None and np.any(result < minimum):
        raise InputError(f"array '{key}' holds values below {minimum:g}")
    if maximum is not None and np.any(result > maximum):
        raise InputError(f"array '{key}' holds values above {maximum:g}")
    return result


def check_actions(key: str, actions: np.ndarray, space: gym.Space) -> np.ndarray:
    """Saved actions ``(rows, n)`` checked against ``space``: n its size, every row in it
    (MultiDiscrete levels in ``0 .. nvec - 1``, Box values within the bounds)."""
    size = int(np.prod(space.shape))
    if actions.ndim != 2 or actions.shape[1] != size or actions.shape[0] == 0:
        raise InputError(f"array '{key}' has shape {actions.shape}, expected (rows, {size})")
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).reshape(-1)
        if np.any(actions < 0) or np.any(actions >= nvec[None, :]):
            raise InputError(f"array '{key}' holds levels outside 0 .. {(nvec - 1).tolist()}")
    elif isinstance(space, spaces.Box):
        low, high = np.asarray(space.low).reshape(-1), np.asarray(space.high).reshape(-1)
        if np.any(actions < low[None, :]) or np.any(actions > high[None, :]):
            raise InputError(f"array '{key}' holds actions outside the action space's bounds")
    return actions


def check_hyperparameters(name: str, given: dict[str, Any], allowed: dict[str, Any]) -> None:
    """Reject unknown hyper-parameter names with the closest valid one."""
    for key in given:
        if key not in allowed:
            raise InputError(
                f"agent '{name}' has no hyper-parameter '{key}'{did_you_mean(key, list(allowed))}; "
                f"it takes: {', '.join(sorted(allowed))}"
            )

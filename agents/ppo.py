"""PPO through Stable-Baselines3, behind the promosim :class:`agents.base.Agent` interface.

Proximal Policy Optimization (Schulman et al. 2017, https://arxiv.org/abs/1707.06347)
maximises the clipped surrogate

.. math::

    L(\\theta) = \\mathbb{E}_t\\left[\\min\\left(r_t(\\theta) \\hat A_t,\\;
        \\operatorname{clip}(r_t(\\theta), 1 - \\epsilon, 1 + \\epsilon) \\hat A_t\\right)\\right],
    \\qquad r_t(\\theta) = \\frac{\\pi_\\theta(a_t \\mid s_t)}{\\pi_{\\theta_{old}}(a_t \\mid s_t)},

with advantages :math:`\\hat A_t` from generalised advantage estimation. The algorithm is
SB3's :class:`stable_baselines3.PPO`; this module only wires it to promosim:

- **Env wrappers.** ``Monitor`` (the learning curve, in profit per episode) under a
  ``DummyVecEnv`` under ``VecNormalize`` (observations always, rewards optionally). The
  end of the horizon is a real end (the business plans one year and the observation
  carries the share of the year left), so by default it is passed to SB3 as a
  termination, not a time-limit truncation that SB3 would bootstrap past.
- **Callbacks, not flags.** One callback records the learning curve and reports
  progress; with ``log_dir``, SB3's ``EvalCallback`` evaluates on a
  separate copy of the env (``VecNormalize`` frozen, statistics synced from training,
  the same episodes every time) and a checkpoint callback saves this agent (promosim's
  saved form, not SB3's pickled zip) every ``checkpoint_freq`` steps and at every new
  best evaluation.
- **Frozen normalisation.** After training, :meth:`PPOAgent.predict` normalises the
  observation with the saved running mean and variance exactly as ``VecNormalize``
  does, ``clip((obs - mean) / sqrt(var + eps), -clip_observation, clip_observation)``,
  and never updates them.
- **Saved form without pickle.** The policy's ``state_dict`` in ``policy.pt`` (read back
  with ``torch.load(weights_only=True)``) and the normalisation statistics in
  ``state.npz``; loading rebuilds SB3's ``ActorCriticPolicy`` from the saved spaces and
  hyper-parameters and loads the weights into it.
- **Models from elsewhere.** A stable-baselines3 ``.zip`` (``PPO.save``) is pickled, so
  :func:`agents.base.load_agent` takes it only with ``allow_pickle=True`` (after a
  warning), and :meth:`PPOAgent.from_stable_baselines3_zip` copies its weights into a
  promosim policy, which saves without pickle from then on.

torch and SB3 are imported here only; :mod:`agents.registry` imports this module when
``ppo`` is asked for.
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from agents.base import Agent, ProgressCallback, register_agent, state_array
from agents.safe_load import holds_pickled_objects, is_zip, one_line, require_consent
from sim.logs.errors import InputError

#: Added to the variance before its square root, as ``VecNormalize(epsilon=)`` does.
NORMALIZATION_EPSILON = 1e-8

#: File of the policy network's weights inside a saved agent's directory.
WEIGHTS_FILE = "policy.pt"

#: Offset between the training seed and the evaluation env's seed, so that the two envs
#: never draw the same episodes.
EVAL_SEED_OFFSET = 1_000_003

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


class PPOConfig(BaseModel):
    """Hyper-parameters of :class:`PPOAgent`.

    The defaults suit the promosim markets: 52-week episodes, profits of 1e3-1e5 per
    week (``VecNormalize`` brings both observations and rewards to order 1), one or a
    few products or segments per action.
    """

    model_config = ConfigDict(extra="forbid")

    n_steps: int = Field(
        2000,
        ge=2,
        description="env steps per rollout (about 38 episodes of 52 weeks); a budget is "
        "used in whole rollouts, so a multiple of it leaves nothing unused",
    )
    batch_size: int = Field(
        100, ge=2, description="minibatch size of the gradient steps (cut to the rollout's size)"
    )
    n_epochs: int = Field(10, ge=1, description="passes over each rollout")
    learning_rate: float = Field(3e-4, gt=0, description="Adam step size at the start")
    lr_schedule: Literal["constant", "linear"] = Field(
        "linear", description="learning rate constant, or falling linearly to 0 at the budget"
    )
    gamma: float = Field(
        0.99, gt=0, le=1, description="discount per period (0.99: a 100-week effective horizon)"
    )
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE bias/variance trade-off")
    clip_range: float = Field(0.2, gt=0, description="PPO's clip on the probability ratio")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus in the loss")
    vf_coef: float = Field(0.5, gt=0, description="value loss weight in the loss")
    max_grad_norm: float = Field(0.5, gt=0, description="gradient norm clip")
    target_kl: float | None = Field(
        None, gt=0, description="stop an update's epochs early above this KL (None: never)"
    )
    net_arch: list[int] = Field(
        default_factory=lambda: [64, 64],
        min_length=1,
        description="hidden layer sizes of the policy and of the value network (separate)",
    )
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden activation")
    log_std_init: float = Field(
        -0.5,
        description="continuous style: initial log standard deviation of the Gaussian policy "
        "(actions in [-1, 1]; -0.5 is a std of 0.6)",
    )
    normalize_reward: bool = Field(
        True, description="scale rewards by the running std of the discounted return"
    )
    normalize_observation: bool = Field(
        True,
        description="normalise observations by VecNormalize's running mean and variance "
        "(False: the env's observations as they are, as for a stable-baselines3 model "
        "trained without VecNormalize)",
    )
    clip_observation: float = Field(
        10.0, gt=0, description="normalised observations are clipped to +- this"
    )
    clip_reward: float = Field(10.0, gt=0, description="normalised rewards are clipped to +- this")
    finite_horizon: bool = Field(
        True,
        description="the episode's end is terminal (the value after the last period is 0) "
        "rather than a time limit SB3 bootstraps past",
    )
    eval_freq: int = Field(
        10_000, ge=0, description="with log_dir: evaluate every this many steps (0: never)"
    )
    eval_episodes: int = Field(10, ge=1, description="episodes per evaluation")
    checkpoint_freq: int = Field(
        50_000, ge=0, description="with log_dir: save the agent every this many steps (0: never)"
    )

    def policy_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of SB3's ``ActorCriticPolicy`` beyond the spaces and schedule."""
        return {
            "net_arch": {"pi": list(self.net_arch), "vf": list(self.net_arch)},
            "activation_fn": ACTIVATIONS[self.activation],
            "log_std_init": self.log_std_init,
        }

    def learning_rate_schedule(self) -> ConstantSchedule | LinearSchedule:
        """The learning rate as SB3's schedule of the share of training left."""
        if self.lr_schedule == "linear":
            return LinearSchedule(self.learning_rate, 0.0, 1.0)
        return ConstantSchedule(self.learning_rate)


@dataclass
class NormalizationStats:
    """``VecNormalize``'s running statistics: observations (per element) and discounted
    returns (a scalar), each a mean, a variance and a count."""

    observation_mean: np.ndarray
    observation_var: np.ndarray
    observation_count: float
    return_mean: float = 0.0
    return_var: float = 1.0
    return_count: float = 1e-4

    @classmethod
    def initial(cls, shape: tuple[int, ...]) -> NormalizationStats:
        """Statistics before any data, as SB3's ``RunningMeanStd`` starts them."""
        return cls(np.zeros(shape), np.ones(shape), 1e-4)

    @classmethod
    def of(cls, vec_normalize: VecNormalize) -> NormalizationStats:
        """A copy of ``vec_normalize``'s current statistics."""
        observations, returns = vec_normalize.obs_rms, vec_normalize.ret_rms
        return cls(
            np.array(observations.mean, dtype=np.float64),
            np.array(observations.var, dtype=np.float64),
            float(observations.count),
            float(returns.mean),
            float(returns.var),
            float(returns.count),
        )

    def apply_to(self, vec_normalize: VecNormalize) -> None:
        """Set ``vec_normalize``'s statistics to copies of these."""
        vec_normalize.obs_rms.mean = self.observation_mean.copy()
        vec_normalize.obs_rms.var = self.observation_var.copy()
        vec_normalize.obs_rms.count = self.observation_count
        vec_normalize.ret_rms.mean = np.float64(self.return_mean)
        vec_normalize.ret_rms.var = np.float64(self.return_var)
        vec_normalize.ret_rms.count = self.return_count

    def normalize(self, observation: np.ndarray, clip: float) -> np.ndarray:
        """``observation`` scaled as ``VecNormalize.normalize_obs`` does (float32)."""
        scaled = (observation - self.observation_mean) / np.sqrt(
            self.observation_var + NORMALIZATION_EPSILON
        )
        return np.clip(scaled, -clip, clip).astype(np.float32)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "observation_mean": self.observation_mean,
            "observation_var": self.observation_var,
            "observation_count": np.array(self.observation_count),
            "return_mean": np.array(self.return_mean),
            "return_var": np.array(self.return_var),
            "return_count": np.array(self.return_count),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], shape: tuple[int, ...]
    ) -> NormalizationStats:
        """Inverse of :meth:`as_arrays` for observations of ``shape``; InputError naming
        the array unless the shapes fit, everything is finite, variances are >= 0 and
        counts > 0."""

        def scalar(key: str, minimum: float | None = None) -> float:
            return float(state_array(arrays, key, shape=(), minimum=minimum))

        for key in ("observation_count", "return_count"):
            if scalar(key) <= 0:
                raise InputError(f"array '{key}' must be > 0")
        return cls(
            state_array(arrays, "observation_mean", shape=shape),
            state_array(arrays, "observation_var", shape=shape, minimum=0.0),
            scalar("observation_count"),
            scalar("return_mean"),
            scalar("return_var", minimum=0.0),
            scalar("return_count"),
        )


class HorizonAsTermination(gym.Wrapper):
    """Reports the end of an episode as a termination rather than a truncation.

    SB3 bootstraps a truncated episode with the value of its last observation, as if the
    business went on; a promosim episode is the whole planning horizon, after which
    nothing more is earned, so its value there is 0.
    """

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, bool(terminated or truncated), False, info


@register_agent
class PPOAgent(Agent):
    """Proximal Policy Optimization (SB3) on MultiDiscrete (discrete style) or Box
    (continuous style) actions.

    :param hyperparameters: fields of :class:`PPOConfig`.
    """

    name = "ppo"
    Config = PPOConfig
    action_spaces = (spaces.MultiDiscrete, spaces.Box)

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.config: PPOConfig
        self.policy: ActorCriticPolicy | None = None
        self.normalization: NormalizationStats | None = None
        self.steps_trained = 0

    # -- set-up ---------------------------------------------------------------------

    def setup(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Check the spaces (a Box observation, as ``VecNormalize`` needs) and start the
        normalisation statistics from SB3's initial values."""
        super().setup(observation_space, action_space)
        if not isinstance(observation_space, spaces.Box):
            raise InputError(
                f"agent 'ppo' needs a Box observation space, not {type(observation_space).__name__}"
            )
        self.normalization = NormalizationStats.initial(observation_space.shape)

    def build_policy(self) -> ActorCriticPolicy:
        """A new SB3 policy for the spaces this agent was set up for, as PPO builds it."""
        if self.observation_space is None or self.action_space is None:
            raise InputError("agent 'ppo' has not been set up for an env")
        return ActorCriticPolicy(
            self.observation_space,
            self.action_space,
            self.config.learning_rate_schedule(),
            **self.config.policy_kwargs(),
        )

    # -- learning -------------------------------------------------------------------

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Train for ``budget`` env steps, in whole rollouts of ``n_steps`` (a budget below
        ``n_steps`` is one rollout of ``budget`` steps; the remainder of a larger budget
        that does not fill a rollout is left unused).

        A second call continues from the learned weights and statistics (with a new
        optimiser). Everything random is seeded from ``seed``: Python, numpy and torch,
        the action space, the training env and (``seed`` + :data:`EVAL_SEED_OFFSET`)
        the evaluation env.

        :param env: the env to train in (not modified; wrapped for training).
        :param budget: env steps, at least 2.
        :param seed: seed of every source of randomness; None leaves them unseeded.
        :param progress: called with the env steps done after every rollout.
        :param log_dir: where TensorBoard logs (``tensorboard/``), evaluation results
            (``eval/evaluations.npz``), checkpoints (``checkpoints/step_<N>``) and the best
            evaluated agent (``best/``) go; None writes nothing.
        """
        if budget < 2:
            raise InputError(f"agent 'ppo' needs a budget of at least 2 env steps, not {budget}")
        self.setup_for(env)
        with _torch_for_small_networks():
            self._train(env, budget, seed, progress, Path(log_dir) if log_dir else None)
        return self

    def _train(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None,
        progress: ProgressCallback | None,
        log_dir: Path | None,
    ) -> None:
        n_steps = min(self.config.n_steps, budget)
        total = budget // n_steps * n_steps
        evaluation_env = copy.deepcopy(env) if log_dir is not None else None
        training_env = self._vectorize(env, training=True)
        model = PPO(
            ActorCriticPolicy,
            training_env,
            learning_rate=self.config.learning_rate_schedule(),
            n_steps=n_steps,
            batch_size=min(self.config.batch_size, n_steps),
            n_epochs=self.config.n_epochs,
            gamma=self.config.gamma,
            gae_lambda=self.config.gae_lambda,
            clip_range=self.config.clip_range,
            ent_coef=self.config.ent_coef,
            vf_coef=self.config.vf_coef,
            max_grad_norm=self.config.max_grad_norm,
            target_kl=self.config.target_kl,
            policy_kwargs=self.config.policy_kwargs(),
            tensorboard_log=str(log_dir / "tensorboard") if log_dir else None,
            seed=seed,
            device="cpu",
            verbose=0,
        )
        if self.steps_trained > 0:
            self._restore_into(model, training_env)
        callbacks: list[BaseCallback] = [_TrainingRecord(self, progress)]
        if log_dir is not None and evaluation_env is not None:
            callbacks += self._logging_callbacks(evaluation_env, seed, log_dir)
        model.learn(total, callback=CallbackList(callbacks), tb_log_name="ppo")
        self._capture(model, training_env)
        self.steps_trained += model.num_timesteps

    def _vectorize(self, env: gym.Env, training: bool) -> VecNormalize:
        """``env`` in Monitor, DummyVecEnv and VecNormalize (updating its statistics only
        when ``training``)."""
        wrapped = HorizonAsTermination(env) if self.config.finite_horizon else env
        if not is_wrapped(wrapped, Monitor):
            wrapped = Monitor(wrapped)
        vectorized = DummyVecEnv([lambda: wrapped])
        return VecNormalize(
            vectorized,
            training=training,
            norm_obs=self.config.normalize_observation,
            norm_reward=self.config.normalize_reward and training,
            clip_obs=self.config.clip_observation,
            clip_reward=self.config.clip_reward,
            gamma=self.config.gamma,
            epsilon=NORMALIZATION_EPSILON,
        )

    def _logging_callbacks(
        self, evaluation_env: gym.Env, seed: int | None, log_dir: Path
    ) -> list[BaseCallback]:
        """Evaluation (with a save of each new best) and checkpoints under ``log_dir``."""
        callbacks: list[BaseCallback] = []
        if self.config.eval_freq > 0:
            frozen = self._vectorize(evaluation_env, training=False)
            reseed = None
            if seed is not None:
                frozen.seed(seed + EVAL_SEED_OFFSET)
                reseed = _Reseed(frozen, seed + EVAL_SEED_OFFSET)
            callbacks.append(
                EvalCallback(
                    frozen,
                    callback_on_new_best=_SaveAgent(self, log_dir / "best"),
                    callback_after_eval=reseed,
                    n_eval_episodes=self.config.eval_episodes,
                    eval_freq=self.config.eval_freq,
                    log_path=str(log_dir / "eval"),
                    deterministic=True,
                    verbose=0,
                )
            )
        if self.config.checkpoint_freq > 0:
            callbacks.append(
                _Checkpoints(self, log_dir / "checkpoints", self.config.checkpoint_freq)
            )
        return callbacks

    def _capture(self, model: PPO, training_env: VecNormalize) -> None:
        """Take the policy and a copy of the normalisation statistics from training."""
        self.policy = model.policy
        self.normalization = NormalizationStats.of(training_env)

    def _restore_into(self, model: PPO, training_env: VecNormalize) -> None:
        """Start ``model`` and ``training_env`` from what this agent learned before."""
        assert self.policy is not None and self.normalization is not None
        model.policy.load_state_dict(self.policy.state_dict())
        self.normalization.apply_to(training_env)

    # -- acting ---------------------------------------------------------------------

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        """The action for one observation (1-D), normalised with the frozen statistics.

        :param observation: an observation of the env the agent learned in.
        :param deterministic: the policy's mode (True) or a sample from it.
        :return: level indices (MultiDiscrete) or values in [-1, 1] (Box).
        """
        if self.policy is None or self.normalization is None:
            raise InputError("agent 'ppo' has not learned yet; call learn or load a saved agent")
        values = np.asarray(observation, dtype=np.float64)
        expected = self.normalization.observation_mean.shape
        if values.shape != expected:
            raise InputError(
                f"agent 'ppo' expects one observation of shape {expected}, not {values.shape}"
            )
        if self.config.normalize_observation:
            values = self.normalization.normalize(values, self.config.clip_observation)
        action, _ = self.policy.predict(values.astype(np.float32), deterministic=deterministic)
        return np.asarray(action)

    # -- persistence ----------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The normalisation statistics and the number of steps trained."""
        arrays = {"steps_trained": np.array(self.steps_trained, dtype=np.int64)}
        if self.normalization is not None:
            arrays.update(self.normalization.as_arrays())
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the steps trained and the normalisation statistics (checked against
        the saved observation space; see :meth:`NormalizationStats.from_arrays`)."""
        assert self.observation_space is not None
        if "steps_trained" in arrays:
            steps = state_array(arrays, "steps_trained", kind="int", shape=(), minimum=0)
            self.steps_trained = int(steps)
        if "observation_mean" in arrays:
            shape = tuple(self.observation_space.shape or ())
            self.normalization = NormalizationStats.from_arrays(arrays, shape)

    def save_extra(self, directory: Path) -> None:
        """The policy's weights, as a ``state_dict`` of tensors (no pickled objects),
        written through a file handle so that the same weights give the same bytes."""
        if self.policy is None:
            return
        from sim.logs.atomic import write_atomically

        state = self.policy.state_dict()
        weights = {key: value.detach().cpu().clone() for key, value in state.items()}

        def write(path: Path) -> None:
            with path.open("wb") as handle:
                torch.save(weights, handle)

        write_atomically(directory / WEIGHTS_FILE, write)

    def load_extra(self, directory: Path, allow_pickle: bool = False) -> None:
        """Rebuild the policy from the spaces and hyper-parameters and load its weights.

        ``policy.pt`` is read with ``torch.load(weights_only=True)``: tensors only, no
        code. A ``policy.pt`` that holds pickled objects (a whole policy module saved with
        ``torch.save(policy)``) is refused unless ``allow_pickle`` (then unpickled after
        a :class:`agents.safe_load.PickleWarning`, and its ``state_dict`` used). Weights
        that are damaged, of another architecture, or not finite raise InputError.
        """
        path = directory / WEIGHTS_FILE
        if not path.exists():
            if self.steps_trained > 0:
                raise InputError(
                    f"{path}: missing; the agent was trained for {self.steps_trained} steps "
                    "and its policy's weights belong there"
                )
            return  # saved before learning
        weights = _read_weights(path, allow_pickle)
        policy = self.build_policy()
        try:
            policy.load_state_dict(weights)
        except (RuntimeError, KeyError, ValueError, TypeError) as error:
            raise InputError(
                f"{path}: not weights of this agent's policy ({one_line(error)})"
            ) from None
        for name, tensor in policy.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise InputError(f"{path}: tensor '{name}' holds NaN or infinite values")
        policy.set_training_mode(False)
        self.policy = policy

    @classmethod
    def from_stable_baselines3_zip(cls, path: Path) -> PPOAgent:
        """A stable-baselines3 PPO model saved by ``PPO.save`` as a promosim agent.

        Unpickles the zip (the caller asked the user first: :func:`agents.base.load_agent`),
        then copies the policy's weights into a policy promosim builds itself from the
        same spaces and architecture, so that the agent saves and loads without pickle
        from then on. The zip holds no ``VecNormalize`` statistics, so observations are
        passed as they are (``normalize_observation=False``); a model trained on
        normalised observations needs promosim's own training instead.
        """
        try:
            model = PPO.load(path, device="cpu")
        except Exception as error:  # any failure of a foreign file is bad input
            raise InputError(
                f"{path}: stable-baselines3 could not load it ({one_line(error)})"
            ) from None
        sb3_policy = model.policy
        architecture = sb3_policy.net_arch
        if isinstance(architecture, dict):
            actor, critic = list(architecture.get("pi", [])), list(architecture.get("vf", []))
        else:
            actor = critic = list(architecture)
        activation = next(
            (name for name, fn in ACTIVATIONS.items() if fn is sb3_policy.activation_fn), None
        )
        if actor != critic or not actor or activation is None:
            raise InputError(
                f"{path}: a policy with actor {actor}, critic {critic} and activation "
                f"{sb3_policy.activation_fn.__name__}; promosim's PPO rebuilds equal actor "
                f"and critic networks with {' or '.join(ACTIVATIONS)} activations"
            )
        try:
            agent = cls(
                net_arch=actor,
                activation=activation,
                log_std_init=float(getattr(sb3_policy, "log_std_init", -0.5)),
                normalize_observation=False,
            )
            agent.setup(model.observation_space, model.action_space)
        except InputError as error:
            raise InputError(f"{path}: {error}") from None
        policy = agent.build_policy()
        try:
            policy.load_state_dict(sb3_policy.state_dict())
        except RuntimeError as error:
            raise InputError(
                f"{path}: its policy does not fit promosim's PPO policy ({one_line(error)})"
            ) from None
        policy.set_training_mode(False)
        agent.policy = policy
        agent.steps_trained = int(model.num_timesteps)
        return agent


def _damage(path: Path, error: BaseException) -> str:
    """What is wrong with a weights file that torch could not read and that is no
    well-formed pickle either."""
    if not is_zip(path):
        return "not a torch weights file (neither a torch archive nor a pickle)"
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return "truncated or damaged torch archive (not a complete zip file)"
    return f"not a torch weights file ({one_line(error)[:160]})"


def _read_weights(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """A state dict from ``path``: ``torch.load(weights_only=True)``; a file of pickled
    objects only with ``allow_pickle`` (warned); InputError naming the file otherwise."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty (0 bytes); expected the policy's weights (torch)")
    try:
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        if not holds_pickled_objects(path):
            raise InputError(f"{path}: {_damage(path, error)}") from None
        require_consent(path, "a policy file that holds more than tensors is", allow_pickle)
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # the file's own code may raise anything
            raise InputError(f"{path}: could not be unpickled ({one_line(error)})") from None
        if isinstance(loaded, torch.nn.Module):
            loaded = loaded.state_dict()
    if not isinstance(loaded, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise InputError(
            f"{path}: holds a {type(loaded).__name__}, not a state dict of named tensors"
        )
    return loaded


@contextmanager
def _torch_for_small_networks() -> Iterator[None]:
    """One torch thread (threads cost more than they gain on networks this small, and one
    thread keeps CPU results reproducible) and no argument checks in torch.distributions
    (about a third of the training time on these tasks); both restored on exit."""
    threads = torch.get_num_threads()
    validate = torch.distributions.Distribution._validate_args
    torch.set_num_threads(1)
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.distributions.Distribution.set_default_validate_args(validate)


class _TrainingRecord(BaseCallback):
    """Records each finished training episode's profit (from Monitor) in the agent's
    learning curve and reports progress after every rollout."""

    def __init__(self, agent: PPOAgent, progress: ProgressCallback | None) -> None:
        super().__init__()
        self.agent = agent
        self.progress = progress

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is not None:
                steps = self.agent.steps_trained + self.num_timesteps
                self.agent.learning_curve.record(steps, float(episode["r"]))
        return True

    def _on_rollout_end(self) -> None:
        if self.progress is not None:
            self.progress(self.num_timesteps)


class _SaveAgent(BaseCallback):
    """Saves the agent, as it is at this point of training, into ``directory``."""

    def __init__(self, agent: PPOAgent, directory: Path) -> None:
        super().__init__()
        self.agent = agent
        self.directory = directory

    def _on_step(self) -> bool:
        self.save(self.directory)
        return True

    def save(self, directory: Path) -> None:
        training_env = self.model.get_vec_normalize_env()
        assert training_env is not None
        saved_policy, saved_stats = self.agent.policy, self.agent.normalization
        saved_steps = self.agent.steps_trained
        try:
            self.agent._capture(self.model, training_env)
            self.agent.steps_trained = saved_steps + self.model.num_timesteps
            self.agent.save(directory)
        finally:
            self.agent.policy, self.agent.normalization = saved_policy, saved_stats
            self.agent.steps_trained = saved_steps


class _Checkpoints(_SaveAgent):
    """Saves the agent into ``directory/step_<N>`` every ``every`` env steps.

    A checkpoint is taken where the policy has been trained on every step collected so
    far: at the first rollout boundary at or after each multiple of ``every`` (so N is a
    multiple of ``n_steps``), and at the end of training.
    """

    def __init__(self, agent: PPOAgent, directory: Path, every: int) -> None:
        super().__init__(agent, directory)
        self.every = every
        self.saved_at = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self.saved_at >= self.every:
            self._checkpoint()

    def _on_training_end(self) -> None:
        if self.model.num_timesteps > self.saved_at:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.saved_at = self.model.num_timesteps
        self.save(self.directory / f"step_{self.agent.steps_trained + self.saved_at}")


class _Reseed(BaseCallback):
    """Re-seeds the evaluation env after every evaluation, so that every evaluation
    plays the same episodes (common random numbers across the learning curve)."""

    def __init__(self, env: VecEnv, seed: int) -> None:
        super().__init__()
        self.env = env
        self.seed = seed

    def _on_step(self) -> bool:
        self.env.seed(self.seed)
        return True

r"""``promosim ope validate``: how far is each estimator from the truth the simulator knows?

For each of ``seeds`` seeds, :func:`validate` logs ``n`` decisions under the behaviour
policy :math:`\mu` (:func:`experiments.ope.collect.log_decisions`), estimates the
target :math:`\pi`'s value on that log with every estimator
(:mod:`experiments.ope.run`), and compares each estimate with the truth:

.. math:: V(\pi) = \frac{1}{H}\, \mathbb{E}_\pi\Big[\sum_{t=0}^{H-1} r_t\Big],

the target's expected profit per period when it runs the market itself, from the
market's starting state, for whole episodes of H periods. It is measured once by
Monte Carlo, ``truth_episodes`` episodes of the target on-policy (seeded apart from
the logs), with standard error :math:`s / (H \sqrt{K})` over K episodes (``s`` the
standard deviation of an episode's return). For a constant target the oracle's
certainty-equivalent value (:func:`sim.oracles.fixed_action_value` / H) is reported
beside it; it is not used as the truth because it follows expected paths (churn,
competitor) rather than random ones and so differs from the simulator's mean by a
little (0.2 % for the status quo on ``default``).

Per estimator, over seeds: the median and mean relative error
:math:`|\hat V - V| / |V|`, and the coverage, the share of seeds whose interval
contains :math:`V`.

**Which value do the bandit estimators estimate?** The value of the target *in the
logged states*, :math:`\bar V_\mu(\pi) = \mathbb{E}_{x \sim d_\mu} \sum_a \pi(a \mid x)\,
\mathbb{E}[r \mid x, a]`, where :math:`d_\mu` is the distribution of states the
*logger* visits. When the market has dynamics (reference prices, pantry, churn) and
the target would move the state elsewhere, this differs from :math:`V(\pi)`. With
``logged_state=True`` the log also records, at every logged state, one period's reward
of the target's own action from a copy of the env; its mean estimates
:math:`\bar V_\mu(\pi)`, and the report gives each estimator's error and coverage
against it too. The sequential estimators target :math:`V(\pi)` itself, at the price
of weights that multiply over the episode.

**Measured** on ``default`` Pricing (4 segments x 20 products, every effect on), logger
``epsilon:0.1:status-quo``, 10,000 decisions per seed (192 whole episodes of 52 weeks
and 16 rows), 20 seeds, gradient-boosted reward model, 200 episode resamples; truth from
1,000 on-policy episodes (standard error 0.014 % of the value):

- target ``status-quo`` (close to the logger): truth 23,537 per week; its value in the
  logged states is 23,260, **1.2 % lower** (the logger's price moves leave reference
  prices and active customers slightly worse for it). Bandit DR: median relative error
  1.15 %, but its intervals (width 0.33 %) cover the truth in 0 of 20 seeds, while they
  cover the logged-state value in 20 of 20 (median error 0.015 %). Sequential DR:
  median error 0.26 %, coverage 18 of 20 (90 %), interval width 1.7 %; WDR 0.12 %, 17
  of 20; FQE alone is 2.2 % low. The issue's figure (error <= 5 %, coverage >= 90 %)
  is met by sequential DR, not by bandit DR.
- target ``best-fixed`` (far: per-product prices up to 1.3, logged with probability
  0.1 / 8 per decision): truth 27,896; logged-state value 23,731, **14.9 % lower**, as
  reference prices that never rose make its prices look like losses. Bandit DR is 14.9 %
  off the truth (coverage 0) but 0.19 % off the logged-state value (coverage 19 of 20).
  No logged episode follows best-fixed for 52 weeks (probability 0.0125^52), so the
  sequential weights vanish and sequential DR rests on its Q model: 17.6 % off,
  coverage 1 of 20.

On ``stationary`` (the same market without dynamics, where both values coincide), the
same setting gives bandit DR a median error of 0.01 % and coverage 20 of 20 for the
status quo, and 0.15 % and 16 of 20 for best-fixed (effective sample size about 1 % of
the rows).

So on a market with dynamics, read a bandit estimate as "this policy's profit in the
weeks the logger saw", not as its long-run profit; a target that moves the state far
from the logger's needs logs in which it was followed for whole episodes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from experiments.ope.collect import COUNTERFACTUAL_REWARD, log_decisions
from experiments.ope.estimators import CONFIDENCE, N_BOOTSTRAP, Estimate, check_bootstrap
from experiments.ope.logs import load_logged_decisions
from experiments.ope.policies import ArmPolicy, DeterministicPolicy, build_policies
from experiments.ope.run import (
    BANDIT,
    BootstrapUnit,
    EstimatorChoice,
    OPERow,
    choose_estimators,
    estimate_rows,
)
from sim.logs.errors import InputError
from sim.tasks.env import DEFAULT_HORIZON, MarketEnv

#: Default Monte Carlo episodes of the target on-policy for the truth.
TRUTH_EPISODES = 500
#: Issue 8's figure: median relative error at most 5 %, intervals covering the truth in
#: at least 90 % of seeds.
TARGET_RELATIVE_ERROR = 0.05
TARGET_COVERAGE = 0.90
#: Distinguishes the truth's episode seeds from the logs' (see :func:`on_policy_value`).
_TRUTH_STREAM = 8_1_0_8


# --------------------------------------------------------------------------- the truth


@dataclass(frozen=True)
class Truth:
    """The target's on-policy value per period, by Monte Carlo."""

    value: float
    std_error: float
    episodes: int
    oracle_value: float | None = None

    @property
    def relative_std_error(self) -> float:
        return self.std_error / abs(self.value) if self.value else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "std_error": self.std_error,
            "relative_std_error": self.relative_std_error,
            "episodes": self.episodes,
            "method": "monte carlo, target on-policy",
            "oracle_value": self.oracle_value,
        }


def on_policy_value(env: MarketEnv, policy: ArmPolicy, episodes: int, seed: int = 0) -> Truth:
    r"""Mean profit per period of ``policy`` over ``episodes`` whole episodes of ``env``.

    Episode seeds and the policy's draws come from ``SeedSequence([8108, seed])``, a
    stream apart from the logs'. The standard error is
    :math:`\mathrm{sd}(G_e) / (H \sqrt{K})` over the K episode returns :math:`G_e`.
    """
    if episodes < 2:
        raise InputError(f"truth_episodes must be >= 2, got {episodes}")
    env_stream, action_stream = np.random.SeedSequence([_TRUTH_STREAM, seed]).spawn(2)
    rng = np.random.default_rng(action_stream)
    returns = np.empty(episodes)
    for episode, episode_seed in enumerate(env_stream.generate_state(episodes)):
        observation, _ = env.reset(seed=int(episode_seed))
        total, done = 0.0, False
        while not done:
            arm, _ = policy.sample(observation, rng)
            observation, reward, terminated, truncated, _ = env.step(policy.arms.actions[arm])
            total += reward
            done = terminated or truncated
        returns[episode] = total
    horizon = env.horizon
    return Truth(
        value=float(returns.mean()) / horizon,
        std_error=float(returns.std(ddof=1) / math.sqrt(episodes)) / horizon,
        episodes=episodes,
        oracle_value=_oracle_value(env, policy),
    )


def _oracle_value(env: MarketEnv, policy: ArmPolicy) -> float | None:
    """The certainty-equivalent value per period of a constant target, else None."""
    if not isinstance(policy, DeterministicPolicy):
        return None
    plan = getattr(policy.agent, "plan", None)
    if plan is None or len(plan) != 1:
        return None
    from sim import oracles

    action = env.to_market_action(np.asarray(plan[0]))
    return float(oracles.fixed_action_value(env.params, action, env.horizon, env.guardrails)[0]) / (
        env.horizon
    )


# --------------------------------------------------------------------------- one seed


@dataclass(frozen=True)
class SeedRun:
    """One seed: every estimator's row, and the logged-state value when measured."""

    seed: int
    rows: tuple[OPERow, ...]
    behavior_value: float
    logged_state_value: float | None
    logged_state_std_error: float | None
    seconds: float


def _run_seed(
    env: MarketEnv,
    behavior: ArmPolicy,
    target: ArmPolicy,
    seed: int,
    settings: _Settings,
) -> SeedRun:
    started = time.perf_counter()
    counterfactual = target if settings.logged_state else None
    frame = log_decisions(env, behavior, settings.n, seed, counterfactual=counterfactual)
    logs = load_logged_decisions(frame, n_actions=behavior.n_arms)
    probabilities = target.probability_table(logs.context.astype(np.float32))
    rows, _ = estimate_rows(
        logs,
        probabilities,
        settings.choice,
        horizon=env.horizon,
        reward_model=settings.reward_model,
        bootstrap_unit=settings.bootstrap_unit,
        n_bootstrap=settings.n_bootstrap,
        seed=seed,
    )
    logged, logged_error = None, None
    if COUNTERFACTUAL_REWARD in frame:
        counterfactual_reward = frame[COUNTERFACTUAL_REWARD].to_numpy()
        logged = float(counterfactual_reward.mean())
        logged_error = _clustered_std_error(counterfactual_reward, logs.episode)
    return SeedRun(
        seed=seed,
        rows=tuple(rows),
        behavior_value=float(logs.reward.mean()),
        logged_state_value=logged,
        logged_state_std_error=logged_error,
        seconds=time.perf_counter() - started,
    )


def _clustered_std_error(values: np.ndarray, episode: np.ndarray | None) -> float:
    r"""Standard error of the mean of ``values`` with episodes as independent units:
    :math:`\sqrt{\sum_e (S_e - \bar v\, c_e)^2} / n` (sums :math:`S_e`, sizes :math:`c_e`)."""
    if episode is None:
        return float(values.std(ddof=1) / math.sqrt(values.size))
    sums = np.bincount(episode, weights=values)
    sizes = np.bincount(episode)
    residual = sums - values.mean() * sizes
    groups = sums.size
    return float(math.sqrt(np.sum(residual**2) * groups / max(groups - 1, 1)) / values.size)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class EstimatorAccuracy:
    """One estimator's accuracy over seeds, against the truth (and the logged-state value).

    Relative errors are :math:`|\\hat V - V| / |V|`; coverage is the share of seeds
    whose interval contains V (an undefined interval does not).
    """

    estimator: str
    kind: str
    n_seeds: int
    mean_estimate: float
    median_relative_error: float
    mean_relative_error: float
    coverage: float
    mean_relative_ci_width: float
    median_relative_error_logged: float | None = None
    coverage_logged: float | None = None

    @property
    def label(self) -> str:
        return f"{self.estimator} ({self.kind})"

    @property
    def meets_targets(self) -> bool:
        """Median relative error <= :data:`TARGET_RELATIVE_ERROR` and coverage >=
        :data:`TARGET_COVERAGE` (issue 8's figure)."""
        return bool(
            self.median_relative_error <= TARGET_RELATIVE_ERROR and self.coverage >= TARGET_COVERAGE
        )

    def as_dict(self) -> dict[str, Any]:
        values = {key: _clean(value) for key, value in self.__dict__.items()}
        return {**values, "meets_targets": self.meets_targets}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite_stat(statistic: Callable[[np.ndarray], Any], values: np.ndarray) -> float:
    """``statistic`` of the finite ``values`` (NaN when there are none)."""
    finite = values[np.isfinite(values)]
    return float(statistic(finite)) if finite.size else math.nan


def _errors_and_coverage(
    estimates: Sequence[Estimate], reference: np.ndarray
) -> tuple[np.ndarray, float]:
    """Relative errors against ``reference`` (one value, or one per seed) and the coverage."""
    values = np.array([estimate.value for estimate in estimates], dtype=float)
    low = np.array([estimate.ci_low for estimate in estimates], dtype=float)
    high = np.array([estimate.ci_high for estimate in estimates], dtype=float)
    with np.errstate(invalid="ignore"):
        errors = np.abs(values - reference) / np.abs(reference)
        covered = (low <= reference) & (reference <= high)
    return errors, float(covered.mean())


def _accuracy(
    estimates: Sequence[Estimate], truth: float, logged: Sequence[float] | None
) -> dict[str, float | None]:
    values = np.array([estimate.value for estimate in estimates], dtype=float)
    widths = np.array([estimate.ci_high - estimate.ci_low for estimate in estimates], dtype=float)
    errors, coverage = _errors_and_coverage(estimates, np.asarray(truth))
    result: dict[str, float | None] = {
        "mean_estimate": _finite_stat(np.mean, values),
        "median_relative_error": _finite_stat(np.median, errors),
        "mean_relative_error": _finite_stat(np.mean, errors),
        "coverage": coverage,
        "mean_relative_ci_width": _finite_stat(np.mean, widths / abs(truth)),
    }
    if logged is not None:
        logged_errors, logged_coverage = _errors_and_coverage(estimates, np.asarray(logged))
        result["median_relative_error_logged"] = _finite_stat(np.median, logged_errors)
        result["coverage_logged"] = logged_coverage
    return result


def summarise_runs(runs: Sequence[SeedRun], truth: float) -> tuple[EstimatorAccuracy, ...]:
    """Each estimator's accuracy over ``runs`` against ``truth`` (per decision)."""
    if not runs:
        return ()
    logged = [run.logged_state_value for run in runs]
    logged_values = None if any(value is None for value in logged) else logged
    summaries = []
    for position, row in enumerate(runs[0].rows):
        estimates = [run.rows[position].estimate for run in runs]
        summaries.append(
            EstimatorAccuracy(
                estimator=row.estimate.estimator,
                kind=row.kind,
                n_seeds=len(runs),
                **_accuracy(estimates, truth, logged_values),  # type: ignore[arg-type]
            )
        )
    return tuple(summaries)


@dataclass(frozen=True)
class ValidationReport:
    """Each estimator's error against the simulator's truth over seeds (see the module)."""

    market: str
    task: str
    behavior: str
    target: str
    n: int
    horizon: int
    n_arms: int
    n_bootstrap: int
    reward_model: str
    truth: Truth
    accuracy: tuple[EstimatorAccuracy, ...]
    runs: tuple[SeedRun, ...]
    seconds: float

    def accuracy_of(self, estimator: str, kind: str = BANDIT) -> EstimatorAccuracy:
        for accuracy in self.accuracy:
            if accuracy.estimator == estimator and accuracy.kind == kind:
                return accuracy
        raise KeyError(f"{estimator} ({kind})")

    @property
    def logged_state_value(self) -> float | None:
        """Mean over seeds of the target's value in the logged states, when measured."""
        values = [run.logged_state_value for run in self.runs]
        if not values or any(value is None for value in values):
            return None
        return float(np.mean(values))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "task": self.task,
            "behavior": self.behavior,
            "target": self.target,
            "n": self.n,
            "seeds": len(self.runs),
            "horizon": self.horizon,
            "n_arms": self.n_arms,
            "n_bootstrap": self.n_bootstrap,
            "reward_model": self.reward_model,
            "unit": "mean reward per decision",
            "truth": self.truth.as_dict(),
            "logged_state_value": self.logged_state_value,
            "behavior_value": float(np.mean([run.behavior_value for run in self.runs])),
            "accuracy": [accuracy.as_dict() for accuracy in self.accuracy],
            "per_seed": [
                {
                    "seed": run.seed,
                    "seconds": run.seconds,
                    "logged_state_value": run.logged_state_value,
                    "estimates": {
                        row.label: {
                            key: _clean(getattr(row.estimate, key))
                            for key in ("value", "ci_low", "ci_high")
                        }
                        for row in run.rows
                    },
                }
                for run in self.runs
            ],
            "seconds": self.seconds,
        }


# --------------------------------------------------------------------------- the entry


@dataclass(frozen=True)
class _Settings:
    n: int
    choice: EstimatorChoice
    n_bootstrap: int
    reward_model: str
    bootstrap_unit: BootstrapUnit
    logged_state: bool


def validate(
    market: str,
    task: str,
    behavior_spec: str,
    target_spec: str,
    n: int = 10_000,
    seeds: int = 20,
    estimators: str | Sequence[str] = "all",
    n_bootstrap: int = N_BOOTSTRAP,
    *,
    horizon: int = DEFAULT_HORIZON,
    truth_episodes: int = TRUTH_EPISODES,
    reward_model: str = "hgb",
    seed: int = 0,
    logged_state: bool = False,
    bootstrap_unit: BootstrapUnit = "episode",
    threads: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """``promosim ope validate``: each estimator's error against the on-policy truth.

    Parameters
    ----------
    market, task, horizon
        The discrete env (:class:`agents.task.TaskSpec`: no per-period price change limit).
    behavior_spec, target_spec
        Policy specs (:mod:`experiments.ope.policies`); both act on one arm set, the env's
        arms plus every action either's deterministic base takes.
    n, seeds, seed
        Decisions per log, and the seeds ``seed .. seed + seeds - 1`` (each seeds its log,
        reward-model folds and bootstrap).
    estimators, n_bootstrap, reward_model, bootstrap_unit
        As :func:`experiments.ope.run.run_ope`.
    truth_episodes
        Monte Carlo episodes of the target on-policy for the truth.
    logged_state
        Also measure the target's value in the logged states (module docstring); costs
        a copy of the env per logged decision.
    threads
        BLAS/OpenMP threads for the fits (``threadpoolctl``); 1 avoids oversubscription on
        small shared machines, None leaves the libraries' defaults.
    progress
        Called with the number of seeds done.
    """
    from agents.task import TaskSpec

    check_bootstrap(n_bootstrap, CONFIDENCE)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise InputError(f"seeds must be a whole number >= 1, got {seeds!r}")
    started = time.perf_counter()
    env = TaskSpec(market=market, task=task, action_style="discrete", horizon=horizon).make_env()
    behavior, target = build_policies([behavior_spec, target_spec], env).policies
    choice = choose_estimators(estimators, episodic=True)
    settings = _Settings(n, choice, n_bootstrap, reward_model, bootstrap_unit, logged_state)
    with threadpool_limits(threads):
        truth = on_policy_value(env, target, truth_episodes, seed)
        runs = []
        for done, run_seed in enumerate(range(seed, seed + seeds), start=1):
            runs.append(_run_seed(env, behavior, target, run_seed, settings))
            if progress is not None:
                progress(done)
    return ValidationReport(
        market=market,
        task=task,
        behavior=behavior_spec,
        target=target_spec,
        n=n,
        horizon=env.horizon,
        n_arms=behavior.n_arms,
        n_bootstrap=n_bootstrap,
        reward_model=reward_model,
        truth=truth,
        accuracy=summarise_runs(runs, truth.value),
        runs=tuple(runs),
        seconds=time.perf_counter() - started,
    )

r"""Timing figure of issue 8: every bandit estimator, 200 bootstrap resamples, 100,000 decisions.

``python -m experiments.bench.ope [--rows 100000] [--bootstrap 200] [--json]``

The log is synthetic (:func:`synthetic_log`, seeded): d = 10 standard normal context
features, A = 10 actions, a logging policy that mixes a softmax of the context with
uniform exploration, and linear rewards with unit noise:

.. math:: \mu(a \mid x) = 0.8\, \mathrm{softmax}(x W_\mu)_a + 0.2 / A, \qquad
          r = x^\top \theta_a + \varepsilon, \quad \varepsilon \sim N(0, 1),

and the target is :math:`\mathrm{softmax}(x W_\pi)`. What is timed is
:func:`experiments.ope.estimators.evaluate` with every bandit estimator
(``estimators_by_name("all")``: DM, IPS, SNIPS, DR, SNDR, Switch-DR and DR-os, the last
two choosing their hyper-parameter by SLOPE), the default cross-fitted gradient-boosted
reward model (5 folds) and ``n_bootstrap`` resamples, split into its two parts: the
reward model, and the estimators with their bootstrap given the model.

The machines here are shared and noisy, so each part is read against a reference
measured in the same run on the same data:

- the reward model against **one** fit of the same regressor on the whole log (the
  features ``[context, one-hot(action)]``): cross-fitting costs about five fits on 4/5
  of the rows plus predicting every action for every row;
- the estimators and bootstrap against a plain numpy bootstrap of the mean reward over
  as many resamples (index draws and a gather per resample), the least any bootstrap
  over the rows can cost.

Fits run on one BLAS/OpenMP thread (``threadpoolctl``), as on this 2-core shared
machine more threads made the gradient-boosted fits several times slower. Above 10,000
rows scikit-learn's gradient boosting stops early on a validation split (its
``early_stopping="auto"``), so 100,000 rows take about as long as 10,000.

Measured here (shared 2-core machine, three runs): 10.3 to 13.5 s in all, of which the
reward model 9.9 to 12.9 s (5.6 to 8.7 one fits) and the estimators with their bootstrap
0.36 to 0.62 s (3.0 to 7.3 numpy bootstraps of the mean).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from experiments.ope.estimators import (
    N_BOOTSTRAP,
    action_features,
    cross_fit_reward_model,
    evaluate,
    make_reward_model,
)
from experiments.ope.logs import LoggedDecisions
from experiments.ope.selection import estimators_by_name

#: The issue's figure: rows of the synthetic log.
ROWS = 100_000
CONTEXT_SIZE = 10
N_ACTIONS = 10
#: Share of the logging policy that is uniform exploration.
EXPLORATION = 0.2


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, A) scores."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SyntheticBandit:
    """The synthetic contextual bandit of the module docstring; parameters from ``seed``."""

    seed: int = 0
    n_actions: int = N_ACTIONS
    context_size: int = CONTEXT_SIZE

    @cached_property
    def parameters(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 7])
        shape = (self.context_size, self.n_actions)
        return {
            "logger": rng.normal(0, 0.5, shape),
            "theta": rng.normal(0, 0.5, (self.n_actions, self.context_size)),
            "target": rng.normal(0, 0.5, shape),
        }

    def logger(self, context: np.ndarray) -> np.ndarray:
        """The logging policy's probabilities, (n, A)."""
        mixed = (1 - EXPLORATION) * softmax(context @ self.parameters["logger"])
        return mixed + EXPLORATION / self.n_actions

    def values(self, probabilities: np.ndarray, context: np.ndarray) -> np.ndarray:
        r"""Per context, :math:`\sum_a \pi(a \mid x)\, x^\top \theta_a` (the expected reward)."""
        return np.sum(probabilities * (context @ self.parameters["theta"].T), axis=1)

    def sample(self, rows: int, seed: int) -> tuple[LoggedDecisions, np.ndarray]:
        """A log of ``rows`` decisions drawn with ``seed``, and the target's probabilities."""
        rng = np.random.default_rng(seed)
        context = rng.standard_normal((rows, self.context_size))
        logging = self.logger(context)
        draw = rng.random((rows, 1))
        action = np.minimum((logging.cumsum(axis=1) < draw).sum(axis=1), self.n_actions - 1)
        mean = np.einsum("ij,ij->i", context, self.parameters["theta"][action])
        reward = mean + rng.standard_normal(rows)
        logs = LoggedDecisions(
            context, action, reward, logging[np.arange(rows), action], n_actions=self.n_actions
        )
        return logs, softmax(context @ self.parameters["target"])


def synthetic_log(
    rows: int = ROWS, seed: int = 0, n_actions: int = N_ACTIONS
) -> tuple[LoggedDecisions, np.ndarray]:
    """A synthetic log and a target policy's probabilities (see the module docstring)."""
    return SyntheticBandit(seed, n_actions).sample(rows, seed)


def _seconds(job: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = job()
    return time.perf_counter() - started, result


def _numpy_bootstrap(reward: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """The plain bootstrap of a mean: draw n indices, gather, average; per resample."""
    rng = np.random.default_rng(seed)
    return np.array(
        [reward[rng.integers(0, reward.size, reward.size)].mean() for _ in range(n_bootstrap)]
    )


@dataclass(frozen=True)
class OPEBenchmark:
    """Seconds of each part of the OPE run and of its same-run references."""

    rows: int
    n_bootstrap: int
    estimators: tuple[str, ...]
    total_seconds: float
    reward_model_seconds: float
    estimators_seconds: float
    one_fit_seconds: float
    numpy_bootstrap_seconds: float

    @property
    def reward_model_ratio(self) -> float:
        """Cross-fitted reward model / one fit of the same regressor on all rows."""
        return self.reward_model_seconds / self.one_fit_seconds

    @property
    def estimators_ratio(self) -> float:
        """Every estimator with its bootstrap / a plain numpy bootstrap of the mean."""
        return self.estimators_seconds / self.numpy_bootstrap_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "reward_model_ratio": round(self.reward_model_ratio, 2),
            "estimators_ratio": round(self.estimators_ratio, 2),
        }

    def summary(self) -> str:
        return (
            f"{len(self.estimators)} bandit estimators, {self.n_bootstrap} bootstrap resamples, "
            f"{self.rows:,} logged decisions: {self.total_seconds:.1f} s; reward model "
            f"{self.reward_model_seconds:.1f} s ({self.reward_model_ratio:.1f}x one fit, "
            f"{self.one_fit_seconds:.1f} s), estimators + bootstrap "
            f"{self.estimators_seconds:.2f} s ({self.estimators_ratio:.1f}x a numpy bootstrap "
            f"of the mean, {self.numpy_bootstrap_seconds:.2f} s)"
        )


def bench_ope(
    rows: int = ROWS, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0, threads: int | None = 1
) -> OPEBenchmark:
    """Time every bandit estimator on a synthetic log of ``rows`` decisions (module docstring)."""
    logs, target = synthetic_log(rows, seed)
    estimators = estimators_by_name("all")
    with threadpool_limits(threads):
        fit_seconds, _ = _seconds(
            lambda: clone(make_reward_model("hgb", seed)).fit(
                action_features(logs.context, logs.action, logs.n_actions), logs.reward
            )
        )
        floor_seconds, _ = _seconds(lambda: _numpy_bootstrap(logs.reward, n_bootstrap, seed))
        model_seconds, q_hat = _seconds(lambda: cross_fit_reward_model(logs, seed=seed))
        estimate_seconds, _ = _seconds(
            lambda: evaluate(logs, target, estimators, q_hat=q_hat, n_bootstrap=n_bootstrap)
        )
    return OPEBenchmark(
        rows=rows,
        n_bootstrap=n_bootstrap,
        estimators=tuple(estimator.name for estimator in estimators),
        total_seconds=model_seconds + estimate_seconds,
        reward_model_seconds=model_seconds,
        estimators_seconds=estimate_seconds,
        one_fit_seconds=fit_seconds,
        numpy_bootstrap_seconds=floor_seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="logged decisions")
    parser.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP, help="resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args(argv)
    result = bench_ope(arguments.rows, arguments.bootstrap, arguments.seed)
    if arguments.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(result.summary())


if __name__ == "__main__":
    main()

r"""Coverage of the OPE intervals and the gate's false-recommendation rate, by simulation.

``python -m experiments.bench.ope_coverage [--replications 100] [--quick] [--json]``

**Bandit.** A fixed contextual bandit (:class:`~experiments.bench.ope.SyntheticBandit`,
parameters from seed 0): d = 10 normal context features, A = 10 actions, linear
rewards with unit noise, a logger that mixes a softmax of the context with 20 %
uniform exploration. Each replication draws a fresh log of ``rows`` decisions and
estimates two targets on it:

- the **incumbent** :math:`\pi_{\mathrm{inc}} = \mathrm{softmax}(x W_{\mathrm{inc}})`;
- a **candidate no better than it**: the mixture :math:`\lambda \pi_{\mathrm{hi}} +
  (1 - \lambda) \pi_{\mathrm{lo}}` of a better and a worse softmax policy, with
  :math:`\lambda` solved so that its value equals the incumbent's (values are linear in
  the policy). A different policy of the same value: the gate should keep the
  incumbent, and may recommend the candidate in at most 2.5 % of replications.

True values are Monte Carlo means of :math:`\sum_a \pi(a \mid x)\, x^\top \theta_a` over
:data:`TRUTH_CONTEXTS` fresh contexts (their standard error is reported; it is about
1 % of the intervals' half-width).

**Sequential.** A small episodic market (:class:`EpisodicBandit`): H = 4 steps, the
context moves with the action taken, :math:`x_{t+1} = 0.6\, x_t + 0.5\, u_{a_t} +
0.5\, \varepsilon`, and rewards are linear as above; the truth is the target's mean
return over :data:`TRUTH_EPISODES` on-policy episodes. Sequential DR and FQE are
estimated on ``rows / H`` logged episodes.

Per estimator: the share of replications whose 95 % interval contains the truth, with
its exact (Clopper-Pearson) binomial interval from :func:`scipy.stats.binomtest`; the
issue's figure is >= 90 %. The same replications also give the old fixed-model
bootstrap's coverage and the old gate rule's false-recommendation rate (the
candidate's lower bound above the incumbent's point estimate), and the seconds of both
bootstraps, so the refit bootstrap's cost is a ratio to the old one in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy.stats import binomtest
from threadpoolctl import threadpool_limits

from experiments.bench.ope import SyntheticBandit, softmax
from experiments.ope.estimators import (
    CONFIDENCE,
    N_BOOTSTRAP,
    Estimate,
    cross_fit_reward_model,
    evaluate,
    paired_difference,
)
from experiments.ope.logs import LoggedDecisions
from experiments.ope.refit import refit_bandit
from experiments.ope.selection import estimators_by_name
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS, evaluate_sequential

#: Fresh contexts (bandit) and on-policy episodes (sequential) behind each truth.
TRUTH_CONTEXTS = 200_000
TRUTH_EPISODES = 200_000
#: The estimators that read a model, whose intervals the refit bootstrap makes.
BANDIT_MODEL_ESTIMATORS = ("dm", "dr", "switch-dr", "dr-os")
SEQUENTIAL_MODEL_ESTIMATORS = ("dr", "fqe")
#: The issue's figures: coverage of every interval >= 90 %, false recommendations <= 2.5 %.
TARGET_COVERAGE, TARGET_FALSE_RATE = 0.90, 0.025


def exact_interval(successes: int, trials: int) -> tuple[float, float]:
    """The exact (Clopper-Pearson) 95 % interval of a binomial proportion."""
    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")
    return float(interval.low), float(interval.high)


@dataclass
class Tally:
    """Successes over trials, with the exact binomial interval."""

    successes: int = 0
    trials: int = 0

    def add(self, success: bool) -> None:
        self.successes += int(success)
        self.trials += 1

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan

    def as_dict(self) -> dict[str, Any]:
        low, high = exact_interval(self.successes, self.trials) if self.trials else (0.0, 1.0)
        return {"rate": self.rate, "successes": self.successes, "trials": self.trials,
                "ci_low": low, "ci_high": high}  # fmt: skip


def _covers(estimate: Estimate, truth: float) -> bool:
    return bool(estimate.ci_low <= truth <= estimate.ci_high)


# --------------------------------------------------------------------------- bandit


@dataclass(frozen=True)
class GatePair:
    """The incumbent and a candidate of the same value, with their true values."""

    incumbent: np.ndarray
    better: np.ndarray
    worse: np.ndarray
    mix: float
    value: float
    value_std_error: float

    def probabilities(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(candidate, incumbent) probabilities on ``context``."""
        candidate = self.mix * softmax(context @ self.better) + (1 - self.mix) * softmax(
            context @ self.worse
        )
        return candidate, softmax(context @ self.incumbent)


def gate_pair(bandit: SyntheticBandit, seed: int = 1) -> GatePair:
    """An incumbent and a no-better candidate (module docstring), values by Monte Carlo."""
    rng = np.random.default_rng(seed)
    shape = (bandit.context_size, bandit.n_actions)
    weights = [rng.normal(0, 0.5, shape) for _ in range(5)]
    contexts = np.random.default_rng(seed + 1).standard_normal((TRUTH_CONTEXTS, shape[0]))
    values = [bandit.values(softmax(contexts @ weight), contexts) for weight in weights]
    means = [float(v.mean()) for v in values]
    order = np.argsort(means)
    incumbent = int(order[len(order) // 2])
    worse, better = int(order[0]), int(order[-1])
    mix = (means[incumbent] - means[worse]) / (means[better] - means[worse])
    error = float(values[incumbent].std(ddof=1) / math.sqrt(TRUTH_CONTEXTS))
    return GatePair(weights[incumbent], weights[better], weights[worse], mix,
                    means[incumbent], error)  # fmt: skip


@dataclass
class BanditCoverage:
    """Tallies over replications of the bandit experiment."""

    refit: dict[str, Tally] = field(default_factory=dict)
    fixed: dict[str, Tally] = field(default_factory=dict)
    zero_width: int = 0
    gate_false: Tally = field(default_factory=Tally)
    old_gate_false: Tally = field(default_factory=Tally)
    refit_seconds: float = 0.0
    fixed_seconds: float = 0.0


def bandit_replication(
    bandit: SyntheticBandit,
    pair: GatePair,
    seed: int,
    rows: int,
    n_bootstrap: int,
    reward_model: str,
    tally: BanditCoverage,
) -> None:
    """One log: both bootstraps of every model estimator on both targets, and the gate."""
    logs, _ = bandit.sample(rows, seed)
    candidate, incumbent = pair.probabilities(logs.context)
    estimators = estimators_by_name(list(BANDIT_MODEL_ESTIMATORS))
    q_hat = cross_fit_reward_model(logs, model=reward_model, seed=seed)
    started = time.perf_counter()
    fixed = [evaluate(logs, target, estimators, q_hat=q_hat, n_bootstrap=n_bootstrap, seed=seed)
             for target in (candidate, incumbent)]  # fmt: skip
    tally.fixed_seconds += time.perf_counter() - started
    started = time.perf_counter()
    refit = refit_bandit(logs, [candidate, incumbent], estimators, fixed,
                         reward_model=reward_model, n_bootstrap=n_bootstrap, seed=seed)  # fmt: skip
    tally.refit_seconds += time.perf_counter() - started
    for e, estimator in enumerate(BANDIT_MODEL_ESTIMATORS):
        tally.refit.setdefault(estimator, Tally()).add(_covers(refit[1][e], pair.value))
        tally.fixed.setdefault(estimator, Tally()).add(_covers(fixed[1][e], pair.value))
        tally.zero_width += sum(row[e].ci_high - row[e].ci_low <= 0 for row in refit)
    dr = BANDIT_MODEL_ESTIMATORS.index("dr")
    tally.gate_false.add(paired_difference(refit[0][dr], refit[1][dr]).ci_low > 0)
    tally.old_gate_false.add(fixed[0][dr].ci_low > fixed[1][dr].value)


# --------------------------------------------------------------------------- sequential


@dataclass(frozen=True)
class EpisodicBandit:
    """A small episodic market whose context moves with the action (module docstring)."""

    horizon: int = 4
    context_size: int = 3
    n_actions: int = 4
    seed: int = 0

    @cached_property
    def parameters(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        shape = (self.context_size, self.n_actions)
        return {
            "logger": rng.normal(0, 0.5, shape),
            "target": rng.normal(0, 1.0, shape),
            "theta": rng.normal(0, 0.5, (self.n_actions, self.context_size)),
            "push": rng.normal(0, 1.0, (self.n_actions, self.context_size)),
        }

    def logger(self, context: np.ndarray) -> np.ndarray:
        return 0.7 * softmax(context @ self.parameters["logger"]) + 0.3 / self.n_actions

    def target(self, context: np.ndarray) -> np.ndarray:
        return softmax(context @ self.parameters["target"])

    def run(self, episodes: int, seed: int, on_policy: bool) -> dict[str, np.ndarray]:
        """Episodes under the logger (or the target), as (episodes, horizon) arrays."""
        rng = np.random.default_rng(seed)
        parameters = self.parameters
        context = rng.standard_normal((episodes, self.context_size))
        out: dict[str, list[np.ndarray]] = {"context": [], "action": [], "reward": [],
                                             "propensity": []}  # fmt: skip
        for _ in range(self.horizon):
            policy = self.target(context) if on_policy else self.logger(context)
            draw = rng.random((episodes, 1))
            action = np.minimum((policy.cumsum(axis=1) < draw).sum(axis=1), self.n_actions - 1)
            mean = np.einsum("ij,ij->i", context, parameters["theta"][action])
            out["context"].append(context)
            out["action"].append(action)
            out["reward"].append(mean + rng.standard_normal(episodes))
            out["propensity"].append(policy[np.arange(episodes), action])
            noise = rng.standard_normal(context.shape)
            context = 0.6 * context + 0.5 * parameters["push"][action] + 0.5 * noise
        return {key: np.stack(values, axis=1) for key, values in out.items()}

    def truth(self) -> tuple[float, float]:
        """The target's mean return per episode and its standard error."""
        returns = self.run(TRUTH_EPISODES, seed=10**6, on_policy=True)["reward"].sum(axis=1)
        return float(returns.mean()), float(returns.std(ddof=1) / math.sqrt(returns.size))

    def sample(self, episodes: int, seed: int) -> tuple[LoggedDecisions, np.ndarray]:
        """A logged batch of episodes and the target's probabilities on its rows."""
        data = self.run(episodes, seed, on_policy=False)
        context = data["context"].reshape(-1, self.context_size)
        logs = LoggedDecisions(
            context, data["action"].ravel(), data["reward"].ravel(),
            data["propensity"].ravel(), n_actions=self.n_actions,
            episode=np.repeat(np.arange(episodes), self.horizon),
            step=np.tile(np.arange(self.horizon), episodes),
        )  # fmt: skip
        return logs, self.target(context)


@dataclass
class SequentialCoverage:
    refit: dict[str, Tally] = field(default_factory=dict)
    zero_width: int = 0


def sequential_replication(
    market: EpisodicBandit, truth: float, seed: int, rows: int, n_bootstrap: int,
    reward_model: str, tally: SequentialCoverage,
) -> None:  # fmt: skip
    """One log of ``rows // horizon`` episodes: sequential DR and FQE with refit intervals."""
    logs, target = market.sample(max(rows // market.horizon, 10), seed)
    estimators = [SEQUENTIAL_ESTIMATORS[name]() for name in SEQUENTIAL_MODEL_ESTIMATORS]
    estimates = evaluate_sequential(logs, target, estimators, q_model=reward_model,
                                    n_bootstrap=n_bootstrap, seed=seed)  # fmt: skip
    for name, estimate in zip(SEQUENTIAL_MODEL_ESTIMATORS, estimates, strict=True):
        tally.refit.setdefault(name, Tally()).add(_covers(estimate, truth))
        tally.zero_width += int(estimate.ci_high - estimate.ci_low <= 0)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class CoverageSettings:
    replications: int = 100
    rows: int = 1_000
    n_bootstrap: int = N_BOOTSTRAP
    reward_model: str = "linear"
    seed: int = 0

    @classmethod
    def quick(cls) -> CoverageSettings:
        return cls(replications=12, rows=400, n_bootstrap=20)


def bench_coverage(settings: CoverageSettings | None = None, threads: int | None = 1
                   ) -> dict[str, Any]:  # fmt: skip
    """Run both experiments (module docstring); a JSON-ready dict of every figure."""
    settings = settings or CoverageSettings()
    started = time.perf_counter()
    bandit = SyntheticBandit()
    pair = gate_pair(bandit)
    market = EpisodicBandit()
    truth, truth_error = market.truth()
    bandit_tally, sequential_tally = BanditCoverage(), SequentialCoverage()
    with threadpool_limits(threads):
        for replication in range(settings.replications):
            seed = settings.seed + replication
            bandit_replication(bandit, pair, seed, settings.rows, settings.n_bootstrap,
                               settings.reward_model, bandit_tally)  # fmt: skip
            sequential_replication(market, truth, seed, settings.rows, settings.n_bootstrap,
                                   settings.reward_model, sequential_tally)  # fmt: skip
    return {
        "settings": settings.__dict__,
        "confidence": CONFIDENCE,
        "bandit": {
            "truth": pair.value, "truth_std_error": pair.value_std_error,
            "candidate_mix": pair.mix,
            "refit": {name: tally.as_dict() for name, tally in bandit_tally.refit.items()},
            "fixed": {name: tally.as_dict() for name, tally in bandit_tally.fixed.items()},
            "zero_width_intervals": bandit_tally.zero_width,
            "gate_false_recommendation": bandit_tally.gate_false.as_dict(),
            "old_gate_false_recommendation": bandit_tally.old_gate_false.as_dict(),
            "refit_seconds": bandit_tally.refit_seconds,
            "fixed_seconds": bandit_tally.fixed_seconds,
            "refit_cost_ratio": bandit_tally.refit_seconds / max(bandit_tally.fixed_seconds, 1e-9),
        },
        "sequential": {
            "truth": truth, "truth_std_error": truth_error, "horizon": market.horizon,
            "refit": {name: tally.as_dict() for name, tally in sequential_tally.refit.items()},
            "zero_width_intervals": sequential_tally.zero_width,
        },
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def summary(result: dict[str, Any]) -> str:
    """Lines for a human: each coverage and rate with its exact interval."""

    def line(label: str, tally: dict[str, Any]) -> str:
        return (f"{label}: {tally['rate']:.1%} [{tally['ci_low']:.1%}, {tally['ci_high']:.1%}]"
                f" ({tally['successes']}/{tally['trials']})")  # fmt: skip

    bandit, sequential = result["bandit"], result["sequential"]
    lines = [line(f"coverage {name} (bandit, refit)", tally)
             for name, tally in bandit["refit"].items()]  # fmt: skip
    lines += [line(f"coverage {name} (bandit, model fixed)", tally)
              for name, tally in bandit["fixed"].items()]  # fmt: skip
    lines += [line(f"coverage {name} (sequential, refit)", tally)
              for name, tally in sequential["refit"].items()]  # fmt: skip
    lines += [
        line("gate false recommendations (paired difference)",
             bandit["gate_false_recommendation"]),
        line("old gate false recommendations", bandit["old_gate_false_recommendation"]),
        f"refit bootstrap {bandit['refit_seconds']:.1f} s = {bandit['refit_cost_ratio']:.1f}x "
        f"the fixed-model bootstrap ({bandit['fixed_seconds']:.1f} s); "
        f"{result['seconds']:.0f} s in all",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000)
    parser.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP)
    parser.add_argument("--reward-model", default="linear")
    parser.add_argument("--quick", action="store_true", help="a small run, for tests")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args(argv)
    settings = (
        CoverageSettings.quick()
        if arguments.quick
        else CoverageSettings(
            arguments.replications, arguments.rows, arguments.bootstrap, arguments.reward_model
        )
    )
    result = bench_coverage(settings)
    print(json.dumps(result, indent=2) if arguments.json else summary(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Issue 15's A/B test figures: the A/A false-positive rate and the power at the MDE.

On every shipped market preset (churn on wherever the preset has it), with the agent's
default design and a *long* one (a small MDE, half the horizon for the window), many A/A
tests are run: both arms at list price, so every rejection is a false positive. The same
tests with the challenger's profit raised by the MDE as the test defines it (each of its
cohorts earns ``mde`` times the control's expected profit per cohort and period in the
pilot more, every period) give the achieved power, read against the power the test
reported when it planned (at the MDE). (A lift relative to each period's own profit would
be up to 8 % larger than the MDE on markets whose season rises after the pilot.)

**How a test is run.** An A/B test's actions are fixed over its window (pilot and test),
so the window's cohort profits can be drawn first and the test run on them afterwards:
:func:`window_profits` steps ``tests x K C`` cohort markets at once through
:func:`sim.market.core.step` (the batched market; the same cohort split, accounting and
shared competitor as :meth:`sim.tasks.env.MarketEnv.step` in cohort mode: the tests check
that one test is the env's episode), and :func:`agents.ab_test.run_design` takes the
agent's own steps on each: size from the pilot, test on the periods after it.

Intervals on rates are exact (Clopper-Pearson, ``scipy.stats.binomtest``). The targets:
A/A rate within ``alpha +- 0.01`` and achieved power within 0.05 of the mean planned power.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from agents.ab_test import ABTestConfig, by_arm, run_design, window_variance_ratio
from sim.market.core import MarketAction, initial_state, step
from sim.tasks.env import DEFAULT_HORIZON, cohort_parameters, resolve_market

#: Every shipped preset; churn is on in all but ``stationary`` (no dynamics at all).
MARKETS = ("pricing-reference", "default", "stationary", "promotion-pantry")

#: Designs: the agent's defaults, and a long test (a 1 % MDE, half the horizon).
DESIGNS: dict[str, dict[str, float]] = {
    "default": {},
    "long": {"mde": 0.01, "max_test_share": 0.5},
}

#: Tests simulated in one batch (bounds memory: the default market holds 80 cells a cohort).
CHUNK = 500

ALPHA_TOLERANCE = 0.01
POWER_TOLERANCE = 0.05


def window_profits(market: str, cohorts: int, tests: int, periods: int, seed: int) -> np.ndarray:
    """``(tests, periods, cohorts)`` per-period profits of ``tests`` independent A/A tests
    at list price, each in ``cohorts`` cohorts of the preset ``market`` sharing one
    competitor, drawn from ``numpy.random.default_rng(seed)``."""
    params = cohort_parameters(resolve_market(market), cohorts)
    rng = np.random.default_rng(seed)
    out = np.empty((tests, periods, cohorts))
    for first in range(0, tests, CHUNK):
        batch = min(CHUNK, tests - first)
        markets = batch * cohorts
        state = initial_state(params, markets)
        action = MarketAction.list_price(params, markets)
        for period in range(periods):
            state, outcome = step(params, state, action, rng)
            # One competitor per test: its cohorts face the first one's price.
            ratio = state.competitor_log_ratio.reshape(batch, cohorts, -1)
            ratio[:, 1:] = ratio[:, :1]
            # A cohort pays 1/k of ad spend and coupon costs (zero at list price).
            spend = (outcome.ad_spend + outcome.promotion_cost) / cohorts
            profit = (outcome.margin - spend).sum(axis=1)
            out[first : first + batch, period] = profit.reshape(batch, cohorts)
    return out


@dataclass(frozen=True)
class Rate:
    """A rate with its exact 95 % interval."""

    successes: int
    trials: int

    @property
    def value(self) -> float:
        return self.successes / self.trials

    @property
    def ci95(self) -> tuple[float, float]:
        interval = binomtest(self.successes, self.trials).proportion_ci(0.95, method="exact")
        return float(interval.low), float(interval.high)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.ci95
        return {"successes": self.successes, "trials": self.trials, "rate": self.value,
                "ci_low": low, "ci_high": high}  # fmt: skip


def measure_case(market: str, design: str, tests: int, seed: int) -> dict[str, Any]:
    """A/A false positives and power at the MDE of ``tests`` tests of one design."""
    config = ABTestConfig(**DESIGNS[design])
    arms, per_arm = 2, config.cohorts_per_arm
    longest = math.floor(config.max_test_share * DEFAULT_HORIZON + 1e-9)
    pilot = min(config.pilot_periods, longest - 2)
    started = time.perf_counter()
    profits = window_profits(market, arms * per_arm, tests, longest, seed)
    simulated = time.perf_counter() - started
    # The MDE as the test defines it: mde times the control's expected profit per cohort
    # and period in the pilot (the mean over every simulated test's control cohorts).
    lift = np.zeros(arms * per_arm)
    lift[per_arm:] = config.mde * profits[:, :pilot, :per_arm].mean()
    cohort_market = cohort_parameters(resolve_market(market), arms * per_arm)
    ratio = window_variance_ratio(
        cohort_market, MarketAction.list_price(cohort_market), DEFAULT_HORIZON, pilot
    )
    settings = (pilot, longest - pilot, config.mde, config.alpha, config.power,
                config.alternative, ratio)  # fmt: skip
    false_positives = detections = capped = 0
    planned, windows = [], []
    for profit in profits:
        null = run_design(by_arm(profit, arms), *settings)
        lifted = run_design(by_arm(profit + lift, arms), *settings)
        false_positives += null.comparison.winner != 0
        detections += lifted.comparison.winner == 1
        capped += lifted.plan.capped
        planned.append(lifted.plan.planned_power)
        windows.append(lifted.window)
    planned_power = float(np.mean(planned))
    power = Rate(detections, tests)
    low, high = power.ci95
    return {
        "market": market,
        "design": design,
        "mde": config.mde,
        "max_test_share": config.max_test_share,
        "cohorts_per_arm": per_arm,
        "alpha": config.alpha,
        "tests": tests,
        "false_positive": Rate(false_positives, tests).as_dict(),
        "power": power.as_dict(),
        "planned_power": planned_power,
        "capped_share": capped / tests,
        "window_median": float(np.median(windows)),
        "window_max": longest,
        "meets_alpha": abs(false_positives / tests - config.alpha) <= ALPHA_TOLERANCE,
        "meets_power": abs(power.value - planned_power) <= POWER_TOLERANCE,
        "power_interval_reaches_planned": low - POWER_TOLERANCE
        <= planned_power
        <= high + POWER_TOLERANCE,
        "simulate_seconds": simulated,
        "seconds": time.perf_counter() - started,
    }


def bench_abtest(tests: int = 2000, markets: tuple[str, ...] = MARKETS) -> list[dict[str, Any]]:
    """Every (market, design) case with ``tests`` tests each; case ``i`` is seeded ``i``."""
    cases = [(market, design) for market in markets for design in DESIGNS]
    return [
        measure_case(market, design, tests, seed) for seed, (market, design) in enumerate(cases)
    ]

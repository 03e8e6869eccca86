"""Tiny markets whose optimum is known, for agents that must learn in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from agents.task import TaskSpec
from sim.market import equations as eq
from sim.market.core import Effects, MarketParameters
from sim.tasks.env import MarketEnv
from sim.tasks.guardrails import Guardrails

TINY_HORIZON = 12

#: The discrete price level (index into ActionGrid.multipliers) that maximises profit in
#: :func:`tiny_market`: profit per period is proportional to m^beta (m p - c); with
#: beta = -3, p = 10 and c = 4.4 the optimum is m* = (c / p) beta / (1 + beta) = 0.66,
#: and on the grid 0.7 earns 2.4 % more than 0.6 and 7.8 % more than 0.8.
TINY_BEST_LEVEL = 0  # multipliers (0.7, 0.8, ...): 0.7 is index 0


def tiny_market() -> MarketParameters:
    """One segment of 10,000 customers and one product (list price 10, unit cost 4.4,
    elasticity -3), every dynamic effect off: a 7-armed bandit with a known best arm
    (:data:`TINY_BEST_LEVEL`). Sales are Poisson with mean 1 unit per customer at list
    price, so a period's profit has a relative standard deviation under 1 %."""
    zero = np.zeros(1)
    coefficients = eq.DemandCoefficients(
        alpha=np.zeros((1, 1)), beta=np.array([-3.0]), eta_gain=zero, eta_loss=zero,
        gamma=zero, delta=zero, kappa=zero, psi=zero,
    )  # fmt: skip
    return MarketParameters(
        segment_names=("all",),
        product_names=("tiny",),
        population=np.array([10_000.0]),
        list_price=np.array([10.0]),
        unit_cost=np.array([4.4]),
        coefficients=coefficients,
        affinity=np.ones((1, 1)),
        season=np.zeros(52),
        effects=Effects.stationary(),
    )


def tiny_env(action_style: str = "discrete", task: str = "pricing") -> MarketEnv:
    """:func:`tiny_market` as an env: 12 periods, no price change limit."""
    return MarketEnv(
        market=tiny_market(),
        task=task,
        action_style=action_style,
        horizon=TINY_HORIZON,
        guardrails=Guardrails(max_price_change=None),
    )


@pytest.fixture
def tiny_best_level() -> int:
    """:data:`TINY_BEST_LEVEL`, for test modules (which cannot import conftest)."""
    return TINY_BEST_LEVEL


@pytest.fixture
def tiny_pricing_env() -> MarketEnv:
    return tiny_env("discrete")


@pytest.fixture
def tiny_continuous_env() -> MarketEnv:
    return tiny_env("continuous")


@pytest.fixture
def reference_pricing_spec() -> TaskSpec:
    """The DP oracle's single-product Pricing with reference prices (the shipped preset)."""
    return TaskSpec(market="pricing-reference", task="pricing")

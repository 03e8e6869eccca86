"""The task an agent trains and is evaluated on, and the oracle it is measured against.

A :class:`TaskSpec` is what ``promosim train`` saves beside a model (``task.json``), so
that ``promosim evaluate`` rebuilds the very env the agent learned in. Its guardrails
default to those of ``promosim simulate``: the env's, without the per-period price
change limit, which the DP oracle's state cannot carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.logs.errors import InputError
from sim.tasks.env import DEFAULT_HORIZON, MarketEnv
from sim.tasks.guardrails import Guardrails


class TaskSpec(BaseModel):
    """Market, task, action style, horizon and guardrails of an env."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    market: str = Field("default", description="preset name or market file path")
    task: str = Field("pricing", description="pricing, promotion, ad_targeting or joint")
    action_style: str = Field("discrete", description="discrete or continuous")
    horizon: int = Field(DEFAULT_HORIZON, ge=1, description="periods per episode")
    max_price_change: float | None = Field(
        None, gt=0, description="largest relative price change per period (None: no limit)"
    )
    uncertainty: str = Field("point", description="point or posterior")

    def guardrails(self) -> Guardrails:
        return Guardrails(max_price_change=self.max_price_change)

    def make_env(self) -> MarketEnv:
        return MarketEnv(
            market=self.market,
            task=self.task,
            action_style=self.action_style,
            horizon=self.horizon,
            guardrails=self.guardrails(),
            uncertainty=self.uncertainty,
        )

    def with_style(self, action_style: str) -> TaskSpec:
        return self.model_copy(update={"action_style": action_style})

    def save(self, path: Path) -> None:
        from sim.logs.atomic import write_atomically

        write_atomically(
            path, lambda p: p.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        )

    @classmethod
    def load(cls, path: Path) -> TaskSpec:
        try:
            payload: Any = json.loads(path.read_text(encoding="utf-8"))
            return cls(**payload)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
            raise InputError(f"{path}: not a readable task file ({error})") from None
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"])
            raise InputError(f"{path}: field '{field}': {problem['msg']}") from None


def oracle_value(env: MarketEnv) -> tuple[str, float]:
    """The benchmark a policy's profit is measured against in ``env``.

    The DP optimum's expected profit where the DP applies (single-product Pricing with
    reference prices or Promotion with pantry, no price change limit); otherwise the
    best fixed action's expected profit (a lower bound on the optimum).
    """
    from sim import oracles

    model_class = {
        "pricing": oracles.PricingWithReference,
        "promotion": oracles.PromotionWithPantry,
    }.get(env.task)
    if model_class is not None:
        try:
            model = model_class(env.params, env.horizon, env.grid, env.guardrails)
        except InputError:
            model = None
        if model is not None:
            return "dp", oracles.solve_dp(model).policy_value
    best = oracles.best_fixed_action(env.params, env.task, env.horizon, env.guardrails, env.grid)
    return "best-fixed", best.value

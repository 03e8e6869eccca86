"""Speed of the market simulator (``promosim bench env``): one env, and M markets at once.

Three figures, each measured in a fresh child process pinned to one core
(:func:`experiments.bench.profile.run_on_one_core`) and read against a floor measured in
the same process, interleaved with it, as the machines here are shared and noisy:

- ``env joint discrete`` and ``env joint continuous``: :class:`sim.tasks.env.MarketEnv`
  steps per second on the Joint task (prices, coupons and ads), actions cycling
  through a fixed seeded sample of the action space;
- ``market step M=4096``: :func:`sim.market.core.step` on M markets at once, in
  market-steps per second.

The floor is what no simulator of this market can avoid: drawing the period's
Poisson sales, ``rng.poisson(mu)`` on an array of the same shape, ``(S, J)`` for
the env and ``(M, S, J)`` for the batched step, with ``mu`` the market's own
expected units in its first period (prebuilt, so only the draws are timed).
Each figure is the best of several interleaved rounds, for the step and its
floor alike, and ``ratio_to_floor`` is their quotient.

Time is the CPU time of the measuring thread (``time.thread_time``): the cores here
are shared, and wall time would count the slices the scheduler gives to other
processes on the pinned core (more of them in a 100 us round than in a 14 us one,
which biases the ratio). On an idle core the two agree; each row also carries the
wall-clock figures (``wall_*``) of the same rounds.

Run ``python -m experiments.bench.env`` for JSON, or call :func:`bench_env`.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from experiments.bench.profile import run_on_one_core

if TYPE_CHECKING:  # sim is imported inside the functions, in the measured child process
    from sim.market.core import MarketParameters

#: Targets of issue 5 ("Figures"): steps per second and the most a step may cost in floors.
TARGETS = {
    "env joint discrete": {"steps_per_second": 20_000, "ratio_to_floor": 3.0},
    "env joint continuous": {"steps_per_second": 20_000, "ratio_to_floor": 3.0},
    "market step": {"steps_per_second": 60_000, "ratio_to_floor": 2.0},
}

#: Interleaved rounds per figure; each figure is the best round.
ROUNDS = 15


def benchmark_market(segments: int = 8, products: int = 20) -> MarketParameters:
    """The ``default`` preset tiled to ``segments`` x ``products``.

    Segment ``s`` is a copy of the preset's segment ``s mod S0`` (its coefficients,
    population, churn and reactivation) and product ``j`` a copy of product
    ``j mod J0`` (list price, unit cost, competitor ratio); ``alpha`` and
    ``affinity`` are tiled on both axes. Every effect of the preset stays on, so
    the step does all the work it does in the preset.
    """
    from sim.market import equations as eq
    from sim.market.presets import load_preset

    base = load_preset("default")
    seg = np.arange(segments) % base.n_segments
    prod = np.arange(products) % base.n_products
    coef = base.coefficients
    return replace(
        base,
        segment_names=tuple(f"{base.segment_names[s]} #{i}" for i, s in enumerate(seg)),
        product_names=tuple(f"{base.product_names[p]} #{j}" for j, p in enumerate(prod)),
        population=base.population[seg],
        list_price=base.list_price[prod],
        unit_cost=base.unit_cost[prod],
        coefficients=eq.DemandCoefficients(
            alpha=coef.alpha[np.ix_(seg, prod)],
            beta=coef.beta[seg],
            eta_gain=coef.eta_gain[seg],
            eta_loss=coef.eta_loss[seg],
            gamma=coef.gamma[seg],
            delta=coef.delta[seg],
            kappa=coef.kappa[seg],
            psi=coef.psi[seg],
        ),
        affinity=base.affinity[np.ix_(seg, prod)],
        churn_rate=base.churn_rate[seg],
        reactivation_rate=base.reactivation_rate[seg],
        reactivation_ad_boost=base.reactivation_ad_boost[seg],
        competitor_mean_ratio=base.competitor_mean_ratio[prod],
    )


def _best_of_rounds(
    step: Any, floor: Any, calls: int, floor_calls: int
) -> tuple[float, float, float, float]:
    """Best CPU seconds per call of ``step`` and of ``floor`` over interleaved rounds, then
    the best wall seconds of each."""
    best = [float("inf")] * 4
    for _ in range(ROUNDS):
        for k, (job, n) in enumerate(((step, calls), (floor, floor_calls))):
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(n):
                job()
            best[k] = min(best[k], (time.thread_time() - cpu) / n)
            best[2 + k] = min(best[2 + k], (time.perf_counter() - wall) / n)
    return best[0], best[1], best[2], best[3]


def measure_env(action_style: str, segments: int, products: int, seed: int) -> dict[str, Any]:
    """Seconds per :class:`~sim.tasks.env.MarketEnv` step on the Joint task, and its floor."""
    from sim.market.core import MarketAction, expected_units, initial_state
    from sim.tasks.env import MarketEnv

    market = benchmark_market(segments, products)
    # A long horizon, so the episode never ends while it is timed.
    env = MarketEnv(market=market, task="joint", action_style=action_style, horizon=10**9)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(64)]
    cycle = itertools.cycle(actions)
    mu = expected_units(market, initial_state(market), MarketAction.list_price(market))[0][0]
    rng = np.random.default_rng(seed)
    for _ in range(500):  # warm up caches and the allocator
        env.step(next(cycle))
    times = _best_of_rounds(
        lambda: env.step(next(cycle)), lambda: rng.poisson(mu), calls=1_000, floor_calls=1_000
    )
    name = f"env joint {action_style}"
    return _row(name, *times, steps=1, detail=f"{segments} segments x {products} products")


def measure_batched(markets: int, segments: int, products: int, seed: int) -> dict[str, Any]:
    """Seconds per :func:`~sim.market.core.step` of ``markets`` markets at once, and its floor."""
    from sim.market.core import MarketAction, expected_units, initial_state, step

    market = benchmark_market(segments, products)
    rng = np.random.default_rng(seed)
    action = MarketAction(
        multiplier=rng.uniform(0.8, 1.2, (markets, products)),
        discount=rng.choice([0.0, 0.1, 0.2], (markets, segments)),
        ad_spend=rng.uniform(0.0, 500.0, (markets, segments)),
    )
    state = initial_state(market, markets)
    mu = expected_units(market, state, action)[0]

    def one_step() -> None:
        nonlocal state
        state, _ = step(market, state, action, rng)

    one_step()  # warm up
    times = _best_of_rounds(one_step, lambda: rng.poisson(mu), calls=3, floor_calls=3)
    return _row(
        f"market step M={markets}",
        *times,
        steps=markets,
        detail=f"{segments} segments x {products} products; steps = market-steps",
        target_name="market step",
    )


def _row(
    name: str,
    seconds: float,
    floor: float,
    wall_seconds: float,
    wall_floor: float,
    steps: int,
    detail: str,
    target_name: str | None = None,
) -> dict[str, Any]:
    target = TARGETS[target_name or name]
    return {
        "name": name,
        "seconds_per_step": seconds,
        "steps_per_second": steps / seconds,
        "floor_seconds": floor,
        "ratio_to_floor": seconds / floor,
        "target": target,
        "meets_target": steps / seconds >= target["steps_per_second"]
        and seconds / floor <= target["ratio_to_floor"],
        "floor": "rng.poisson of the same number of expected units",
        "clock": "CPU time of the measuring thread",
        "wall_steps_per_second": steps / wall_seconds,
        "wall_ratio_to_floor": wall_seconds / wall_floor,
        "detail": detail,
    }


def bench_env(
    segments: int = 8, products: int = 20, markets: int = 4096, seed: int = 0
) -> list[dict[str, Any]]:
    """Measure the three figures, each in its own child process on one core.

    :param segments: segments of the benchmark market (see :func:`benchmark_market`).
    :param products: products of the benchmark market.
    :param markets: markets stepped at once in the batched figure.
    :param seed: seed of the actions and of the market's randomness.
    :returns: one row per figure: ``name``, ``seconds_per_step``, ``steps_per_second``
        (market-steps for the batched figure), ``floor_seconds``, ``ratio_to_floor``,
        ``target`` (``steps_per_second`` at least, ``ratio_to_floor`` at most),
        ``meets_target``, ``wall_steps_per_second`` and ``wall_ratio_to_floor`` (the same
        rounds by the wall clock), and ``floor``, ``clock`` and ``detail`` in words.
    """
    calls = [
        f"measure_env('discrete', {segments}, {products}, {seed})",
        f"measure_env('continuous', {segments}, {products}, {seed})",
        f"measure_batched({markets}, {segments}, {products}, {seed})",
    ]
    rows = []
    for call in calls:
        code = (
            "import json\n"
            "from experiments.bench.env import measure_batched, measure_env\n"
            f"print(json.dumps({call}))\n"
        )
        rows.append(json.loads(run_on_one_core(code).strip().splitlines()[-1]))
    return rows


if __name__ == "__main__":
    json.dump(bench_env(), sys.stdout, indent=2)
    print()

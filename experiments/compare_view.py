"""The terminal view of ``promosim experiment compare``: one table per scenario, readable at
80 columns.

Each row is one agent against the baseline, in one estimand: the relative difference of mean
profit (agent over baseline, minus one, in %), its t interval and the paired t-test's p-value
(the same test, so p < alpha exactly when the interval excludes zero), the Holm-adjusted
p-value across the scenario's challengers, and P(improve) with its Wilson interval where
there are enough seeds to print one (a dash otherwise; the JSON output says why in ``notes``).
"""

from __future__ import annotations

import math

import pandas as pd
from rich import box
from rich.table import Table

from experiments.stats import OVERALL

#: Column headers, short enough that a scenario's table fits 80 columns.
HEADERS = ("agent", "seeds", "diff %", "95 % CI (%)", "p (t)", "p (Holm)", "P(improve)")


def _number(value: float, spec: str) -> str:
    """``value`` formatted by ``spec``, or a dash where the statistic was not computed."""
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _p(value: float) -> str:
    """A p-value in at most 6 characters: three decimals, or ``<0.001``."""
    if value is None or not math.isfinite(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def comparison_tables(table: pd.DataFrame) -> list[Table]:
    """One rich table per scenario of :func:`experiments.report.comparison`'s rows (the pool
    over scenarios only where there are several); the title names the scenario, the baseline
    and the baseline's mean profit over the paired seeds (the base of the %)."""
    if table.empty:
        return [Table(title="no comparisons", box=box.SIMPLE_HEAD)]
    views = []
    if table["scenario"].nunique() == 2 and (table["scenario"] == OVERALL).any():
        table = table[table["scenario"] != OVERALL]  # one scenario: its pool is itself
    for scenario, rows in table.groupby("scenario", sort=False):
        first = rows.iloc[0]
        base_mean = float(first["mean"] - first["diff"])
        view = Table(
            title=f"{scenario}: against {first['baseline']} (mean profit {base_mean:,.0f})",
            box=box.SIMPLE_HEAD,
        )
        for header in HEADERS:
            view.add_column(header, justify="left" if header == "agent" else "right", no_wrap=True)
        for row in rows.itertuples():
            low, high = row.diff_pct_t_low, row.diff_pct_t_high
            interval = (
                f"[{low:+.1f}, {high:+.1f}]" if math.isfinite(low) and math.isfinite(high) else "-"
            )
            improve = _number(row.prob_improvement, ".2f")
            view.add_row(
                str(row.agent), str(row.n_pairs), _number(row.diff_pct, "+.1f"), interval,
                _p(row.p_ttest), _p(row.p_holm), improve,
            )  # fmt: skip
        views.append(view)
    return views

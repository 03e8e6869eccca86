"""Saved agents load as data only; pickled model files need the user's explicit opt-in.

promosim's own saved agents (JSON, ``.npz`` with ``allow_pickle=False``, torch weights
with ``weights_only=True``) load without a warning. A model file from elsewhere that can
only be read by unpickling it (a stable-baselines3 ``.zip``, a ``policy.pt`` holding a
pickled module) is refused, without unpickling anything, by one InputError that says
how to opt in; with ``allow_pickle=True`` / ``--allow-pickle`` it loads after a warning.
A canary in the zip (a pickled call that creates a file) shows both halves: refused,
nothing ran; opted in, the file's code ran, as the warning says it can.

The last test reads the project's own sources: no parser of user files (market files,
experiment files, logs, saved agents) may unpickle or evaluate code.
"""

from __future__ import annotations

import ast
import base64
import json
import pickle
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from typer.testing import CliRunner

from agents.base import load_agent
from agents.ppo import WEIGHTS_FILE, PPOAgent
from agents.safe_load import PickleWarning, allowing_pickle
from agents.task import TaskSpec
from agents.training import train
from cli import app
from sim.logs.errors import InputError

runner = CliRunner()

SPEC = TaskSpec(market="pricing-reference", task="pricing")

ROOT = Path(__file__).resolve().parents[2]


class _Canary:
    """Unpickled, it creates ``marker``: code from a model file running at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def sb3_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training directory made outside promosim: ``task.json`` and a stable-baselines3
    ``model.zip`` (``PPO.save``) trained briefly in the same task."""
    directory = tmp_path_factory.mktemp("sb3")
    model = PPO("MlpPolicy", SPEC.make_env(), n_steps=32, batch_size=32, n_epochs=1, seed=0,
                device="cpu")  # fmt: skip
    model.learn(32)
    model.save(directory / "model")
    SPEC.save(directory / "task.json")
    return directory


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "logs.csv"
    result = runner.invoke(app, [
        "simulate", "--market", SPEC.market, "--log", str(path),
        "--behavior", "epsilon:0.3:status-quo", "--decisions", "104",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def own_ppo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("own") / "ppo"
    train(SPEC, "ppo", 64, directory, seed=0,
          hyperparameters={"n_steps": 32, "batch_size": 32, "n_epochs": 1})  # fmt: skip
    return directory


def observations(count: int = 20) -> np.ndarray:
    env = SPEC.make_env()
    env.observation_space.seed(1)
    first, _ = env.reset(seed=3)
    samples = [env.observation_space.sample() for _ in range(count - 1)]
    return np.array([first, *samples], dtype=np.float32)


def with_canary(source: Path, destination: Path, marker: Path) -> Path:
    """A copy of the zip ``source`` whose ``data`` also holds a pickled :class:`_Canary`,
    serialised as stable-baselines3 serialises every object it saves."""
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    payload = base64.b64encode(pickle.dumps(_Canary(marker))).decode()
    data["canary"] = {":type:": "<class 'Canary'>", ":serialized:": payload}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(destination, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return destination


# -- stable-baselines3 zips --------------------------------------------------------------


def test_an_sb3_zip_is_refused_without_unpickling_anything(sb3_run: Path, tmp_path: Path):
    marker = tmp_path / "code-ran"
    model = with_canary(sb3_run / "model.zip", tmp_path / "model.zip", marker)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as refused:
            load_agent(model)
    message = str(refused.value)
    assert message.startswith(f"{model}: ") and "\n" not in message
    assert "--allow-pickle" in message and "allow_pickle=True" in message
    assert "arbitrary code" in message
    assert not marker.exists()


def test_an_sb3_zip_loads_with_the_opt_in_and_a_warning(sb3_run: Path, tmp_path: Path):
    marker = tmp_path / "code-ran"
    model = with_canary(sb3_run / "model.zip", tmp_path / "model.zip", marker)
    with pytest.warns(PickleWarning, match="arbitrary code") as caught:
        agent = load_agent(model, allow_pickle=True)
    assert str(model) in str(caught[0].message)
    assert marker.exists()  # the file's own code ran: the warning is not idle
    assert isinstance(agent, PPOAgent) and not agent.config.normalize_observation
    original = PPO.load(sb3_run / "model.zip", device="cpu")
    for observation in observations():
        expected, _ = original.predict(observation, deterministic=True)
        np.testing.assert_array_equal(agent.predict(observation, deterministic=True)[0], expected)


def test_a_loaded_sb3_model_saves_in_promosims_form_and_reloads_without_pickle(
    sb3_run: Path, tmp_path: Path
):
    with pytest.warns(PickleWarning):
        agent = load_agent(sb3_run / "model.zip", allow_pickle=True)
    agent.save(tmp_path / "converted")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_agent(tmp_path / "converted")
    for observation in observations():
        np.testing.assert_array_equal(
            again.predict(observation, deterministic=True)[0],
            agent.predict(observation, deterministic=True)[0],
        )


def test_the_context_opts_in_and_an_explicit_false_wins(sb3_run: Path):
    with allowing_pickle(), pytest.warns(PickleWarning):
        assert isinstance(load_agent(sb3_run / "model.zip"), PPOAgent)
    with allowing_pickle(), pytest.raises(InputError, match="--allow-pickle"):
        load_agent(sb3_run / "model.zip", allow_pickle=False)
    with pytest.raises(InputError, match="--allow-pickle"):
        load_agent(sb3_run)  # a training directory with model.zip, outside any context


def test_evaluate_refuses_an_sb3_run_and_runs_it_with_allow_pickle(sb3_run: Path):
    refused = runner.invoke(app, ["evaluate", str(sb3_run), "--episodes", "1"])
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "model.zip" in refused.stderr and "--allow-pickle" in refused.stderr
    allowed = runner.invoke(
        app, ["evaluate", str(sb3_run), "--episodes", "1", "--allow-pickle", "--json"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["agent"] == "ppo"
    assert "warning:" in allowed.stderr and "arbitrary code" in allowed.stderr


def test_ope_refuses_an_sb3_target_and_runs_it_with_allow_pickle(sb3_run: Path, logs: Path):
    target = str(sb3_run / "model.zip")
    base = ["ope", str(logs), "--target", target, "--estimators", "bandit:ips",
            "--bootstrap", "10"]  # fmt: skip
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "--allow-pickle" in refused.stderr
    allowed = runner.invoke(app, [*base, "--allow-pickle", "--json"])
    assert allowed.exit_code == 0, allowed.output
    assert "warning:" in allowed.stderr and "arbitrary code" in allowed.stderr


# -- pickled weights inside a saved agent ------------------------------------------------


def test_a_pickled_policy_module_is_refused_then_loads_with_the_opt_in(
    own_ppo: Path, tmp_path: Path
):
    intact = load_agent(own_ppo)
    assert isinstance(intact, PPOAgent) and intact.policy is not None
    directory = shutil.copytree(own_ppo / "model", tmp_path / "agent")
    torch.save(intact.policy, directory / WEIGHTS_FILE)  # the whole module, pickled
    with pytest.raises(InputError) as refused:
        load_agent(directory)
    assert str(refused.value).startswith(f"{directory / WEIGHTS_FILE}: ")
    assert "--allow-pickle" in str(refused.value)
    with pytest.warns(PickleWarning):
        loaded = load_agent(directory, allow_pickle=True)
    for observation in observations():
        np.testing.assert_array_equal(
            loaded.predict(observation, deterministic=True)[0],
            intact.predict(observation, deterministic=True)[0],
        )


def test_the_gate_refuses_a_pickled_policy_and_runs_it_with_allow_pickle(
    own_ppo: Path, logs: Path, tmp_path: Path
):
    intact = load_agent(own_ppo)
    assert isinstance(intact, PPOAgent)
    directory = shutil.copytree(own_ppo / "model", tmp_path / "agent")
    torch.save(intact.policy, directory / WEIGHTS_FILE)
    base = ["ope", "gate", str(logs), "--candidate", str(directory), "--incumbent",
            str(directory), "--bootstrap", "10"]  # fmt: skip
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "--allow-pickle" in refused.stderr
    allowed = runner.invoke(app, [*base, "--allow-pickle"])
    assert allowed.exit_code == 0, allowed.output
    assert "warning:" in allowed.stderr and WEIGHTS_FILE in allowed.stderr


# -- promosim's own files ------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["ppo", "q-learning", "linucb"])
def test_own_saved_agents_load_without_any_warning(own_ppo: Path, tmp_path: Path, agent: str):
    directory = own_ppo
    if agent != "ppo":
        directory = tmp_path / agent
        train(SPEC, agent, 64, directory, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with allowing_pickle():  # opting in changes nothing for files without pickle
            assert load_agent(directory).name == agent
        assert load_agent(directory, allow_pickle=False).name == agent


def test_saved_files_hold_no_pickle_opcodes_beyond_torch_tensors(own_ppo: Path):
    """state.npz reads with allow_pickle=False; policy.pt with weights_only=True."""
    with np.load(own_ppo / "model" / "state.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)
    weights = torch.load(own_ppo / "model" / WEIGHTS_FILE, weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in weights.values())


# -- the sources ---------------------------------------------------------------------------

#: Calls that run code from the data they read, by dotted name.
UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "cloudpickle.load", "cloudpickle.loads", "dill.load",
    "dill.loads", "marshal.load", "marshal.loads", "shelve.open", "joblib.load",
    "pd.read_pickle", "pandas.read_pickle", "yaml.load", "yaml.unsafe_load",
    "yaml.full_load", "eval", "exec", "compile", "__import__",
}  # fmt: skip

#: Unpickling that runs only after :func:`agents.safe_load.require_consent`: (file, function).
CONSENTED = {("agents/ppo.py", "_read_weights"), ("agents/ppo.py", "from_stable_baselines3_zip")}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def unsafe_loads(
    path: Path, allowed: set[tuple[str, str]] = CONSENTED, root: Path = ROOT
) -> list[str]:
    """``file:line function name`` of every call in ``path`` that unpickles or evaluates
    code, but in the (file, function) pairs ``allowed`` (files relative to ``root``)."""
    relative = path.relative_to(root).as_posix()
    found: list[str] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inside = child.name if isinstance(child, ast.FunctionDef) else function
            if isinstance(child, ast.Call):
                name = _dotted(child.func)
                bad = name in UNSAFE_CALLS
                if name in ("np.load", "numpy.load"):
                    bad = _keyword(child, "allow_pickle") is not False
                if name == "torch.load":
                    bad = _keyword(child, "weights_only") is not True
                if name.endswith("PPO.load") or name.endswith("BaseAlgorithm.load"):
                    bad = True
                if bad and (relative, function) not in allowed:
                    found.append(f"{relative}:{child.lineno} {function} {name}")
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_no_project_code_unpickles_or_evaluates_without_consent():
    """Market files, experiment files, logs and saved agents are parsed as data (JSON,
    TOML, CSV, Parquet, npz): the project's sources never call a loader that can run
    code, but on the two opted-in paths of agents/ppo.py, which do."""
    sources = [ROOT / "cli.py"] + [
        path
        for package in ("agents", "sim", "experiments", "recsys")
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    assert len(sources) > 20
    assert [place for path in sources for place in unsafe_loads(path)] == []
    opted_in = unsafe_loads(ROOT / "agents" / "ppo.py", allowed=set())
    assert {place.split()[1] for place in opted_in} == {function for _, function in CONSENTED}


def test_the_source_check_finds_an_unsafe_loader(tmp_path: Path):
    """The check above can fail: it flags each kind of unsafe call it looks for."""
    module = tmp_path / "bad.py"
    module.write_text(
        "import numpy as np, pickle, torch, yaml\n"
        "def read(path):\n"
        "    np.load(path)\n"
        "    np.load(path, allow_pickle=True)\n"
        "    torch.load(path)\n"
        "    pickle.loads(b'')\n"
        "    yaml.load(path)\n"
        "    eval('1')\n"
        "    np.load(path, allow_pickle=False)\n"
        "    torch.load(path, weights_only=True)\n"
    )
    assert [place.split()[2] for place in unsafe_loads(module, root=tmp_path)] == [
        "np.load", "np.load", "torch.load", "pickle.loads", "yaml.load", "eval",
    ]  # fmt: skip

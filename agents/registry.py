"""Agents by name, imported only when asked for (PPO pulls in torch, which takes seconds)."""

from __future__ import annotations

import importlib

from agents.base import AGENTS, Agent
from sim.logs.errors import InputError, did_you_mean

#: name -> module that defines (and registers) it.
AGENT_MODULES: dict[str, str] = {
    "q-learning": "agents.tabular",
    "double-q": "agents.tabular",
    "ppo": "agents.ppo",
    "epsilon-greedy": "agents.bandits",
    "ucb1": "agents.bandits",
    "thompson": "agents.bandits",
    "linucb": "agents.contextual",
    "lin-thompson": "agents.contextual",
    "demand-thompson": "agents.demand_thompson",
    "status-quo": "agents.baselines",
    "cost-plus": "agents.baselines",
    "random": "agents.baselines",
    "best-fixed": "agents.baselines",
    "dp": "agents.baselines",
    "ab-test": "agents.ab_test",
}


def agent_class(name: str) -> type[Agent]:
    """The agent class registered as ``name``; unknown names get the closest valid one."""
    module = AGENT_MODULES.get(name)
    if module is None:
        raise InputError(
            f"unknown agent '{name}'{did_you_mean(name, list(AGENT_MODULES))}; "
            f"agents are: {', '.join(AGENT_MODULES)}"
        )
    importlib.import_module(module)
    return AGENTS[name]


def make_agent(name: str, **hyperparameters: object) -> Agent:
    """A new, untrained agent ``name`` with the given hyper-parameters."""
    return agent_class(name)(**hyperparameters)

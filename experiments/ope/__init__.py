"""Offline policy evaluation: what would a target policy have earned on logged decisions?

- :mod:`~experiments.ope.logs`: read and validate logged decisions and target probabilities;
- :mod:`~experiments.ope.estimators`: bandit estimators (DM, IPS, SNIPS, DR, SNDR,
  Switch-DR, DR-os), the cross-fitted reward model and the bootstrap;
- :mod:`~experiments.ope.refit`: the refit bootstrap, the reward or Q model fitted again
  in every resample, for the intervals of the model-based estimators;
- :mod:`~experiments.ope.selection`: SLOPE / lowest-MSE choice of a hyper-parameter, and
  estimators by name;
- :mod:`~experiments.ope.sequential`: PDIS, WPDIS, sequential DR, weighted DR and fitted
  Q evaluation for episodic logs;
- :mod:`~experiments.ope.diagnostics`: overlap between target and logging policy;
- :mod:`~experiments.ope.policies`: stochastic policies over a task's arms, with full
  action probabilities (uniform, baselines, saved agents, epsilon-greedy);
- :mod:`~experiments.ope.collect`: logs from the simulator (``promosim simulate --log``);
- :mod:`~experiments.ope.run`: one table of every estimator (``promosim ope LOGS``);
- :mod:`~experiments.ope.validate`: estimators against the on-policy truth
  (``promosim ope validate``);
- :mod:`~experiments.ope.gate`: the rollout gate (``promosim ope gate``);
- :mod:`~experiments.bench.ope`: the timing figure (``python -m experiments.bench.ope``);
  :mod:`~experiments.bench.ope_coverage`: the intervals' coverage and the gate's
  false-recommendation rate.

Typical use::

    table = read_log_table("logs.parquet")
    target = target_probabilities(table, "pi_")
    logs = load_logged_decisions(table, n_actions=target.shape[1])
    for estimate in evaluate(logs, target, estimators_by_name("all")):
        print(estimate.estimator, estimate.value, estimate.ci_low, estimate.ci_high)
"""

from experiments.ope.collect import log_decisions, read_arm_table, simulate_log, write_log
from experiments.ope.diagnostics import OverlapDiagnostics, overlap_diagnostics
from experiments.ope.estimators import (
    BanditEstimator,
    BanditInputs,
    Estimate,
    evaluate,
    paired_difference,
)
from experiments.ope.gate import GateDecision, gate
from experiments.ope.logs import (
    LoggedDecisions,
    deterministic_target,
    load_logged_decisions,
    read_log_table,
    target_probabilities,
)
from experiments.ope.policies import ArmPolicy, build_policies, parse_policy
from experiments.ope.run import OPEReport, run_ope
from experiments.ope.selection import estimators_by_name
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS, evaluate_sequential
from experiments.ope.validate import ValidationReport, validate

__all__ = [
    "SEQUENTIAL_ESTIMATORS",
    "ArmPolicy",
    "BanditEstimator",
    "BanditInputs",
    "Estimate",
    "GateDecision",
    "LoggedDecisions",
    "OPEReport",
    "OverlapDiagnostics",
    "ValidationReport",
    "build_policies",
    "deterministic_target",
    "estimators_by_name",
    "evaluate",
    "evaluate_sequential",
    "gate",
    "load_logged_decisions",
    "log_decisions",
    "overlap_diagnostics",
    "paired_difference",
    "parse_policy",
    "read_arm_table",
    "read_log_table",
    "run_ope",
    "simulate_log",
    "target_probabilities",
    "validate",
    "write_log",
]

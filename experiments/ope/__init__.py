"""Offline policy evaluation: what would a target policy have earned on logged decisions?

- :mod:`~experiments.ope.logs`: read and validate logged decisions and target probabilities;
- :mod:`~experiments.ope.estimators`: bandit estimators (DM, IPS, SNIPS, DR, SNDR,
  Switch-DR, DR-os), the cross-fitted reward model and the bootstrap;
- :mod:`~experiments.ope.selection`: SLOPE / lowest-MSE choice of a hyper-parameter, and
  estimators by name;
- :mod:`~experiments.ope.sequential`: PDIS, WPDIS, sequential DR, weighted DR and fitted
  Q evaluation for episodic logs;
- :mod:`~experiments.ope.diagnostics`: overlap between target and logging policy.

Typical use::

    table = read_log_table("logs.parquet")
    target = target_probabilities(table, "pi_")
    logs = load_logged_decisions(table, n_actions=target.shape[1])
    for estimate in evaluate(logs, target, estimators_by_name("all")):
        print(estimate.estimator, estimate.value, estimate.ci_low, estimate.ci_high)
"""

from experiments.ope.diagnostics import OverlapDiagnostics, overlap_diagnostics
from experiments.ope.estimators import (
    BanditEstimator,
    BanditInputs,
    Estimate,
    evaluate,
    paired_difference,
)
from experiments.ope.logs import (
    LoggedDecisions,
    deterministic_target,
    load_logged_decisions,
    read_log_table,
    target_probabilities,
)
from experiments.ope.selection import estimators_by_name
from experiments.ope.sequential import SEQUENTIAL_ESTIMATORS, evaluate_sequential

__all__ = [
    "SEQUENTIAL_ESTIMATORS",
    "BanditEstimator",
    "BanditInputs",
    "Estimate",
    "LoggedDecisions",
    "OverlapDiagnostics",
    "deterministic_target",
    "estimators_by_name",
    "evaluate",
    "evaluate_sequential",
    "load_logged_decisions",
    "overlap_diagnostics",
    "paired_difference",
    "read_log_table",
    "target_probabilities",
]

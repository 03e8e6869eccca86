r"""Overlap diagnostics: can the log say anything about the target policy at all?

Importance-weighted estimators divide by the logging policy's propensity. Where the
target policy takes actions the logger rarely or never took, the weights

.. math:: w_i = \frac{\pi(a_i \mid x_i)}{\mu(a_i \mid x_i)}

become few and large, and every estimate rests on a handful of rows (or, for the
model-based ones, on extrapolation). These numbers say how far to trust it:

- effective sample size (Kish 1965), :math:`\mathrm{ESS} = (\sum_i w_i)^2 / \sum_i w_i^2`,
  the number of equally weighted rows with the same variance; compare it with n;
- the maximum weight, the most any single row can move the IPS estimate (times 1/n);
- the mean weight, whose expectation is 1 when the logger covers every action the
  target takes; a mean well below 1 says target mass sits outside the log's support;
- the share of rows whose logged action the target wants (:math:`\pi(a_i \mid x_i) > 0`)
  but the logger took with probability below a floor (default 1 %): near-violations of
  overlap;
- the target's mean probability mass on actions that never occur in the log at all,
  which no importance weight can see (only a reward model can guess at them).

For sequential logs the weights are the per-episode products of the step ratios.

References
----------
Kish, L. (1965). *Survey Sampling*. Wiley.
Owen, A. B. (2013). *Monte Carlo theory, methods and examples*, ch. 9 (importance sampling
diagnostics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

#: Below this share of n, the effective sample size is called poor.
MIN_ESS_SHARE = 0.1
#: Above this, one row's weight dominates.
MAX_WEIGHT = 100.0
#: Default floor under which a logged propensity counts as (nearly) no support.
PROPENSITY_FLOOR = 0.01
#: Above this share of rows (or of target mass), missing support is worth a warning.
MAX_UNSUPPORTED_SHARE = 0.01
#: How many standard errors the mean weight may stray from 1 before a warning.
MEAN_WEIGHT_Z = 4.0


@dataclass(frozen=True)
class OverlapDiagnostics:
    r"""How well the logging policy covers the target policy.

    Attributes
    ----------
    n : int
        Rows (bandit) or episodes (sequential) the weights belong to.
    effective_sample_size : float
        :math:`(\sum w)^2 / \sum w^2`; 0 when every weight is 0.
    ess_share : float
        ``effective_sample_size / n``, in [0, 1].
    max_weight, mean_weight : float
        Largest and mean importance weight.
    low_propensity_share : float
        Share of rows with :math:`\pi(a_i \mid x_i) > 0` and propensity below ``propensity_floor``.
    unlogged_action_mass : float
        Mean target probability on actions absent from the whole log.
    propensity_floor : float
        The floor used for ``low_propensity_share``.
    warning : str or None
        One line naming every threshold crossed, or None when overlap looks fine.
    """

    n: int
    effective_sample_size: float
    ess_share: float
    max_weight: float
    mean_weight: float
    low_propensity_share: float
    unlogged_action_mass: float
    propensity_floor: float
    warning: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def effective_sample_size(weight: np.ndarray) -> float:
    r"""Kish's effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2` (0 if all w are 0)."""
    weight = np.asarray(weight, dtype=float)
    squares = float(np.sum(weight**2))
    return float(np.sum(weight)) ** 2 / squares if squares > 0 else 0.0


def overlap_diagnostics(
    target: np.ndarray,
    action: np.ndarray,
    propensity: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    propensity_floor: float = PROPENSITY_FLOOR,
) -> OverlapDiagnostics:
    r"""Overlap diagnostics for a target policy on a log.

    Parameters
    ----------
    target : ndarray, shape (n, A)
        Target probabilities :math:`\pi(a \mid x_i)` per logged row.
    action, propensity : ndarray, shape (n,)
        Logged actions and their logging probabilities.
    weight : ndarray, optional
        The importance weights to summarise; default the per-row
        :math:`\pi(a_i \mid x_i) / \mu(a_i \mid x_i)`. Sequential estimators pass the
        per-episode products.
    propensity_floor : float
        Propensities below it count as (near) missing support.
    """
    rows = np.arange(action.size)
    target_logged = target[rows, action]
    if weight is None:
        weight = target_logged / propensity
    weight = np.asarray(weight, dtype=float)
    n = weight.size
    ess = effective_sample_size(weight)
    logged_actions = np.bincount(action, minlength=target.shape[1]) > 0
    diagnostics = OverlapDiagnostics(
        n=n,
        effective_sample_size=ess,
        ess_share=ess / n,
        max_weight=float(weight.max()),
        mean_weight=float(weight.mean()),
        low_propensity_share=float(np.mean((target_logged > 0) & (propensity < propensity_floor))),
        unlogged_action_mass=float(target[:, ~logged_actions].sum(axis=1).mean()),
        propensity_floor=propensity_floor,
        warning=None,
    )
    mean_weight_error = float(weight.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return _with_warning(diagnostics, mean_weight_error)


def _with_warning(diagnostics: OverlapDiagnostics, mean_weight_error: float) -> OverlapDiagnostics:
    """``diagnostics`` with ``warning`` naming each poor-overlap threshold crossed."""
    d = diagnostics
    problems = []
    if d.ess_share < MIN_ESS_SHARE:
        problems.append(
            f"effective sample size {d.effective_sample_size:.4g} is {d.ess_share:.1%} of "
            f"{d.n} (below {MIN_ESS_SHARE:.0%})"
        )
    if d.max_weight > MAX_WEIGHT:
        problems.append(f"largest importance weight {d.max_weight:.4g} (above {MAX_WEIGHT:g})")
    if abs(d.mean_weight - 1.0) > MEAN_WEIGHT_Z * mean_weight_error + 1e-12:
        problems.append(
            f"mean importance weight {d.mean_weight:.4g} (expected 1 when the logger covers "
            "the target)"
        )
    if d.low_propensity_share > MAX_UNSUPPORTED_SHARE:
        problems.append(
            f"{d.low_propensity_share:.1%} of rows have a target action logged with "
            f"propensity below {d.propensity_floor:g}"
        )
    if d.unlogged_action_mass > MAX_UNSUPPORTED_SHARE:
        problems.append(
            f"{d.unlogged_action_mass:.1%} of the target's probability is on actions never logged"
        )
    if not problems:
        return d
    warning = "poor overlap between target and logging policy: " + "; ".join(problems)
    return replace(d, warning=warning)

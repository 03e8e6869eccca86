r"""Purchase intent: the probability that a customer buys in a period, from lagged RFM.

A logistic regression over customer x period rows,

.. math:: P(\text{buy}_{it}) = \sigma(b_0 + b' z_{it}),

where ``buy`` means at least one purchase line in period ``t`` and the features
``z_it`` use only purchases *before* ``t`` (no leakage of the outcome):

- ``log_recency``: ``log(1 + periods since the last purchase before t)``;
- ``log_frequency``: ``log(1 + purchase periods before t)``;
- ``log_monetary``: ``log(1 + mean spend per purchase period before t)``, currency;
- ``log_tenure``: ``log(1 + periods since the first purchase)``;
- ``price_index``: the period's mean relative shelf price, ``mean_j shelf[j,t] / p[j]``
  (known before the period: the retailer sets it).

Rows start the period after a customer's first purchase (before it there is no
history to score). Features are standardised; the model is scikit-learn's
``LogisticRegression`` (L2, C = 1). It is fitted on all but the last ``holdout``
periods and scored by AUC on those; then refitted on every period to score each
customer for the period after the log, taking that period's price index to be the
last period's. Large panels are subsampled by customer (seeded) to
:data:`MAX_TRAINING_ROWS` rows for fitting; every customer is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.demand.panel import Panel

#: Feature names, in column order.
FEATURES: tuple[str, ...] = (
    "log_recency",
    "log_frequency",
    "log_monetary",
    "log_tenure",
    "price_index",
)

#: Most customer-period rows used to fit (customers are subsampled beyond it).
MAX_TRAINING_ROWS = 1_500_000


@dataclass(frozen=True)
class IntentResult:
    """Per-customer purchase probability for the next period, and how well the model ranks.

    :param scores: columns ``customer``, ``segment``, ``purchase_probability``,
        ``recency_periods``, ``frequency``, ``monetary``.
    :param auc: area under the ROC curve on the holdout periods (None without holdout
        or without both outcomes there).
    :param coefficients: logistic coefficients per standardised feature, and ``intercept``.
    """

    scores: pd.DataFrame
    auc: float | None
    coefficients: dict[str, float]
    holdout_periods: int
    training_rows: int
    holdout_rows: int
    base_rate: float

    def summary(self) -> dict[str, Any]:
        return {
            "model": "logistic regression on lagged RFM features and the period's price index "
            "(standardised features)",
            "features": list(FEATURES),
            "auc": self.auc,
            "coefficients": self.coefficients,
            "holdout_periods": self.holdout_periods,
            "training_rows": self.training_rows,
            "holdout_rows": self.holdout_rows,
            "base_rate": self.base_rate,
        }  # fmt: skip


def price_index(panel: Panel) -> np.ndarray:
    """Mean relative shelf price per period, (T,)."""
    return (panel.shelf_price / panel.list_price[:, None]).mean(axis=0)


def _history_matrices(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """``(bought, spend)``, each (customers, T): purchase indicator and spend per period."""
    history = panel.history
    bought = np.zeros((history.n_customers, history.n_periods), dtype=bool)
    spend = np.zeros(bought.shape)
    bought[history.customer, history.period] = True
    spend[history.customer, history.period] = history.spend
    return bought, spend


def lagged_features(
    bought: np.ndarray, spend: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Features for every customer at every period ``t = 0..T`` from data before ``t``.

    Returns ``(features (n, T + 1, F), eligible (n, T + 1))``; ``t = T`` is the period
    after the log, whose price index is taken to be the last period's. A row is
    eligible once the customer has bought before ``t``.
    """
    n, horizon = bought.shape
    periods = np.arange(horizon + 1)
    frequency = np.zeros((n, horizon + 1))
    frequency[:, 1:] = np.cumsum(bought, axis=1)
    spent = np.zeros((n, horizon + 1))
    spent[:, 1:] = np.cumsum(spend, axis=1)
    marks = np.where(bought, np.arange(horizon)[None, :], -1)
    last = np.full((n, horizon + 1), -1)
    last[:, 1:] = np.maximum.accumulate(marks, axis=1)
    first = np.where(bought.any(axis=1), bought.argmax(axis=1), horizon + 1)
    eligible = last >= 0
    recency = np.where(eligible, periods[None, :] - last, 0)
    tenure = np.where(eligible, periods[None, :] - first[:, None], 0)
    monetary = np.divide(spent, frequency, out=np.zeros_like(spent), where=frequency > 0)
    next_index = np.append(index, index[-1])
    features = np.stack(
        [
            np.log1p(recency),
            np.log1p(frequency),
            np.log1p(monetary),
            np.log1p(tenure),
            np.broadcast_to(next_index, (n, horizon + 1)),
        ],
        axis=2,
    )
    return features, eligible


def fit_intent(panel: Panel, holdout: int, seed: int = 0) -> IntentResult:
    """Fit the intent model on ``panel``'s customers; see the module docstring."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    bought, spend = _history_matrices(panel)
    n, horizon = bought.shape
    features, eligible = lagged_features(bought, spend, price_index(panel))
    past = eligible[:, :horizon]  # rows with an outcome
    holdout = max(0, min(holdout, horizon - 2))
    training_period = np.arange(horizon) < horizon - holdout

    rng = np.random.default_rng(seed)
    rows_per_customer = max(1, int(past.sum() / max(n, 1)))
    keep = np.ones(n, dtype=bool)
    if past.sum() > MAX_TRAINING_ROWS:
        keep[:] = False
        sample = max(1, MAX_TRAINING_ROWS // rows_per_customer)
        keep[rng.choice(n, size=sample, replace=False)] = True

    def rows(mask_periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = past & mask_periods[None, :] & keep[:, None]
        return features[:, :horizon][mask], bought[mask]

    def model() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))

    train_x, train_y = rows(training_period)
    test_x, test_y = rows(~training_period)
    auc = None
    if holdout and train_y.any() and not train_y.all() and 0 < test_y.sum() < test_y.size:
        predicted = model().fit(train_x, train_y).predict_proba(test_x)[:, 1]
        auc = float(roc_auc_score(test_y, predicted))

    all_x, all_y = rows(np.ones(horizon, dtype=bool))
    final = model()
    if all_y.any() and not all_y.all():
        final.fit(all_x, all_y)
        probability = final.predict_proba(features[:, horizon])[:, 1]
        logistic = final[-1]
        coefficients = dict(zip(FEATURES, map(float, logistic.coef_[0]), strict=True))
        coefficients["intercept"] = float(logistic.intercept_[0])
    else:  # everyone always (or never) buys: the base rate is the forecast
        probability = np.full(n, float(all_y.mean()) if all_y.size else 0.0)
        coefficients = {"intercept": float("nan")}
    history = panel.history
    last_features = features[:, horizon]
    scores = pd.DataFrame(
        {
            "customer": np.asarray(history.customers, dtype=str),
            "segment": panel.segments[history.segment],
            "purchase_probability": probability,
            "recency_periods": np.expm1(last_features[:, 0]).round().astype(np.int64),
            "frequency": np.expm1(last_features[:, 1]).round().astype(np.int64),
            "monetary": np.expm1(last_features[:, 2]),
        }
    )
    return IntentResult(
        scores=scores,
        auc=auc,
        coefficients={k: v for k, v in coefficients.items() if np.isfinite(v)},
        holdout_periods=holdout,
        training_rows=int(train_y.size),
        holdout_rows=int(test_y.size),
        base_rate=float(all_y.mean()) if all_y.size else 0.0,
    )


__all__ = ["FEATURES", "IntentResult", "fit_intent", "lagged_features", "price_index"]

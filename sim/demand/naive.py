r"""Naive forecasts: what a demand model has to beat.

Each forecast predicts units per product and future period from the training periods
only (``units`` of shape ``(J, T_train)``, the last column the period just before the
forecast origin):

- ``mean_last_n`` (n = 4, 8, 13): the product's mean over its last n training periods,
  the same for every future period (``y_hat[j, h] = mean(units[j, T-n:])``);
- ``same_week_last_year``: the product's units ``periods_per_year`` periods before the
  forecast period, where the log reaches that far back (else the forecast is missing,
  and the forecast is reported only when it covers every future period).

Units are those of the log's quantity column; forecasts are per period.
"""

from __future__ import annotations

import numpy as np

#: The window lengths of the moving-mean forecasts, in periods.
MEAN_WINDOWS: tuple[int, ...] = (4, 8, 13)


def mean_last(units: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """``(J, horizon)``: each product's mean of its last ``window`` training periods
    (all of them when there are fewer)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    recent = units[:, -window:]
    return np.repeat(recent.mean(axis=1, keepdims=True), horizon, axis=1)


def same_period_last_year(
    history: np.ndarray, origin: int, horizon: int, periods_per_year: int
) -> np.ndarray | None:
    """``(J, horizon)``: units of ``history`` (J, T, the whole log) ``periods_per_year``
    periods before each forecast period ``origin + h``; None unless every one of them
    lies in the training periods (before ``origin``)."""
    lagged = np.arange(origin, origin + horizon) - periods_per_year
    if lagged[0] < 0 or lagged[-1] >= origin:
        return None
    return history[:, lagged].astype(float)


def naive_forecasts(
    history: np.ndarray, origin: int, horizon: int, periods_per_year: int
) -> dict[str, np.ndarray]:
    """Every naive forecast of the module docstring that the log supports, by name.

    :param history: ``(J, T)`` units per product and period of the whole log.
    :param origin: the first forecast period (periods before it are the training data).
    """
    training = history[:, :origin].astype(float)
    forecasts = {f"mean_last_{n}": mean_last(training, n, horizon) for n in MEAN_WINDOWS}
    seasonal = same_period_last_year(history, origin, horizon, periods_per_year)
    if seasonal is not None:
        forecasts["same_week_last_year"] = seasonal
    return forecasts


__all__ = ["MEAN_WINDOWS", "mean_last", "naive_forecasts", "same_period_last_year"]

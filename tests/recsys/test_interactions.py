"""The customer x product matrix: aggregation, confidence weighting, ratings, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.interactions import confidence, interactions_from_log, interactions_from_ratings
from sim.logs.data import TransactionLog
from sim.logs.errors import InputError


@pytest.fixture
def log(make_log) -> TransactionLog:
    return make_log(
        [
            ("C1", "2024-01-01", "P1", 2.0),
            ("C1", "2024-01-05", "P1", 1.0),  # a second line for the same pair
            ("C2", "2024-01-02", "P2", 3.0),
            ("C2", "2024-01-03", "P1", 0.0),  # quantity 0: not a purchase
        ]
    )


def test_purchase_counts_become_log_confidence(log: TransactionLog) -> None:
    interactions = interactions_from_log(log, measure="count", weighting="log", alpha=2.0)
    assert list(interactions.customers) == ["C1", "C2"]
    assert list(interactions.products) == ["P1", "P2"]
    dense = interactions.matrix.toarray()
    # C1 bought P1 on 2 lines: c = 1 + 2 log(1 + 2 / 1) = 1 + 2 ln 3
    assert dense[0, 0] == pytest.approx(1 + 2 * math.log(3))
    # C2 bought P2 once (its P1 line has quantity 0): c = 1 + 2 ln 2
    assert dense[1, 1] == pytest.approx(1 + 2 * math.log(2))
    assert dense[0, 1] == dense[1, 0] == 0
    assert interactions.nnz == 2


def test_linear_weighting_and_spend(log: TransactionLog) -> None:
    linear = interactions_from_log(log, measure="quantity", weighting="linear", alpha=0.5)
    assert linear.matrix[0, 0] == pytest.approx(1 + 0.5 * 3)  # 2 + 1 units
    spend = interactions_from_log(log, measure="spend", weighting="none")
    assert spend.matrix[0, 0] == pytest.approx(6.0)  # 3 units x 2.0
    assert spend.matrix[1, 1] == pytest.approx(6.0)


def test_confidence_formulas() -> None:
    values = np.array([1.0, 4.0])
    assert confidence(values, "log", alpha=3.0, epsilon=2.0) == pytest.approx(
        1 + 3 * np.log1p(values / 2)
    )
    assert confidence(values, "linear", alpha=3.0) == pytest.approx(1 + 3 * values)
    assert confidence(values, "none") == pytest.approx(values)
    with pytest.raises(InputError, match="unknown weighting"):
        confidence(values, "sqrt")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="alpha and epsilon"):
        confidence(values, "log", alpha=0.0)


def test_an_empty_log_is_an_input_error(make_log) -> None:
    empty = make_log([("C1", "2024-01-01", "P1", 0.0)])
    with pytest.raises(InputError, match="no purchases") as raised:
        interactions_from_log(empty)
    assert "\n" not in str(raised.value)


def test_ratings_are_averaged_per_pair() -> None:
    frame = pd.DataFrame(
        {"customer": ["u", "u", "v"], "product": ["a", "a", "b"], "rating": [4, 2, 5]}
    )
    ratings = interactions_from_ratings(frame)
    assert ratings.explicit
    assert ratings.matrix.toarray().tolist() == [[3.0, 0.0], [0.0, 5.0]]


@pytest.mark.parametrize(
    ("rating", "problem"),
    [("five", "row 2: rating 'five' in column 'rating' is not a number"), ("0", "must be > 0")],
)
def test_bad_ratings_name_the_row(rating: str, problem: str) -> None:
    frame = pd.DataFrame({"customer": ["u", "v"], "product": ["a", "b"], "rating": ["4", rating]})
    with pytest.raises(InputError, match=problem) as raised:
        interactions_from_ratings(frame, source="ratings.csv")
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("ratings.csv, row 2")


def test_a_missing_ratings_column_is_named() -> None:
    frame = pd.DataFrame({"customer": ["u"], "product": ["a"], "stars": [4]})
    with pytest.raises(InputError, match="no column 'rating'"):
        interactions_from_ratings(frame)

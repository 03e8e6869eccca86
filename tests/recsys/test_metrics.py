"""Ranking and rating metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.evaluation import (
    average_precision_at_k,
    catalogue_coverage,
    mae,
    mean_average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
)
from sim.logs.errors import InputError

# One customer: list [a, b, c, d, e], relevant {b, e, f}; hits at ranks 2 and 5.
RECOMMENDED = ["a", "b", "c", "d", "e"]
RELEVANT = {"b", "e", "f"}


def test_precision_and_recall_count_hits_in_the_top_k() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 5)  # 2 hits / k
    assert recall_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 3)  # 2 hits / |R|
    assert precision_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1 / 3)  # only b in [a, b, c]
    assert recall_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1 / 3)


def test_ndcg_discounts_by_log2_of_rank_plus_one() -> None:
    # DCG = 1/log2(2+1) + 1/log2(5+1) = 0.63093 + 0.38685 = 1.01778
    # IDCG, min(5, |R| = 3) hits at ranks 1..3 = 1 + 0.63093 + 0.5 = 2.13093
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(0.47762, abs=1e-5)
    # k = 3: DCG = 1/log2(3) = 0.63093 over the same IDCG -> 0.29608
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(0.29608, abs=1e-5)
    assert ndcg_at_k(["b", "e", "f"], RELEVANT, 3) == pytest.approx(1.0)  # the ideal list


def test_average_precision_and_map() -> None:
    # AP@5 = (P@2 + P@5) / min(5, 3) = (1/2 + 2/5) / 3 = 0.3
    assert average_precision_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(0.3)
    # AP@3 = P@2 / min(3, 3) = (1/2) / 3
    assert average_precision_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1 / 6)
    # A second customer: [x, y] with relevant {x}: AP@2 = P@1 / min(2, 1) = 1
    # MAP@5 = (0.3 + 1) / 2 = 0.65
    both = mean_average_precision_at_k([RECOMMENDED, ["x", "y"]], [RELEVANT, {"x"}], 5)
    assert both == pytest.approx(0.65)


def test_a_short_list_is_padded_with_misses() -> None:
    assert precision_at_k(["b"], {"b"}, 3) == pytest.approx(1 / 3)  # 1 hit / k = 3
    assert ndcg_at_k(["b"], {"b"}, 3) == pytest.approx(1.0)


def test_vectorised_metrics_match_the_single_list_functions() -> None:
    hits = np.array([[False, True, False, False, True], [True, False, False, False, False]])
    metrics = ranking_metrics(hits, np.array([3, 1]))
    assert metrics["precision"] == pytest.approx([0.4, 0.2])
    assert metrics["recall"] == pytest.approx([2 / 3, 1.0])
    assert metrics["ndcg"] == pytest.approx([ndcg_at_k(RECOMMENDED, RELEVANT, 5), 1.0])
    assert metrics["ap"] == pytest.approx([0.3, 1.0])


def test_catalogue_coverage_is_the_share_of_products_ever_recommended() -> None:
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 5) == pytest.approx(3 / 5)


def test_rmse_and_mae() -> None:
    # errors 0, -1, -2: RMSE = sqrt((0 + 1 + 4) / 3) = 1.29099, MAE = (0 + 1 + 2) / 3 = 1
    assert rmse([1, 2, 3], [1, 3, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([1, 2, 3], [1, 3, 5]) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_is_an_input_error(k: int) -> None:
    with pytest.raises(InputError, match="k must be"):
        precision_at_k(RECOMMENDED, RELEVANT, k)


def test_an_empty_relevant_set_is_an_input_error() -> None:
    with pytest.raises(InputError, match="relevant set is empty"):
        ndcg_at_k(RECOMMENDED, set(), 5)

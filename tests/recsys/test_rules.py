"""Cross-sell rules on a basket set small enough to count by hand."""

from __future__ import annotations

import pytest

from recsys.rules import RULE_COLUMNS, baskets_from_log, cross_sell_rules
from sim.logs.errors import InputError


@pytest.fixture
def baskets_log(make_log):
    # Four baskets (customer, day):
    # b1 (c1, day 1): milk bread     b2 (c1, day 2): milk bread eggs
    # b3 (c2, day 1): milk           b4 (c3, day 1): bread eggs (eggs on two lines)
    return make_log(
        [
            ("c1", "2024-01-01", "milk", 1), ("c1", "2024-01-01", "bread", 1),
            ("c1", "2024-01-02", "milk", 1), ("c1", "2024-01-02", "bread", 1),
            ("c1", "2024-01-02", "eggs", 1), ("c2", "2024-01-01", "milk", 2),
            ("c3", "2024-01-01", "bread", 1), ("c3", "2024-01-01", "eggs", 1),
            ("c3", "2024-01-01", "eggs", 3),
        ]
    )  # fmt: skip


def test_baskets_are_customer_days(baskets_log) -> None:
    baskets = baskets_from_log(baskets_log)
    assert baskets.n_baskets == 4
    assert baskets.matrix.dtype == bool
    assert baskets.matrix.nnz == 2 + 3 + 1 + 2  # a product counts once per basket


def test_support_confidence_and_lift_by_hand(baskets_log) -> None:
    # N = 4: support(milk) = 3/4, bread 3/4, eggs 2/4, {milk, bread} 2/4, {bread, eggs} 2/4.
    # eggs -> bread: confidence = (2/4) / (2/4) = 1,    lift = 1 / (3/4) = 4/3
    # bread -> eggs: confidence = (2/4) / (3/4) = 2/3,  lift = (2/3) / (2/4) = 4/3
    # milk -> bread: confidence = 2/3, lift = (2/3) / (3/4) = 8/9 < 1: dropped by min_lift
    rules = cross_sell_rules(baskets_log, min_support=0.5)
    assert list(rules.columns) == list(RULE_COLUMNS)
    assert rules[["antecedents", "consequents"]].values.tolist() == [
        ["eggs", "bread"],  # same lift, higher confidence first
        ["bread", "eggs"],
    ]
    first = rules.iloc[0]
    assert first["support"] == pytest.approx(0.5)
    assert first["confidence"] == pytest.approx(1.0)
    assert first["lift"] == pytest.approx(4 / 3)
    assert first["antecedent_support"] == pytest.approx(0.5)
    assert first["consequent_support"] == pytest.approx(0.75)
    assert rules.iloc[1]["confidence"] == pytest.approx(2 / 3)
    everything = cross_sell_rules(baskets_log, min_support=0.25, min_lift=0.0, top=None)
    milk_bread = everything.query("antecedents == 'milk' and consequents == 'bread'")
    assert milk_bread["lift"].item() == pytest.approx(8 / 9)


def test_the_product_cap_keeps_the_most_frequent_and_all_baskets(baskets_log) -> None:
    # Basket counts: milk 3, bread 3, eggs 2 -> with 2 columns, eggs goes; N stays 4.
    baskets = baskets_from_log(baskets_log, max_products=2)
    assert list(baskets.products) == ["bread", "milk"]
    assert baskets.n_baskets == 4
    rules = cross_sell_rules(baskets, min_support=0.5, min_lift=0.0)
    assert set(rules["antecedents"]) == {"milk", "bread"}
    assert rules["support"].max() == pytest.approx(0.5)  # {milk, bread} in 2 of 4


def test_no_rule_gives_an_empty_table(baskets_log) -> None:
    rules = cross_sell_rules(baskets_log, min_support=0.9)
    assert rules.empty
    assert list(rules.columns) == list(RULE_COLUMNS)


def test_bad_options_are_input_errors(baskets_log, make_log) -> None:
    with pytest.raises(InputError, match="min support"):
        cross_sell_rules(baskets_log, min_support=0.0)
    with pytest.raises(InputError, match="no purchases"):
        baskets_from_log(make_log([("c", "2024-01-01", "x", 0)]))

"""The demand panel: aggregation by hand, active customers, calendars and segment sources."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.demand.panel import build_panel, load_segments
from sim.logs.data import read_transaction_log
from sim.logs.errors import InputError
from sim.market.exogenous import calendar_from_table, calendar_from_truth
from sim.market.synth import SynthSpec, synthesize
from sim.profiles.activity import (
    PurchaseHistory,
    active_customers,
    lapse_thresholds,
    state_transitions,
    two_state_rates,
)

TINY_LOG = """customer,date,product,quantity,unit_price,promo
A,2024-01-01,P1,2,10.0,0
A,2024-01-03,P1,1,10.0,0
B,2024-01-02,P1,1,8.0,1
B,2024-01-02,P2,3,5.0,0
C,2024-01-09,P2,2,5.0,0
A,2024-01-16,P2,1,4.0,1
C,2024-01-17,P1,1,10.0,0
"""


def write_profile_dir(directory, clusters: dict[str, int], names: dict[int, str] | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer": list(clusters), "cluster": list(clusters.values())}).to_parquet(
        directory / "customers.parquet"
    )
    if names:
        pd.DataFrame({"segment": list(names), "name": list(names.values())}).to_parquet(
            directory / "segments.parquet"
        )
    return directory


@pytest.fixture
def tiny_panel(tmp_path):
    log_path = tmp_path / "tiny.csv"
    log_path.write_text(TINY_LOG)
    clusters, names = {"A": 0, "B": 0, "C": 1}, {0: "Big", 1: "Small"}
    profile = write_profile_dir(tmp_path / "profile", clusters, names)
    return build_panel(read_transaction_log(log_path), load_segments(profile), "week")


def test_panel_aggregates_a_hand_computed_tiny_log(tiny_panel):
    panel = tiny_panel
    assert panel.anchor == pd.Timestamp("2024-01-01")  # a Monday: weeks start there
    assert list(panel.segments) == [0, 1] and panel.segment_names == ["Big", "Small"]
    assert panel.products == ["P1", "P2"] and panel.n_periods == 3
    np.testing.assert_array_equal(panel.population, [2, 1])
    np.testing.assert_array_equal(panel.units[0], [[4, 0, 0], [3, 0, 1]])
    np.testing.assert_array_equal(panel.units[1], [[0, 0, 1], [0, 2, 0]])
    # observed cells: sum(amount) / sum(quantity)
    assert panel.paid_price[0, 0, 0] == pytest.approx((20 + 10 + 8) / 4)
    assert panel.paid_price[0, 1, 2] == pytest.approx(4.0)
    assert panel.paid_price[1, 1, 1] == pytest.approx(5.0)
    # shelf price: median non-promotional price; week 2 of P2 has only a promotion line,
    # from a segment with no regular purchase that week, so the neighbouring price is used
    np.testing.assert_allclose(panel.shelf_price, [[10, 10, 10], [5, 5, 5]])
    # list price: median over periods of the quoted shelf prices
    np.testing.assert_allclose(panel.list_price, [10.0, 5.0])
    assert panel.list_price_source == ["derived", "derived"]
    # empty cells: shelf price times the segment's discount factor in that period
    # (segment 0 paid 4 for a 5 shelf price in week 2: 0.8; it bought nothing in week 1)
    assert panel.paid_price[0, 0, 2] == pytest.approx(8.0)
    assert panel.paid_price[0, 1, 1] == pytest.approx(5.0)
    # promotion share: of the cell's units; empty cells take the segment's share that period
    assert panel.promo_share[0, 0, 0] == pytest.approx(0.25)
    assert panel.promo_share[0, 1, 2] == pytest.approx(1.0)
    assert panel.promo_share[0, 0, 2] == pytest.approx(1.0)
    assert panel.promo_share[0, 0, 1] == pytest.approx(0.0)
    # every customer's first purchase is within the lapse window of the start
    np.testing.assert_array_equal(panel.active, [[2, 2, 2], [1, 1, 1]])
    frame = panel.frame()
    assert len(frame) == 2 * 2 * 3
    assert frame.loc[0, "rel_price"] == pytest.approx(0.95)


def test_daily_periods_count_days(tmp_path):
    log_path = tmp_path / "tiny.csv"
    log_path.write_text(TINY_LOG)
    profile = write_profile_dir(tmp_path / "profile", {"A": 0, "B": 0, "C": 1})
    panel = build_panel(read_transaction_log(log_path), load_segments(profile), "day")
    assert panel.n_periods == 17 and panel.anchor == pd.Timestamp("2024-01-01")
    assert panel.units[0, 0, 0] == 2 and panel.units[0, 0, 2] == 1
    assert panel.segment_names == ["Cluster 0", "Cluster 1"]


def test_active_customers_follow_the_lapse_rule():
    """Customer 0 buys in periods 0 and 5, customer 1 in period 3; lapse after 2 silent periods.

    Customer 0: active 0 (censored start), 1-2 (after 0), not 3-5 (5 is a return, counted
    from the next period), 6-7. Customer 1 is new (first purchase 3 > 2): active 4-5.
    Together: 1 1 1 0 1 1 1 1 0 0.
    """
    history = PurchaseHistory.from_lines(
        np.array([0, 0, 1]), np.array([0, 5, 3]), np.ones(3), np.array([0, 0]),
        pd.Index(["a", "b"]), n_periods=10, n_segments=1,
    )  # fmt: skip
    active = active_customers(history, np.array([2]))
    np.testing.assert_array_equal(active[0], [1, 1, 1, 0, 1, 1, 1, 1, 0, 0])


def test_state_transitions_count_moves_between_rfm_states():
    history = PurchaseHistory.from_lines(
        np.array([0, 0, 1]), np.array([0, 5, 3]), np.ones(3), np.array([0, 0]),
        pd.Index(["a", "b"]), n_periods=10, n_segments=1,
    )  # fmt: skip
    moves = state_transitions(history, lapse=np.array([2]), at_risk=np.array([1]))[0]
    expected = np.zeros((3, 3))
    expected[0, 1], expected[1, 2], expected[2, 2], expected[2, 0] = 3, 3, 6, 1
    np.testing.assert_array_equal(moves, expected)
    churn, reactivation = two_state_rates(moves[None])
    assert churn[0] == pytest.approx(3 / 6) and reactivation[0] == pytest.approx(1 / 7)


def test_lapse_threshold_is_a_high_quantile_of_gaps_with_a_floor():
    history = PurchaseHistory.from_lines(
        np.zeros(4, int), np.array([0, 2, 4, 10]), np.ones(4), np.array([0]),
        pd.Index(["a"]), n_periods=20, n_segments=1,
    )  # fmt: skip
    lapse, at_risk = lapse_thresholds(history, quantile=1.0)
    assert lapse[0] == 6 and at_risk[0] == 2
    assert lapse_thresholds(history, quantile=1.0, minimum=9)[0][0] == 9


@pytest.fixture(scope="module")
def small_synth(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synth")
    spec = SynthSpec(customers=800, periods=40, products=6, seed=5)
    return synthesize(spec, directory / "log.parquet")


def test_truth_segments_and_calendar_line_up_with_the_planted_market(small_synth):
    truth = json.loads(small_synth.truth_path.read_text())
    panel = build_panel(
        read_transaction_log(small_synth.log_path),
        load_segments(small_synth.truth_path),
        "week",
        calendar_from_truth(small_synth.truth_path),
    )
    assert panel.anchor == pd.Timestamp(truth["generator"]["start"])
    assert panel.segment_names == [s["name"] for s in truth["segments"]]
    np.testing.assert_allclose(panel.list_price, [p["list_price"] for p in truth["products"]])
    assert set(panel.list_price_source) == {"given"}
    np.testing.assert_allclose(panel.competitor_price, truth["calendar"]["competitor_price"])
    np.testing.assert_allclose(panel.ad_spend, truth["calendar"]["ad_spend"])
    np.testing.assert_allclose(panel.audience_mix, np.eye(4))
    # the planted prices: list x multiplier x (1 - coupon), to the cent
    calendar = truth["calendar"]
    planted = (
        panel.list_price[None, :, None]
        * np.asarray(calendar["price_multiplier"])[None]
        * (1 - np.asarray(calendar["coupon_discount"]))[:, None, :]
    )
    np.testing.assert_allclose(panel.paid_price, planted, rtol=0.01)
    np.testing.assert_array_equal(panel.promo_share, np.broadcast_to(
        (np.asarray(calendar["coupon_discount"]) > 0)[:, None, :], panel.units.shape))  # fmt: skip


def test_active_share_tracks_the_planted_expected_share(small_synth):
    """The planted share runs 0.85-1; customers silent longer than a quarter count as lapsed.
    Over 40 weeks the two agree to within 0.1 on average for every segment."""
    truth = json.loads(small_synth.truth_path.read_text())
    panel = build_panel(
        read_transaction_log(small_synth.log_path), load_segments(small_synth.truth_path), "week"
    )
    estimated = panel.active / panel.population[:, None]
    planted = np.asarray(truth["calendar"]["expected_active_share"])
    assert np.abs(estimated - planted).mean(axis=1).max() < 0.1


def test_calendar_table_gives_list_prices_competitor_prices_and_ad_spend(tmp_path):
    table = tmp_path / "calendar.csv"
    table.write_text(
        "date,product,competitor_price,list_price,segment,ad_spend\n"
        "2024-01-01,P1,9.5,10.5,,\n"
        "2024-01-15,P1,9.0,,,\n"
        "2024-01-08,,,,1,300\n"
    )
    log_path = tmp_path / "tiny.csv"
    log_path.write_text(TINY_LOG)
    profile = write_profile_dir(tmp_path / "profile", {"A": 0, "B": 0, "C": 1})
    panel = build_panel(
        read_transaction_log(log_path), load_segments(profile), "week", calendar_from_table(table)
    )
    assert panel.list_price[0] == 10.5 and panel.list_price_source == ["given", "derived"]
    np.testing.assert_allclose(panel.competitor_price[0], [9.5, 9.5, 9.0])
    assert np.isnan(panel.competitor_price[1]).all()
    np.testing.assert_allclose(panel.ad_spend, [[0, 0, 0], [0, 300, 0]])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing", "no such directory or file"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "has no customers.parquet"),
        (lambda d: (d / "x.txt").write_text("x") and d / "x.txt", "neither a profile directory"),
        (lambda d: (d / "t.json").write_text("{}") and d / "t.json", "not a promosim truth file"),
    ],
)
def test_bad_segment_sources_are_one_line_input_errors(tmp_path, make, expected):
    with pytest.raises(InputError, match=expected) as error:
        load_segments(make(tmp_path))
    assert "\n" not in str(error.value)


def test_log_whose_customers_have_no_segment_is_an_input_error(tmp_path):
    log_path = tmp_path / "tiny.csv"
    log_path.write_text(TINY_LOG)
    profile = write_profile_dir(tmp_path / "profile", {"Z": 0})
    with pytest.raises(InputError, match="none of the log's customers"):
        build_panel(read_transaction_log(log_path), load_segments(profile))


@pytest.mark.parametrize(
    ("segment", "says"),
    [("gold", "'gold' is not a segment number"), ("1.5", "'1.5' is not a segment number"),
     ("-2", "'-2' is not a segment number")],
)  # fmt: skip
def test_a_calendar_segment_that_is_not_a_segment_number_is_one_line(tmp_path, segment, says):
    table = tmp_path / "calendar.csv"
    table.write_text(f"date,segment,ad_spend\n2024-01-01,0,10\n2024-01-08,{segment},5\n")
    with pytest.raises(InputError, match=says):
        calendar_from_table(table)
    with pytest.raises(InputError, match="is a directory"):
        calendar_from_table(tmp_path)

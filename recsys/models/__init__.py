"""The recommenders, one per module, and a registry of them by name.

- ``popularity``: :class:`PopularityRecommender`, the baseline (predicts ratings);
- ``item_knn``: :class:`ItemKNNRecommender`, cosine or adjusted cosine (predicts ratings);
- ``user_knn``: :class:`UserKNNRecommender`, Pearson, mean-centred (predicts ratings);
- ``als``: :class:`ALSRecommender`, implicit matrix factorisation (purchases only);
- ``content``: :class:`ContentRecommender`, product attributes (needs a product table);
- ``hybrid``: :class:`HybridRecommender`, rank blend of als + user_knn (+ content);
- ``repeat``: :class:`RepeatRecommender`, each customer's own most frequent products
  (the second baseline: strong on real baskets);
- ``tifu_knn``: :class:`TifuKNNRecommender`, time-decayed repeat frequencies blended
  with the nearest customers' (tuned on the training history).
"""

from __future__ import annotations

import pandas as pd

from recsys.models.als import ALSRecommender
from recsys.models.base import Recommender
from recsys.models.content import ContentRecommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.item_knn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender
from recsys.models.repeat import RepeatRecommender, TifuKNNRecommender
from recsys.models.user_knn import UserKNNRecommender
from sim.logs.errors import InputError, did_you_mean

#: Model names, the baseline first.
MODEL_NAMES: tuple[str, ...] = (
    "popularity", "repeat", "item_knn", "user_knn", "als", "content", "hybrid", "tifu_knn",
)  # fmt: skip

BASELINE = "popularity"
#: The second baseline on dated purchases: each customer's own most frequent products.
REPEAT_BASELINE = "repeat"


def make_model(
    name: str, *, seed: int = 0, product_attributes: pd.DataFrame | None = None
) -> Recommender:
    """A model by name with its default hyper-parameters; ``seed`` seeds ALS.

    ``content`` needs ``product_attributes`` (a table with a ``product`` column);
    the hybrid blends ALS and user kNN (two views of "customers like you": latent
    factors and explicit neighbours), and content too when attributes are given.
    """
    if name == "popularity":
        return PopularityRecommender()
    if name == "repeat":
        return RepeatRecommender()
    if name == "tifu_knn":
        return TifuKNNRecommender(random_state=seed)
    if name == "item_knn":
        return ItemKNNRecommender()
    if name == "user_knn":
        return UserKNNRecommender()
    if name == "als":
        return ALSRecommender(random_state=seed)
    if name == "content":
        if product_attributes is None:
            raise InputError("the content model needs a product table (--products FILE)")
        return ContentRecommender(product_attributes)
    if name == "hybrid":
        parts = [ALSRecommender(random_state=seed), UserKNNRecommender()]
        if product_attributes is not None:
            parts.append(ContentRecommender(product_attributes))
        return HybridRecommender(parts)
    raise InputError(
        f"unknown model '{name}'{did_you_mean(name, MODEL_NAMES)} "
        f"(expected one of {', '.join(MODEL_NAMES)} or all)"
    )


def default_models(
    *,
    seed: int = 0,
    product_attributes: pd.DataFrame | None = None,
    explicit: bool = False,
) -> dict[str, Recommender]:
    """Every model that applies, by name, the baseline first.

    Without a product table there is no content model; on explicit ratings only
    the models that predict ratings (for RMSE and MAE).
    """
    models = {}
    for name in MODEL_NAMES:
        if name == "content" and product_attributes is None:
            continue
        model = make_model(name, seed=seed, product_attributes=product_attributes)
        if explicit and not model.predicts_ratings:
            continue
        models[name] = model
    return models


__all__ = [
    "ALSRecommender",
    "BASELINE",
    "ContentRecommender",
    "HybridRecommender",
    "ItemKNNRecommender",
    "MODEL_NAMES",
    "PopularityRecommender",
    "REPEAT_BASELINE",
    "Recommender",
    "RepeatRecommender",
    "TifuKNNRecommender",
    "UserKNNRecommender",
    "default_models",
    "make_model",
]

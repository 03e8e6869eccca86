"""Content-based recommendations from product attributes (category, brand, price band ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.arrays import centre_stored, stored_row_means
from recsys.interactions import Interactions
from recsys.models.base import Recommender
from sim.logs.errors import InputError


class ContentRecommender(Recommender):
    """Recommend products whose attributes resemble what the customer bought.

    Every product becomes a bag of attribute tokens ``column=value``; a numeric
    column with more than ``price_bands`` distinct values is cut into that many
    quantile bands first (``list_price=band3``), so "similar price" is a shared
    token. Tokens are one-hot encoded and TF-IDF weighted (a token every product
    has says nothing), rows L2-normalised: ``f_i``.

    A customer's profile is the feedback-weighted sum of what they have,
    ``q_u = sum_i w_ui f_i``, with ``w_ui = x_ui`` for purchases and
    ``w_ui = r_ui - mean_u`` for ratings (a product rated below one's own mean
    pushes its attributes away). The score is the cosine
    ``score_ui = q_u . f_i / ||q_u||`` (0 for an empty profile). Products missing
    from the attribute table have no tokens and score 0.

    Parameters
    ----------
    attributes : pd.DataFrame
        One row per product: a ``product_column`` plus attribute columns.
    product_column : str
        The column with the product id.
    price_bands : int
        Quantile bands for numeric attributes.

    Attributes
    ----------
    features_ : scipy.sparse.csr_matrix of shape (products, tokens)
        ``f_i``, rows aligned with ``interactions_.products``.
    tokens_ : list of str
        The token of each feature column.
    """

    def __init__(
        self, attributes: pd.DataFrame, product_column: str = "product", price_bands: int = 5
    ) -> None:
        self.attributes = attributes
        self.product_column = product_column
        self.price_bands = price_bands

    def _fit(self, interactions: Interactions) -> None:
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.preprocessing import MultiLabelBinarizer

        table = self._attribute_table()
        tokens = attribute_tokens(table.drop(columns=[self.product_column]), self.price_bands)
        by_product = pd.Series(tokens, index=table[self.product_column].astype(str).to_numpy())
        by_product = by_product[~by_product.index.duplicated(keep="first")]
        aligned = by_product.reindex(interactions.products)
        if aligned.notna().sum() == 0:
            raise InputError(
                "the product table shares no product id with the log (first ids: "
                f"{', '.join(by_product.index[:3])} vs {', '.join(interactions.products[:3])})"
            )
        token_lists = [value if isinstance(value, list) else [] for value in aligned]
        binarizer = MultiLabelBinarizer(sparse_output=True)
        one_hot = binarizer.fit_transform(token_lists)
        self.features_ = sp.csr_matrix(TfidfTransformer(norm="l2").fit_transform(one_hot))
        self.tokens_ = [str(token) for token in binarizer.classes_]

    def _attribute_table(self) -> pd.DataFrame:
        table = self.attributes
        if not isinstance(table, pd.DataFrame) or self.product_column not in table.columns:
            raise InputError(
                f"the product table needs a '{self.product_column}' column with the product id"
            )
        if table.shape[1] < 2:
            raise InputError("the product table has no attribute column besides the product id")
        return table

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        feedback = self.interactions_.matrix[rows]
        if self.interactions_.explicit:
            feedback = centre_stored(feedback, stored_row_means(feedback))
        profiles = feedback @ self.features_
        length = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)))
        similarity = (profiles @ self.features_.T).toarray()
        return np.divide(similarity, length, out=np.zeros_like(similarity), where=length > 0)


def attribute_tokens(table: pd.DataFrame, price_bands: int = 5) -> list[list[str]]:
    """Each row's ``column=value`` tokens; many-valued numeric columns become quantile bands.

    Missing values give no token.
    """
    columns: list[pd.Series] = []
    for name in table.columns:
        values = table[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and values.nunique() > price_bands:
            bands = pd.qcut(values, price_bands, labels=False, duplicates="drop")
            text = ("band" + bands.astype("Int64").astype(str)).where(bands.notna())
        else:
            if numeric and (values.dropna() % 1 == 0).all():
                values = values.astype("Int64")  # a size of 1 reads "size=1", not "size=1.0"
            text = values.astype(str).where(values.notna())
        columns.append((f"{name}=" + text).where(text.notna()))
    return [
        [token for token in row if isinstance(token, str)]
        for row in zip(*(column.tolist() for column in columns), strict=True)
    ]

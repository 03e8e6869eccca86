"""Cross-sell rules: "customers who put A in the basket also put B" (association rules).

A basket is everything one customer bought on one day. Over N baskets, for
item sets A and C (disjoint):

- support(A -> C)    = baskets containing A and C / N
- confidence(A -> C) = support(A and C) / support(A), an estimate of P(C | A)
- lift(A -> C)       = confidence(A -> C) / support(C); 1 means A tells nothing
  about C, above 1 they go together more often than chance

Frequent item sets come from FP-growth (Han, Pei and Yin, SIGMOD 2000) and rules
from :func:`mlxtend.frequent_patterns.association_rules`. The basket matrix is
boolean and sparse; only the ``max_products`` most frequent products (by baskets)
are kept as columns, since FP-growth's tree grows with the catalogue and a product
in too few baskets cannot reach a useful support anyway. Baskets left empty by that
cap still count in N, so supports stay shares of *all* baskets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sim.logs.data import TransactionLog
from sim.logs.errors import InputError

#: Columns of :func:`cross_sell_rules`' table.
RULE_COLUMNS: tuple[str, ...] = (
    "antecedents", "consequents", "antecedent_support", "consequent_support", "support",
    "confidence", "lift",
)  # fmt: skip


@dataclass(frozen=True)
class Baskets:
    """Basket x product incidence, boolean CSR; ``products`` labels its columns."""

    matrix: sp.csr_matrix
    products: pd.Index

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])


def baskets_from_log(log: TransactionLog | pd.DataFrame, *, max_products: int = 200) -> Baskets:
    """One row per (customer, day) with a purchase; columns = the top ``max_products``.

    Products are ranked by the number of baskets they appear in (ties: by product id).
    """
    frame = log.frame if isinstance(log, TransactionLog) else log
    if max_products < 1:
        raise InputError(f"max products must be >= 1, got {max_products}")
    bought = frame.loc[frame["quantity"].to_numpy() > 0, ["customer", "date", "product"]]
    if bought.empty:
        raise InputError("the transaction log has no purchases, so there are no baskets")
    basket_id = bought.groupby(["customer", "date"], sort=False).ngroup().to_numpy()
    lines = pd.DataFrame({"basket": basket_id, "product": bought["product"].astype(str).to_numpy()})
    lines = lines.drop_duplicates()
    frequency = lines["product"].value_counts()
    ranked = frequency.reset_index().sort_values(
        ["count", "product"], ascending=[False, True], kind="stable"
    )
    products = pd.Index(ranked["product"].to_numpy()[:max_products], dtype="str")
    column = products.get_indexer(lines["product"])
    kept = column >= 0
    matrix = sp.csr_matrix(
        (np.ones(int(kept.sum()), dtype=bool), (lines["basket"].to_numpy()[kept], column[kept])),
        shape=(int(basket_id.max()) + 1, len(products)),
    )
    return Baskets(matrix=matrix, products=products)


def cross_sell_rules(
    log: TransactionLog | pd.DataFrame | Baskets,
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.0,
    min_lift: float = 1.0,
    max_products: int = 200,
    max_length: int | None = 3,
    top: int | None = 20,
) -> pd.DataFrame:
    """Association rules sorted by lift (then confidence, then support), best first.

    :param log: a transaction log (baskets are built from it) or ready :class:`Baskets`.
    :param min_support: smallest share of baskets an item set must appear in, in (0, 1].
    :param min_confidence: keep rules with confidence at least this.
    :param min_lift: keep rules with lift at least this (1: no worse than chance).
    :param max_products: cap on the basket matrix columns (most frequent products).
    :param max_length: largest item set (antecedent + consequent) considered.
    :param top: keep this many rules (None: all).
    :returns: columns :data:`RULE_COLUMNS`; item sets as comma-joined product ids.
        Empty (with those columns) when no rule clears the thresholds.
    """
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    if not 0 < min_support <= 1:
        raise InputError(f"min support must be in (0, 1], got {min_support}")
    if top is not None and top < 1:
        raise InputError(f"top must be >= 1, got {top}")
    baskets = log if isinstance(log, Baskets) else baskets_from_log(log, max_products=max_products)
    incidence = pd.DataFrame.sparse.from_spmatrix(
        baskets.matrix, columns=[str(product) for product in baskets.products]
    )
    frequent = fpgrowth(incidence, min_support=min_support, use_colnames=True, max_len=max_length)
    if frequent.empty or frequent["itemsets"].map(len).max() < 2:
        return pd.DataFrame(columns=list(RULE_COLUMNS))
    rules = association_rules(
        frequent, num_itemsets=baskets.n_baskets, metric="lift", min_threshold=min_lift
    )
    rules = rules.loc[rules["confidence"] >= min_confidence]
    table = pd.DataFrame(
        {
            "antecedents": rules["antecedents"].map(_joined),
            "consequents": rules["consequents"].map(_joined),
            "antecedent_support": rules["antecedent support"],
            "consequent_support": rules["consequent support"],
            "support": rules["support"],
            "confidence": rules["confidence"],
            "lift": rules["lift"],
        }
    )
    table = table.sort_values(
        ["lift", "confidence", "support", "antecedents", "consequents"],
        ascending=[False, False, False, True, True],
        kind="stable",
        ignore_index=True,
    )
    return table if top is None else table.head(top)


def _joined(items: frozenset[str]) -> str:
    return ", ".join(sorted(items))

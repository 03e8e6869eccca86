"""Collaborative filtering for promosim: taste profiles, recommendations, cross-sell rules.

- :mod:`recsys.interactions`: the customer x product feedback matrix (sparse CSR),
  implicit (purchase counts, units or spend, confidence-weighted) or explicit ratings;
- :mod:`recsys.models`: popularity (the baseline), item kNN, user kNN, ALS matrix
  factorisation, content-based and a hybrid rank blend, one per module, all with
  ``fit`` / ``score`` / ``recommend``;
- :mod:`recsys.evaluation`: time-based split, precision / recall / NDCG / MAP at k,
  coverage, k-fold RMSE / MAE, and :func:`~recsys.evaluation.evaluate_models`;
- :mod:`recsys.taste`: ALS taste vectors as segmentation features and the
  segment x product ``affinity.parquet`` the market reads;
- :mod:`recsys.rules`: association rules from baskets (FP-growth);
- :mod:`recsys.service`: what ``promosim recommend`` runs;
  benchmarks are in :mod:`experiments.bench.recsys`.

Nothing is imported here, so ``import recsys`` stays cheap.
"""

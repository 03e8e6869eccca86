"""The Gymnasium tasks over the market: env, vector env, guardrails."""

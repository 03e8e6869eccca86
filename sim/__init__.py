"""The simulator, in rooms named by the stage of the flow they serve.

- :mod:`sim.logs`: reading transaction logs, the one-line input error, atomic writes
  (the ground floor: every other room may import it, it imports none of them);
- :mod:`sim.profiles`: RFM scores, activity states and K-Means segments;
- :mod:`sim.market`: the demand equations (one home), market parameters and files,
  the per-period kernel, exogenous inputs, presets and the synthetic market;
- :mod:`sim.demand`: estimating a market from a log (panel, design, fit, dynamics,
  purchase intent) and building the market file from the fit;
- :mod:`sim.tasks`: the Gymnasium tasks, the vector env and the guardrails;
- :mod:`sim.oracles`: the best fixed action and the finite-horizon DP.

Nothing is imported here, so ``import sim`` stays cheap.
"""

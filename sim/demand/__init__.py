"""Demand estimation: the log as a panel, the model's design, the fit, dynamics, intent."""

"""Benchmarks: every README figure, one module per group.

:mod:`experiments.bench.all` gathers them into ``promosim bench all``.
"""

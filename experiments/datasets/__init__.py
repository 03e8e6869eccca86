"""Public real logs converted to promosim's input files (development and benchmark data).

promosim never needs these packages at run time: each converter imports its package when
called and says in one line how to install it when it is missing.
"""

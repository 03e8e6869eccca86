"""Reading transaction logs, the one-line :class:`~sim.logs.errors.InputError`, atomic writes."""

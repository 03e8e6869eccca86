"""Common random numbers: random draws that do not depend on the policy.

NumPy's Poisson, binomial and normal samplers use rejection, so the number of uniforms
a draw consumes depends on its parameters: once two policies set different prices,
their demand draws come from different parts of the stream, and a paired comparison
of the two measures luck as well as policy. :class:`InversionSampler` stands in for
the :class:`numpy.random.Generator` the market draws from and turns exactly one
uniform into each variate by inverting its distribution function (``ppf``): a period
consumes the same number of uniforms whatever the actions, so two policies run on one
seed see the same uniforms, period by period, and their sales move together
(a higher mean gives a higher count from the same uniform: monotone coupling).

Written here rather than taken from a library because it is an adapter: the
distributions themselves are scipy.stats'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

#: Uniforms are kept inside (0, 1) so that no inverse CDF returns its -1 or inf sentinel.
_EDGE = 1e-12


class InversionSampler:
    """The subset of :class:`numpy.random.Generator` the market uses, by inversion.

    :param rng: the source of uniforms (the env's ``np_random``).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def _uniforms(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.clip(self.rng.random(shape), _EDGE, 1.0 - _EDGE)

    def poisson(self, lam: Any) -> np.ndarray:
        """Poisson counts with means ``lam``."""
        lam = np.asarray(lam, dtype=float)
        return stats.poisson.ppf(self._uniforms(lam.shape), lam).astype(np.int64)

    def negative_binomial(self, n: Any, p: Any) -> np.ndarray:
        """Failures before ``n`` successes with success probability ``p`` (numpy's convention)."""
        shape = np.broadcast_shapes(np.shape(n), np.shape(p))
        return stats.nbinom.ppf(self._uniforms(shape), n, p).astype(np.int64)

    def binomial(self, n: Any, p: Any) -> np.ndarray:
        """Successes in ``n`` trials of probability ``p``."""
        shape = np.broadcast_shapes(np.shape(n), np.shape(p))
        return stats.binom.ppf(self._uniforms(shape), n, p).astype(np.int64)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> np.ndarray:
        """Normal variates: ``loc + scale * Phi^-1(u)``."""
        shape = size if size is not None else np.broadcast_shapes(np.shape(loc), np.shape(scale))
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return np.asarray(loc) + np.asarray(scale) * special.ndtri(self._uniforms(shape))

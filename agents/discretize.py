r"""A promosim observation as one integer state, for the tabular agents.

Tabular Q-learning needs a finite state. :class:`Discretiser` summarises the
observation of :class:`sim.tasks.env.MarketEnv` by the four quantities that carry the
market's dynamic state for a pricing or promotion policy, each cut into bins:

- ``reference``: the mean over segments and products of R / p, the reference price
  relative to the list price (observation block ``reference``); a share of list price;
- ``pantry``: the mean over segments and products of the pantry stock (block
  ``pantry``); in periods of baseline demand;
- ``active``: the mean over segments of the share of customers still active (block
  ``active``); a share of the population;
- ``period``: t = round((1 - obs[-1]) T), the period of the episode, 0 .. T - 1, from
  the share of the horizon left (block ``remaining``) and the horizon T; in periods.

**Bins.** A feature with increasing interior edges :math:`e_1 < \dots < e_K` has
:math:`K + 1` bins, :math:`b(x) = \#\{k : e_k \le x\}`: bin 0 holds
:math:`x < e_1`, bin :math:`K` holds :math:`x \ge e_K`, so the two outer bins catch
everything the observation Box allows. A feature with no edges is ignored (one bin).
The period is cut into ``period_bins`` equal stretches of the horizon,
:math:`b(t) = \lfloor t B / T \rfloor`; with :math:`B = T` (the default) every
period is its own bin, which makes the finite-horizon problem Markov in time.

**State index.** The bins in the order period, reference, pantry, active, raveled
row-major: ``np.ravel_multi_index``. With the defaults (8 reference bins, 4 pantry
bins, the active share ignored, 52 periods) that is 8 x 4 x 52 = 1,664 states; in a
market without pantry loading only the 416 with pantry bin 0 are ever visited.

Averages over segments and products are a deliberately coarse summary: enough for
the single-product tasks the DP oracle solves, a rough one in the 20-product market.

:class:`DiscretisedObservation` wraps an env so that it emits the state index in a
``Discrete`` observation space.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sim.logs.errors import InputError

#: The observation blocks of :class:`sim.tasks.env.MarketEnv`, in order, with their lengths as
#: functions of (segments S, products J); the layout its class docstring documents.
OBSERVATION_BLOCKS: tuple[tuple[str, str], ...] = (
    ("reference", "SJ"),
    ("adstock", "S"),
    ("pantry", "SJ"),
    ("active", "S"),
    ("competitor", "J"),
    ("multiplier", "J"),
    ("season", "2"),
    ("remaining", "1"),
)

#: Default interior edges of the mean relative reference price R / p. The discrete
#: multipliers run 0.7 .. 1.3 in steps of 0.1, and R moves towards the price charged by
#: exponential smoothing, so R / p stays in [0.7, 1.3]; 7 edges make 8 bins over it, one
#: around list price. Finer bins resolve the reference price better but split the
#: visits: on 52-week ``pricing-reference`` with 200,000 training steps these did best
#: of the sets tried; over 20 weeks, bins 0.05 wide from 0.8 to 1.25 did better.
DEFAULT_REFERENCE_EDGES: tuple[float, ...] = (0.8, 0.9, 0.975, 1.025, 1.1, 1.175, 1.25)

#: Default interior edges of the mean pantry, in periods of baseline demand: empty, a
#: little, about a period's worth, and loaded (a coupon every fourth period fills
#: pantries to 2 .. 7 periods in the ``promotion-pantry`` preset, by its depth).
DEFAULT_PANTRY_EDGES: tuple[float, ...] = (0.25, 1.0, 2.5)

#: Default interior edges of the mean active share: none (ignored). Churn in the shipped
#: presets does not depend on price, so with the period in the state it adds no information.
DEFAULT_ACTIVE_EDGES: tuple[float, ...] = ()


def observation_blocks(n_segments: int, n_products: int) -> dict[str, slice]:
    """Where each block of a MarketEnv observation sits, for S segments and J products."""
    lengths = {"SJ": n_segments * n_products, "S": n_segments, "J": n_products, "2": 2, "1": 1}
    blocks: dict[str, slice] = {}
    start = 0
    for name, size in OBSERVATION_BLOCKS:
        blocks[name] = slice(start, start + lengths[size])
        start += lengths[size]
    return blocks


def observation_size(n_segments: int, n_products: int) -> int:
    """Length of a MarketEnv observation: 2 S J + 2 S + 2 J + 3."""
    return observation_blocks(n_segments, n_products)["remaining"].stop


def check_edges(name: str, edges: Sequence[float]) -> np.ndarray:
    """``edges`` as a float array; InputError unless finite and strictly increasing."""
    array = np.asarray(edges, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} must be finite numbers, got {array.tolist()}")
    if np.any(np.diff(array) <= 0):
        raise InputError(f"{name} must be strictly increasing, got {array.tolist()}")
    return array


def bin_index(value: float, edges: Sequence[float]) -> int:
    """The bin of ``value`` among increasing ``edges``: the number of edges at or below it,
    0 .. K (NaN, which no Box observation holds, falls in bin K)."""
    return bisect.bisect_right(edges, value)


@dataclass(frozen=True, eq=False)
class Discretiser:
    """Maps a MarketEnv observation to one state index in ``range(n_states)``.

    See the module docstring for the features, their units and the bins.

    :param n_segments: S, segments of the market.
    :param n_products: J, products of the market.
    :param horizon: T, periods per episode (turns ``obs[-1]`` into the period).
    :param reference_edges: interior edges of the mean relative reference price.
    :param pantry_edges: interior edges of the mean pantry (periods of baseline demand).
    :param active_edges: interior edges of the mean active share.
    :param period_bins: B, equal stretches of the horizon, 1 .. T.
    """

    n_segments: int
    n_products: int
    horizon: int
    reference_edges: np.ndarray
    pantry_edges: np.ndarray
    active_edges: np.ndarray
    period_bins: int

    def __post_init__(self) -> None:
        for name in ("n_segments", "n_products", "horizon"):
            value = getattr(self, name)
            if value < 1:
                raise InputError(f"discretiser: {name} must be at least 1, got {value}")
        if not 1 <= self.period_bins <= self.horizon:
            raise InputError(
                f"discretiser: period_bins must be in 1 .. horizon ({self.horizon}), "
                f"got {self.period_bins}"
            )
        for name in ("reference_edges", "pantry_edges", "active_edges"):
            object.__setattr__(self, name, check_edges(f"discretiser: {name}", getattr(self, name)))

    @cached_property
    def _edge_lists(self) -> tuple[list[float], list[float], list[float]]:
        # Plain lists: bisect on them costs a tenth of np.searchsorted on one value.
        return (
            self.reference_edges.tolist(),
            self.pantry_edges.tolist(),
            self.active_edges.tolist(),
        )

    @cached_property
    def blocks(self) -> dict[str, slice]:
        """Where each observation block sits (see :func:`observation_blocks`)."""
        return observation_blocks(self.n_segments, self.n_products)

    @classmethod
    def for_env(
        cls,
        env: gym.Env,
        reference_edges: Sequence[float] = DEFAULT_REFERENCE_EDGES,
        pantry_edges: Sequence[float] = DEFAULT_PANTRY_EDGES,
        active_edges: Sequence[float] = DEFAULT_ACTIVE_EDGES,
        period_bins: int | None = None,
    ) -> Discretiser:
        """The discretiser for a promosim env (S, J and T read from the unwrapped env);
        ``period_bins=None`` gives every period its own bin."""
        market_env = env.unwrapped
        try:
            params, horizon = market_env.params, int(market_env.horizon)  # type: ignore[attr-defined]
        except AttributeError:
            raise InputError(
                "the tabular discretiser needs a promosim MarketEnv, "
                f"not {type(market_env).__name__}"
            ) from None
        discretiser = cls(
            n_segments=int(params.n_segments),
            n_products=int(params.n_products),
            horizon=horizon,
            reference_edges=np.asarray(reference_edges, dtype=float),
            pantry_edges=np.asarray(pantry_edges, dtype=float),
            active_edges=np.asarray(active_edges, dtype=float),
            period_bins=horizon if period_bins is None else int(period_bins),
        )
        discretiser.check_space(env.observation_space)
        return discretiser

    # -- the map -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Bins per feature: (period, reference, pantry, active)."""
        return (
            self.period_bins,
            self.reference_edges.size + 1,
            self.pantry_edges.size + 1,
            self.active_edges.size + 1,
        )

    @property
    def n_states(self) -> int:
        return int(np.prod(self.shape))

    def period(self, observation: np.ndarray) -> int:
        """t = round((1 - obs[-1]) T), kept in 0 .. T - 1 (the state after the last period
        counts as the last period; nothing is learned from it)."""
        remaining = float(observation[-1])
        return min(max(round((1.0 - remaining) * self.horizon), 0), self.horizon - 1)

    def features(self, observation: np.ndarray) -> tuple[int, float, float, float]:
        """(period, mean R / p, mean pantry, mean active share) of ``observation``."""
        blocks = self.blocks
        cells, segments = self.n_segments * self.n_products, self.n_segments
        # Sums over sizes known in advance: ndarray.mean costs more than the env step's share.
        return (
            self.period(observation),
            float(observation[blocks["reference"]].sum()) / cells,
            float(observation[blocks["pantry"]].sum()) / cells,
            float(observation[blocks["active"]].sum()) / segments,
        )

    def bins(self, observation: np.ndarray) -> tuple[int, int, int, int]:
        """The bin of each feature, in the order of :attr:`shape`."""
        period, reference, pantry, active = self.features(observation)
        reference_edges, pantry_edges, active_edges = self._edge_lists
        return (
            period * self.period_bins // self.horizon,
            bin_index(reference, reference_edges),
            bin_index(pantry, pantry_edges),
            bin_index(active, active_edges),
        )

    def state(self, observation: np.ndarray) -> int:
        """The state index of ``observation``, in ``range(n_states)``."""
        index = 0
        for size, position in zip(self.shape, self.bins(observation), strict=True):
            index = index * size + position  # row-major, as np.ravel_multi_index
        return index

    def horizon_reached(self, observation: np.ndarray) -> bool:
        """True when ``observation`` is the state after the last period (nothing is left)."""
        return round(float(observation[-1]) * self.horizon) <= 0

    # -- checks and persistence ----------------------------------------------------

    def check_space(self, observation_space: gym.Space) -> None:
        """InputError unless ``observation_space`` is a MarketEnv observation for S and J."""
        expected = observation_size(self.n_segments, self.n_products)
        shape = getattr(observation_space, "shape", None)
        if not isinstance(observation_space, spaces.Box) or shape != (expected,):
            raise InputError(
                f"the discretiser expects a Box observation of length {expected} "
                f"({self.n_segments} segments, {self.n_products} products), "
                f"not {observation_space}"
            )

    def to_arrays(self, prefix: str = "discretiser_") -> dict[str, np.ndarray]:
        """Everything the map needs, as named arrays (saved with an agent's state)."""
        return {
            f"{prefix}sizes": np.array(
                [self.n_segments, self.n_products, self.horizon, self.period_bins], dtype=np.int64
            ),
            f"{prefix}reference_edges": self.reference_edges.copy(),
            f"{prefix}pantry_edges": self.pantry_edges.copy(),
            f"{prefix}active_edges": self.active_edges.copy(),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str = "discretiser_"
    ) -> Discretiser:
        """Inverse of :meth:`to_arrays`; InputError naming the array when one is missing,
        of the wrong type or shape, or not a valid discretiser (sizes below 1, edges not
        finite and increasing)."""
        from agents.base import state_array

        sizes = state_array(arrays, f"{prefix}sizes", kind="int", shape=(4,), minimum=1)
        n_segments, n_products, horizon, period_bins = (int(v) for v in sizes)
        edges = {
            name: state_array(arrays, f"{prefix}{name}", shape=(None,))
            for name in ("reference_edges", "pantry_edges", "active_edges")
        }
        return cls(n_segments, n_products, horizon, period_bins=period_bins, **edges)

    def same_as(self, other: Discretiser) -> bool:
        """True when both map every observation to the same state."""
        mine, theirs = self.to_arrays(), other.to_arrays()
        return all(np.array_equal(mine[key], theirs[key]) for key in mine)


class DiscretisedObservation(gym.ObservationWrapper):
    """A MarketEnv whose observation is the :class:`Discretiser` state index.

    :param env: a promosim env (possibly wrapped).
    :param discretiser: the map to use; by default :meth:`Discretiser.for_env` with the
        default edges.
    """

    def __init__(self, env: gym.Env, discretiser: Discretiser | None = None) -> None:
        super().__init__(env)
        self.discretiser = discretiser or Discretiser.for_env(env)
        self.discretiser.check_space(env.observation_space)
        self.observation_space = spaces.Discrete(self.discretiser.n_states)

    def observation(self, observation: np.ndarray) -> int:
        return self.discretiser.state(observation)

r"""Demand-model Thompson sampling: learn each product's demand curve, price on a draw of it.

A bandit that treats every price as an unrelated arm (``thompson``) must try each arm to
learn it. A retailer knows more: demand falls smoothly as price rises. This agent fits
that shape, one Bayesian log-linear demand curve per product, and each period prices
every product at the profit-maximising price of one curve drawn from the posterior
(Thompson sampling on a parametric demand model, in the spirit of Ferreira,
Simchi-Levi and Wang 2018). What it learns at one price tells it about every other.

**Demand model.** For product :math:`j` in period :math:`t`, with :math:`m_{jt}` the
price multiplier actually applied (after guardrails) and :math:`q_{jt}` the units sold
over all segments,

.. math::

    y_{jt} = \log(q_{jt} + 0.5) = z_{jt}^\top \theta_j + \varepsilon_{jt},
    \qquad z_{jt} = (1, \log m_{jt}, x_t),
    \qquad \varepsilon_{jt} \sim N(0, \sigma_j^2),

with :math:`\theta_j = (a_j, b_j, c_j)`: :math:`a_j` the log units at list price,
:math:`b_j` the price elasticity and :math:`c_j` the loadings on the features
:math:`x_t`. With ``use_season`` (the default) :math:`x_t` is the observation's
'season' block, :math:`(\sin, \cos)` of :math:`2\pi \cdot \text{week} / 52`
(:class:`sim.tasks.env.MarketEnv`), a first-harmonic yearly cycle; otherwise there are no
features. The 0.5 keeps weeks without sales finite. The model ignores what the market
carries between periods (reference prices, pantry, churn, the competitor): the agent
is myopic, as a bandit is.

**Prior** (Normal-inverse-gamma, per product, independent across products):

.. math::

    \sigma_j^2 \sim \text{IG}(\alpha_0, \beta_0), \qquad
    \theta_j \mid \sigma_j^2 \sim N(\mu_0, \sigma_j^2 \Lambda_0^{-1}),

where :math:`\mu_0 = (0, b_0, 0, 0)` centres the elasticity on ``prior_elasticity``
(-1.5: demand elastic, as retail demand usually is, without committing to how much),
:math:`\Lambda_0 = \text{diag}(s_0^2 / \text{sd}_k^2)` so that at the prior noise level
:math:`s_0` = ``prior_noise_sd`` each coefficient has prior sd ``sd_k``
(``prior_intercept_sd``, ``prior_elasticity_sd``, ``prior_season_sd``), and
:math:`\alpha_0 = \nu_0 / 2`, :math:`\beta_0 = \nu_0 s_0^2 / 2` with :math:`\nu_0` =
``prior_noise_weight`` pseudo-observations behind :math:`s_0`. Because the prior on
:math:`\theta` scales with :math:`\sigma^2`, its weight against the data is the same
at every noise level: :math:`\Lambda_0` weighs as much as observations whose
:math:`z z^\top` add up to it. With the defaults the elasticity prior weighs as much as
one observation at a 16 % price change (:math:`|\log m| = s_0 / \text{sd}_b = 0.15`)
and the intercept prior as much as a thousandth of an observation.

**Posterior update** (conjugate, one observation at a time, exact):

.. math::

    \Lambda' = \Lambda + z z^\top, \qquad
    \mu' = \Lambda'^{-1} (\Lambda \mu + z y), \qquad
    \alpha' = \alpha + \tfrac12, \qquad
    \beta' = \beta + \tfrac12 \frac{(y - z^\top \mu)^2}{1 + z^\top \Lambda^{-1} z}.

Summed over :math:`n` observations this is the textbook batch form
:math:`\Lambda_n = \Lambda_0 + Z^\top Z`,
:math:`\mu_n = \Lambda_n^{-1}(\Lambda_0 \mu_0 + Z^\top y)`,
:math:`\alpha_n = \alpha_0 + n/2`,
:math:`\beta_n = \beta_0 + \tfrac12 (y^\top y + \mu_0^\top \Lambda_0 \mu_0
- \mu_n^\top \Lambda_n \mu_n)`; the one-step form adds a squared one-step-ahead
prediction error over its variance instead of subtracting large sums. With a flat
prior (:math:`\Lambda_0 \to 0`, :math:`\alpha_0 = -d/2`, :math:`\beta_0 = 0`)
:math:`\mu_n` is the least-squares fit and :math:`(\beta_n / \alpha_n)\Lambda_n^{-1}`
its usual covariance estimate :math:`s^2 (Z^\top Z)^{-1}`.

**Price rule.** Each period, with exploration on, draw :math:`\sigma_j^2 \sim
\text{IG}(\alpha_j, \beta_j)` and :math:`\theta_j \sim N(\mu_j, \sigma_j^2
\Lambda_j^{-1})` and set the multiplier that maximises the expected profit under the
draw,

.. math::

    \pi_j(m) = (m p_j - k_j) \exp(a_j + b_j \log m + c_j^\top x_t + \sigma_j^2 / 2),

with :math:`p_j` the list price and :math:`k_j` the unit cost (the
:math:`\sigma^2/2` is the log-normal mean; it and :math:`a_j + c_j^\top x_t` scale
:math:`\pi_j` without moving its maximum, so the price depends on the drawn elasticity
alone). The search runs over the multipliers the guardrails allow,
:math:`[\max(\text{floor}, \text{margin multiplier}), \text{ceiling}]`:

- discrete style: every grid multiplier, clipped into that range as the env would;
- continuous style: :math:`\pi_j` is unimodal in :math:`m` for :math:`b_j < -1`, with
  its peak at :math:`m^* = (k_j / p_j)\, b_j / (1 + b_j)` (set
  :math:`\pi_j'(m) = 0`); for :math:`b_j \ge -1` it has no interior peak. So the best of
  three candidates, the two ends and :math:`m^*` clipped into the range, is the optimum.

With ``deterministic=True`` the posterior mean :math:`\mu_j` and the point estimate
:math:`\beta_j / \alpha_j` of :math:`\sigma_j^2` replace the draw (greedy pricing).

**Learning.** ``learn`` plays ``budget`` steps, updating as it goes, and keeps the
posterior it ends with; ``begin_episode`` restores that posterior (the prior when
``learn`` was never called) and reseeds the agent's own random stream, so every
evaluation episode starts from the same knowledge. The saved state is the posterior
and the pricing facts read from the env (list prices, unit costs, grid, guardrails).

References
----------
K. J. Ferreira, D. Simchi-Levi and H. Wang, "Online network revenue management using
Thompson sampling", Operations Research 66(6), 2018.
K. P. Murphy, "Conjugate Bayesian analysis of the Gaussian distribution", 2007
(the Normal-inverse-gamma regression posterior).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field

from agents.base import Agent, ProgressCallback, register_agent, state_array
from agents.evaluation import play_online
from sim.logs.errors import InputError

#: Added to units sold before taking logs, so that a period without sales stays finite.
UNITS_OFFSET = 0.5

#: The observation's 'season' block (sin, cos of the week): the two values before the
#: last one, the share of the horizon left (layout in :class:`sim.tasks.env.MarketEnv`).
SEASON_BLOCK = slice(-3, -1)

#: Mixed into the seed of the agent's random stream. The env seeds its own Generator
#: from the same episode seed; without this the agent's draws and the market's sales
#: would come from one and the same stream.
AGENT_STREAM_KEY = 0x7D3A


class DemandThompsonConfig(BaseModel):
    """Hyper-parameters of :class:`DemandThompson`: the prior and the demand features."""

    model_config = ConfigDict(extra="forbid")

    prior_elasticity: float = Field(
        -1.5, lt=0, description="prior mean of the price elasticity b (log units per log price)"
    )
    prior_elasticity_sd: float = Field(
        2.0, gt=0, description="prior sd of the elasticity at the prior noise level"
    )
    prior_intercept_sd: float = Field(
        10.0, gt=0, description="prior sd of a, the log units at list price (prior mean 0)"
    )
    prior_season_sd: float = Field(
        1.0, gt=0, description="prior sd of each season loading (prior mean 0)"
    )
    prior_noise_sd: float = Field(
        0.3, gt=0, description="prior guess of the residual sd of log units"
    )
    prior_noise_weight: float = Field(
        2.0, gt=0, description="pseudo-observations behind prior_noise_sd"
    )
    use_season: bool = Field(
        True, description="regress on the observation's season sin/cos as well as log price"
    )


@dataclass
class NormalInverseGamma:
    """Normal-inverse-gamma posteriors of J independent Bayesian linear regressions.

    ``theta_j | sigma_j^2 ~ N(mean[j], sigma_j^2 inv(precision[j]))``,
    ``sigma_j^2 ~ IG(shape[j], rate[j])``; see the module docstring for the update.
    """

    mean: np.ndarray  # (J, d)
    precision: np.ndarray  # (J, d, d)
    shape: np.ndarray  # (J,)
    rate: np.ndarray  # (J,)

    @classmethod
    def prior(
        cls,
        n_products: int,
        mean: np.ndarray,
        sd: np.ndarray,
        noise_sd: float,
        noise_weight: float,
    ) -> NormalInverseGamma:
        """The same prior for each of ``n_products``: coefficient ``k`` centred on
        ``mean[k]`` with sd ``sd[k]`` when the noise sd is ``noise_sd``."""
        precision = np.diag((noise_sd / np.asarray(sd, dtype=float)) ** 2)
        return cls(
            mean=np.tile(np.asarray(mean, dtype=float), (n_products, 1)),
            precision=np.tile(precision, (n_products, 1, 1)),
            shape=np.full(n_products, noise_weight / 2.0),
            rate=np.full(n_products, noise_weight * noise_sd**2 / 2.0),
        )

    @property
    def n_coefficients(self) -> int:
        return int(self.mean.shape[1])

    def copy(self) -> NormalInverseGamma:
        return NormalInverseGamma(
            self.mean.copy(), self.precision.copy(), self.shape.copy(), self.rate.copy()
        )

    def update(self, features: np.ndarray, response: np.ndarray) -> None:
        """Condition on one observation per regression: ``features`` (J, d), ``response`` (J,)."""
        z = np.asarray(features, dtype=float)
        y = np.asarray(response, dtype=float)
        error = y - np.einsum("jd,jd->j", z, self.mean)
        spread = np.einsum("jd,jd->j", z, _solve(self.precision, z))  # z' inv(precision) z
        information = np.einsum("jde,je->jd", self.precision, self.mean) + z * y[:, None]
        self.precision = self.precision + z[:, :, None] * z[:, None, :]
        self.mean = _solve(self.precision, information)
        self.shape = self.shape + 0.5
        self.rate = self.rate + 0.5 * error**2 / (1.0 + spread)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One draw ``(theta (J, d), sigma^2 (J,))`` from each posterior."""
        noise_variance = self.rate / rng.gamma(self.shape)
        # theta = mean + sigma * inv(L') e with precision = L L', so cov = sigma^2 inv(precision).
        cholesky = np.linalg.cholesky(self.precision)
        standard = rng.standard_normal(self.mean.shape)
        offset = _solve(np.swapaxes(cholesky, 1, 2), standard)
        return self.mean + np.sqrt(noise_variance)[:, None] * offset, noise_variance

    def point_estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """``(theta, sigma^2)`` at the posterior mean of theta and ``rate / shape``."""
        return self.mean.copy(), self.rate / self.shape

    def scale_matrix(self) -> np.ndarray:
        """``(J, d, d)`` scale of theta's marginal Student-t posterior,
        ``(rate / shape) inv(precision)`` (the least-squares covariance under a flat prior)."""
        return (self.rate / self.shape)[:, None, None] * np.linalg.inv(self.precision)

    def standard_error(self) -> np.ndarray:
        """``(J, d)`` square roots of the diagonal of :meth:`scale_matrix`."""
        return np.sqrt(np.diagonal(self.scale_matrix(), axis1=1, axis2=2))

    def as_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_mean": self.mean,
            f"{prefix}_precision": self.precision,
            f"{prefix}_shape": self.shape,
            f"{prefix}_rate": self.rate,
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str, n_products: int, n_coefficients: int
    ) -> NormalInverseGamma:
        """Inverse of :meth:`as_arrays` for J regressions of d coefficients; InputError
        naming the array unless the shapes fit, everything is finite, the shapes and rates
        are positive and every precision matrix is symmetric positive definite (as the
        Cholesky factor of :meth:`sample` needs)."""
        j, d = n_products, n_coefficients
        mean = state_array(arrays, f"{prefix}_mean", shape=(j, d))
        precision = state_array(arrays, f"{prefix}_precision", shape=(j, d, d))
        shape = state_array(arrays, f"{prefix}_shape", shape=(j,))
        rate = state_array(arrays, f"{prefix}_rate", shape=(j,))
        for name, values in (("shape", shape), ("rate", rate)):
            if np.any(values <= 0):
                raise InputError(f"array '{prefix}_{name}' must be > 0 (an inverse-gamma's)")
        if not np.allclose(precision, np.swapaxes(precision, 1, 2), rtol=1e-9, atol=1e-12):
            raise InputError(f"array '{prefix}_precision' is not symmetric")
        try:
            np.linalg.cholesky(precision)
        except np.linalg.LinAlgError:
            raise InputError(f"array '{prefix}_precision' is not positive definite") from None
        return cls(mean, precision, shape, rate)


def _solve(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``(J, d)``: each ``matrices[j]`` (d, d) solved against ``vectors[j]`` (d,)."""
    return np.linalg.solve(matrices, vectors[..., None])[..., 0]


@dataclass(frozen=True)
class PricingFacts:
    """What the retailer knows about its own products and the limits on its prices."""

    list_price: np.ndarray  # (J,) currency units
    unit_cost: np.ndarray  # (J,) currency units
    grid: np.ndarray  # (K,) multipliers of the discrete style
    price_floor: float  # multiplier the continuous action -1 maps to
    price_ceiling: float  # multiplier the continuous action +1 maps to
    lowest: np.ndarray  # (J,) lowest allowed multiplier: the floor or the margin limit

    @classmethod
    def from_env(cls, env: gym.Env) -> PricingFacts:
        params, guardrails = env.params, env.guardrails
        lowest = np.full(params.n_products, guardrails.price_floor)
        if guardrails.min_margin is not None:
            margin = params.unit_cost * (1.0 + guardrails.min_margin) / params.list_price
            lowest = np.maximum(lowest, margin)
        return cls(
            list_price=np.asarray(params.list_price, dtype=float).copy(),
            unit_cost=np.asarray(params.unit_cost, dtype=float).copy(),
            grid=np.asarray(env.grid.multipliers, dtype=float),
            price_floor=float(guardrails.price_floor),
            price_ceiling=float(guardrails.price_ceiling),
            lowest=np.minimum(lowest, guardrails.price_ceiling),
        )

    def allowed(self, multipliers: np.ndarray) -> np.ndarray:
        """``multipliers`` (J, K) clipped into each product's allowed range."""
        return np.clip(multipliers, self.lowest[:, None], self.price_ceiling)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "list_price": self.list_price,
            "unit_cost": self.unit_cost,
            "grid": self.grid,
            "price_bounds": np.array([self.price_floor, self.price_ceiling]),
            "lowest": self.lowest,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_products: int) -> PricingFacts:
        """Inverse of :meth:`as_arrays` for ``n_products``; InputError naming the array
        unless the shapes fit and prices, costs and multipliers are finite and positive
        (costs >= 0) with the floor at most the ceiling."""
        bounds = state_array(arrays, "price_bounds", shape=(2,))
        floor, ceiling = float(bounds[0]), float(bounds[1])
        if not 0 < floor <= ceiling:
            raise InputError(f"array 'price_bounds' must be 0 < floor <= ceiling, got {bounds}")
        grid = state_array(arrays, "grid", shape=(None,))
        if grid.size == 0 or np.any(grid <= 0):
            raise InputError("array 'grid' must hold price multipliers > 0")
        list_price = state_array(arrays, "list_price", shape=(n_products,))
        if np.any(list_price <= 0):
            raise InputError("array 'list_price' must hold prices > 0")
        return cls(
            list_price=list_price,
            unit_cost=state_array(arrays, "unit_cost", shape=(n_products,), minimum=0.0),
            grid=grid,
            price_floor=floor,
            price_ceiling=ceiling,
            lowest=state_array(arrays, "lowest", shape=(n_products,), minimum=0.0),
        )


def log_expected_profit(
    facts: PricingFacts,
    multipliers: np.ndarray,
    theta: np.ndarray,
    noise_variance: np.ndarray,
    season: np.ndarray,
) -> np.ndarray:
    r"""``(J, K)`` log of :math:`\pi_j(m)` (module docstring) at candidate ``multipliers``
    (J, K), for coefficients ``theta`` (J, d) and ``noise_variance`` (J,); ``-inf`` where
    the price does not cover the unit cost. Logs, because an early draw's exp overflows."""
    margin = multipliers * facts.list_price[:, None] - facts.unit_cost[:, None]
    with np.errstate(divide="ignore"):
        log_margin = np.where(margin > 0, np.log(np.maximum(margin, 0.0)), -np.inf)
    level = theta[:, 0] + theta[:, 2:] @ season + noise_variance / 2.0  # (J,)
    return log_margin + level[:, None] + theta[:, 1:2] * np.log(multipliers)


def interior_optimum(facts: PricingFacts, elasticity: np.ndarray) -> np.ndarray:
    r"""``(J,)`` the multiplier where :math:`\pi_j` peaks, ``(k/p) b / (1 + b)`` for
    ``b < -1``, the ceiling otherwise (no interior peak), clipped into the allowed range."""
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = facts.unit_cost / facts.list_price * elasticity / (1.0 + elasticity)
    peak = np.where(elasticity < -1.0, peak, facts.price_ceiling)
    return np.clip(peak, facts.lowest, facts.price_ceiling)


@register_agent
class DemandThompson(Agent):
    """Thompson sampling on a Bayesian log-linear demand curve per product (Pricing only).

    Learned attributes: ``learned_`` (the posterior ``learn`` left; the prior before),
    ``posterior_`` (the posterior of the episode under way), ``facts_`` (prices, costs,
    grid and guardrails read from the env).
    """

    name: ClassVar[str] = "demand-thompson"
    Config: ClassVar[type[BaseModel]] = DemandThompsonConfig
    online: ClassVar[bool] = True

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.learned_: NormalInverseGamma | None = None
        self.posterior_: NormalInverseGamma | None = None
        self.facts_: PricingFacts | None = None
        self.rng_ = _agent_rng(None)

    # -- set-up ---------------------------------------------------------------------

    @property
    def n_products(self) -> int:
        if self.action_space is None:
            raise InputError(f"agent '{self.name}' has not been set up for an env")
        return int(np.prod(self.action_space.shape))

    def setup(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().setup(observation_space, action_space)
        self.learned_ = self.prior()
        self.posterior_ = self.learned_.copy()

    def prior(self) -> NormalInverseGamma:
        """The prior of the module docstring for every product."""
        config = self.config
        mean = [0.0, config.prior_elasticity]
        sd = [config.prior_intercept_sd, config.prior_elasticity_sd]
        if config.use_season:
            mean += [0.0, 0.0]
            sd += [config.prior_season_sd, config.prior_season_sd]
        return NormalInverseGamma.prior(
            self.n_products,
            np.array(mean),
            np.array(sd),
            config.prior_noise_sd,
            config.prior_noise_weight,
        )

    def bind(self, env: gym.Env) -> None:
        task = getattr(env, "task", None)
        if task != "pricing":
            raise InputError(
                f"agent '{self.name}' prices products: it needs the 'pricing' task, not '{task}'"
            )
        if env.params.n_products != self.n_products:
            raise InputError(
                f"agent '{self.name}' was set up for {self.n_products} products, "
                f"the env has {env.params.n_products}"
            )
        self.facts_ = PricingFacts.from_env(env)

    # -- learning and acting --------------------------------------------------------

    def learn(
        self,
        env: gym.Env,
        budget: int,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        """Play ``budget`` steps online from the current learned posterior, then keep the
        posterior reached as the learned state. ``log_dir`` is not used."""
        self.setup_for(env)
        self.begin_episode(seed)
        play_online(self, env, budget, seed, progress)
        self.learned_ = self._posterior().copy()
        return self

    def begin_episode(self, seed: int | None = None) -> None:
        self.posterior_ = self._learned().copy()
        self.rng_ = _agent_rng(seed)

    def _predict(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        posterior, facts = self._posterior(), self._facts()
        if deterministic:
            theta, noise_variance = posterior.point_estimate()
        else:
            theta, noise_variance = posterior.sample(self.rng_)
        candidates = self._candidates(facts, theta[:, 1])
        season = self._features(observation)
        score = log_expected_profit(facts, candidates, theta, noise_variance, season)
        best = np.argmax(score, axis=1)
        if isinstance(self.action_space, spaces.MultiDiscrete):
            return best.astype(np.int64)
        multiplier = candidates[np.arange(candidates.shape[0]), best]
        span = facts.price_ceiling - facts.price_floor
        return (2.0 * (multiplier - facts.price_floor) / span - 1.0).astype(np.float32)

    def _candidates(self, facts: PricingFacts, elasticity: np.ndarray) -> np.ndarray:
        """``(J, K)`` multipliers to choose between: the clipped grid (discrete style), or
        the two ends of the allowed range and the interior optimum (continuous style)."""
        if isinstance(self.action_space, spaces.MultiDiscrete):
            return facts.allowed(np.broadcast_to(facts.grid, (elasticity.size, facts.grid.size)))
        ends = np.stack([facts.lowest, np.full_like(facts.lowest, facts.price_ceiling)], axis=1)
        return np.column_stack([ends, interior_optimum(facts, elasticity)])

    def observe(
        self,
        observation: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_observation: np.ndarray,
        info: dict[str, Any],
    ) -> None:
        """Update every product's posterior on the multiplier the env applied (guardrails
        included) and the units it sold; the features are those of ``observation``, the
        period the sales happened in."""
        applied = np.asarray(info["action"]["multiplier"], dtype=float)
        units = np.asarray(info["product_units"], dtype=float)
        season = self._features(observation)
        design = np.column_stack(
            [np.ones_like(applied), np.log(applied), np.tile(season, (applied.size, 1))]
        )
        self._posterior().update(design, np.log(units + UNITS_OFFSET))

    def _features(self, observation: np.ndarray) -> np.ndarray:
        """The features ``x_t`` of the period ``observation`` describes (empty without season)."""
        if not self.config.use_season:
            return np.zeros(0)
        return np.asarray(observation, dtype=float).reshape(-1)[SEASON_BLOCK]

    # -- state ----------------------------------------------------------------------

    def _learned(self) -> NormalInverseGamma:
        if self.learned_ is None:
            raise InputError(f"agent '{self.name}' has not been set up for an env")
        return self.learned_

    def _posterior(self) -> NormalInverseGamma:
        if self.posterior_ is None:
            raise InputError(f"agent '{self.name}' has not been set up for an env")
        return self.posterior_

    def _facts(self) -> PricingFacts:
        if self.facts_ is None:
            raise InputError(
                f"agent '{self.name}' does not know the products' prices yet; "
                "learn or evaluate it in a pricing env first"
            )
        return self.facts_

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = self._learned().as_arrays("posterior")
        if self.facts_ is not None:
            arrays.update(self.facts_.as_arrays())
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned posterior and, when saved, the pricing facts (both checked:
        see :meth:`NormalInverseGamma.from_arrays`, :meth:`PricingFacts.from_arrays`)."""
        n_coefficients = self.prior().n_coefficients
        self.learned_ = NormalInverseGamma.from_arrays(
            arrays, "posterior", self.n_products, n_coefficients
        )
        self.posterior_ = self.learned_.copy()
        saved_facts = "list_price" in arrays
        self.facts_ = PricingFacts.from_arrays(arrays, self.n_products) if saved_facts else None


def _agent_rng(seed: int | None) -> np.random.Generator:
    """The agent's random stream for ``seed``: distinct from the env's for the same seed."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(AGENT_STREAM_KEY,)))

"""Common random numbers: inversion draws have the right law and one uniform per variate."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sim.market.crn import InversionSampler

N = 20_000


def _sampler(seed: int = 0) -> InversionSampler:
    return InversionSampler(np.random.default_rng(seed))


def test_poisson_draws_have_the_poisson_law():
    draws = _sampler().poisson(np.full(N, 3.5))
    observed = np.bincount(draws, minlength=15)[:15]
    expected = stats.poisson.pmf(np.arange(15), 3.5) * N
    # Chi-square goodness of fit over the cells with enough mass; alpha = 0.001 with a fixed seed.
    cells = expected > 5
    statistic = ((observed[cells] - expected[cells]) ** 2 / expected[cells]).sum()
    assert statistic < stats.chi2.ppf(0.999, cells.sum() - 1)


def test_binomial_negative_binomial_and_normal_moments():
    sampler = _sampler(1)
    binomial = sampler.binomial(np.full(N, 40), 0.2)
    negative = sampler.negative_binomial(np.full(N, 2.0), 0.25)
    normal = sampler.normal(1.0, 2.0, N)
    # Means within 4 standard errors of the truth.
    for draws, mean, variance in (
        (binomial, 8.0, 40 * 0.2 * 0.8),
        (negative, 2.0 * 0.75 / 0.25, 2.0 * 0.75 / 0.25**2),
        (normal, 1.0, 4.0),
    ):
        assert abs(draws.mean() - mean) < 4 * np.sqrt(variance / N)


def test_each_variate_consumes_one_uniform_whatever_its_parameters():
    low, high = _sampler(7), _sampler(7)
    low.poisson(np.full(10, 0.1))
    high.poisson(np.full(10, 900.0))
    assert low.rng.random() == high.rng.random()


def test_a_higher_mean_gives_a_count_at_least_as_high_from_the_same_uniforms():
    low = _sampler(3).poisson(np.full(1000, 4.0))
    high = _sampler(3).poisson(np.full(1000, 5.0))
    assert np.all(high >= low)


def _units_and_profits(action: int, seeds: range, crn: bool) -> tuple[np.ndarray, np.ndarray]:
    from sim.tasks.env import MarketEnv
    from sim.tasks.guardrails import Guardrails

    env = MarketEnv(
        "stationary", task="pricing", horizon=6, guardrails=Guardrails(max_price_change=None),
        common_random_numbers=crn,
    )  # fmt: skip
    units, profits = [], []
    for seed in seeds:
        env.reset(seed=seed)
        total = 0.0
        for _ in range(6):
            _, reward, _, _, info = env.step(np.full(env.action_space.shape, action))
            units.append(info["product_units"])
            total += reward
        profits.append(total)
    return np.array(units), np.array(profits)


def test_with_common_random_numbers_a_lower_price_sells_at_least_as_much_every_period():
    cheap, _ = _units_and_profits(2, range(5), crn=True)
    dear, _ = _units_and_profits(4, range(5), crn=True)
    assert np.all(cheap >= dear) and np.any(cheap > dear)


def test_common_random_numbers_pair_two_policies_closely_and_reproduce():
    seeds = range(30)
    _, cheap = _units_and_profits(2, seeds, crn=True)
    _, dear = _units_and_profits(4, seeds, crn=True)
    _, dear_independent = _units_and_profits(4, range(100, 130), crn=True)
    paired = np.corrcoef(cheap, dear)[0, 1]
    unpaired = np.corrcoef(cheap, dear_independent)[0, 1]
    assert paired > 0.9 > unpaired
    _, again = _units_and_profits(2, seeds, crn=True)
    np.testing.assert_array_equal(cheap, again)

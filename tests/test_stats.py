"""The statistics of the tutorial's comparisons against scipy's and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pirlib.tutorial.stats import (
    claim_verdict,
    difference_interval,
    minimal_detectable_difference,
    paired_difference_interval,
)


def test_paired_interval_is_the_one_sample_interval_of_the_differences():
    a, b = [18.1, 20.4, 17.9, 19.5, 21.0], [16.0, 18.9, 16.2, 17.1, 19.8]
    difference, low, high = paired_difference_interval(a, b)
    result = scipy_stats.ttest_rel(a, b).confidence_interval(0.95)
    assert difference == pytest.approx(np.mean(np.subtract(a, b)))
    assert (low, high) == pytest.approx((result.low, result.high))


def test_pairing_narrows_the_interval_when_seeds_share_their_noise():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 3, 8)  # what the seed decides for both models
    a, b = 20 + shared + rng.normal(0, 0.3, 8), 18 + shared + rng.normal(0, 0.3, 8)
    _, paired_low, paired_high = paired_difference_interval(a, b)
    _, welch_low, welch_high = difference_interval(a, b)
    assert paired_high - paired_low < (welch_high - welch_low) / 3
    assert paired_low > 0


def test_paired_interval_refuses_unpaired_input():
    with pytest.raises(ValueError, match="pair them"):
        paired_difference_interval([1, 2, 3], [1, 2])


@pytest.mark.parametrize("paired", [False, True])
def test_minimal_detectable_difference_has_the_stated_power(paired):
    """Simulated: a true difference equal to the MDD is detected (interval excludes 0) in about 80 % of designs."""
    std, seeds = 2.0, 8
    mdd = minimal_detectable_difference(std, seeds, paired=paired)
    rng, detected, trials = np.random.default_rng(1), 0, 4000
    for _ in range(trials):
        if paired:
            differences = rng.normal(mdd, std, seeds)
            low = paired_difference_interval(differences, np.zeros(seeds))[1]
        else:
            low = difference_interval(rng.normal(mdd, std, seeds), rng.normal(0, std, seeds))[1]
        detected += low > 0
    assert detected / trials == pytest.approx(0.8, abs=0.03)


def test_minimal_detectable_difference_shrinks_with_seeds():
    assert minimal_detectable_difference(2.0, 16) < minimal_detectable_difference(2.0, 4)
    assert minimal_detectable_difference(2.0, 3) == pytest.approx(
        (scipy_stats.t.ppf(0.975, 4) + scipy_stats.t.ppf(0.8, 4)) * 2.0 * math.sqrt(2 / 3)
    )


@pytest.mark.parametrize(
    ("low", "high", "margin", "expected"),
    [
        (0.4, 3.0, None, "supports"),
        (-3.0, -0.1, 2.0, "contradicts"),
        (-1.5, 1.2, 2.0, "no effect larger than 2"),
        (-1.5, 2.5, 2.0, "cannot decide"),
        (-1.5, 1.2, None, "cannot decide"),
        (math.nan, math.nan, 2.0, "cannot decide"),
    ],
)
def test_claim_verdict(low, high, margin, expected):
    assert claim_verdict(low, high, margin) == expected


def test_std_interval_factors_cover_the_true_std_at_their_level():
    from pirlib.tutorial.stats import std_interval_factors

    rng = np.random.default_rng(0)
    low, high = std_interval_factors(4)
    assert low < 1 < high and low == pytest.approx(0.5665, abs=1e-3) and high == pytest.approx(3.7285, abs=1e-3)
    stds = rng.normal(scale=2.0, size=(4000, 4)).std(axis=1, ddof=1)
    covered = np.mean((low * stds <= 2.0) & (high * stds >= 2.0))
    assert 0.94 < covered < 0.96, covered
    with pytest.raises(ValueError, match="at least 2 values"):
        std_interval_factors(1)


def test_paired_std_ratio_interval_covers_the_true_ratio_at_its_level():
    from pirlib.tutorial.stats import paired_std_ratio_interval

    rng = np.random.default_rng(0)
    trials, seeds, covered = 2000, 8, {1.0: 0, 0.5: 0}
    for _ in range(trials):
        shared = rng.normal(size=seeds)  # the seeds' common part: the two sides are correlated (r = 0.5)
        reference = shared + rng.normal(size=seeds)
        for true_ratio in covered:
            samples = true_ratio * (shared + rng.normal(size=seeds))
            _, low, high = paired_std_ratio_interval(samples, reference)
            covered[true_ratio] += low <= true_ratio <= high
    assert all(0.93 < hits / trials < 0.97 for hits in covered.values()), covered


def test_paired_std_ratio_interval_is_the_sample_ratio_inside_its_bounds():
    from pirlib.tutorial.stats import paired_std_ratio_interval

    samples, reference = [1.0, 2.5, 1.5, 3.0, 2.0], [2.0, 5.5, 2.0, 7.0, 4.0]
    ratio, low, high = paired_std_ratio_interval(samples, reference)
    assert ratio == pytest.approx(np.std(samples, ddof=1) / np.std(reference, ddof=1))
    assert low < ratio < high
    with pytest.raises(ValueError, match="at least 3 pairs"):
        paired_std_ratio_interval([1.0, 2.0], [1.0, 3.0])
    assert all(math.isnan(v) for v in paired_std_ratio_interval([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]))

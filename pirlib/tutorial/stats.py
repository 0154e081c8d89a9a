"""Statistics of the tutorial's comparisons over seeds: mean and sample standard deviation, their "mean ± std" text,
95 % intervals of differences of means (Welch, for independent seeds; paired, for seeds that share their random
numbers), the interval of one standard deviation and the ratio of two over the same seeds, the smallest difference
a design can detect, and the verdict an interval allows.

Verdicts on a claim that A beats B (`claim_verdict`):
    supports                     the interval of A − B lies above 0
    contradicts                  the interval lies below 0
    no effect larger than X      the interval lies inside ±X (X: the effect the paper claims, or a stated margin)
    cannot decide                anything else
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    frame = pd.Series(list(values), dtype=float)
    return float(frame.mean()), float(frame.std(ddof=1)) if len(frame) > 1 else 0.0


def format_mean_std(values: Sequence[float], digits: int = 2) -> str:
    """'mean ± std' of `values` (sample std) with `digits` decimals."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def difference_interval(
    samples: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean(samples) − mean(reference), low, high): a Welch t-interval for the difference of two means over
    independent seeds (unequal variances, Welch–Satterthwaite degrees of freedom). Needs ≥ 2 values on each side;
    with zero spread on both sides the interval is the point difference."""
    from scipy import stats

    a, b = np.asarray(samples, dtype=float), np.asarray(reference, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("difference_interval: needs at least 2 seeds on each side")
    difference = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return difference, difference, difference
    freedom = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, freedom) * np.sqrt(va + vb))
    return difference, difference - half, difference + half


def paired_difference_interval(
    samples: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean(samples − reference), low, high): a paired t-interval over seeds where `samples[i]` and `reference[i]`
    share their random numbers (common random numbers: same data order, augmentation and shared initialisation).
    Needs ≥ 2 pairs; with no spread of the differences the interval is the point difference."""
    from scipy import stats

    a, b = np.asarray(samples, dtype=float), np.asarray(reference, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"paired_difference_interval: {len(a)} samples against {len(b)}; pair them seed by seed")
    if len(a) < 2:
        raise ValueError("paired_difference_interval: needs at least 2 paired seeds")
    differences = a - b
    difference, spread = float(differences.mean()), float(differences.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(a) - 1) * spread / math.sqrt(len(a)))
    return difference, difference - half, difference + half


def std_interval_factors(values: int, confidence: float = 0.95) -> tuple[float, float]:
    """(low, high): a sample standard deviation s of `values` normal values puts the true one in [low × s, high × s]
    at `confidence` (chi-square with values − 1 degrees of freedom): how little a seed std from few seeds pins
    down."""
    from scipy import stats

    if values < 2:
        raise ValueError(f"std_interval_factors: needs at least 2 values, got {values}")
    freedom = values - 1
    upper, lower = stats.chi2.ppf([0.5 + confidence / 2, 0.5 - confidence / 2], freedom)
    return math.sqrt(freedom / upper), math.sqrt(freedom / lower)


def paired_std_ratio_interval(
    samples: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(std(samples) / std(reference), low, high): the Pitman–Morgan interval for the ratio of two standard
    deviations measured on the same seeds (correlated pairs). With F the ratio of the sample variances, r their
    correlation, n pairs and t the t quantile at n − 2 degrees of freedom, K = 1 + 2 (1 − r²) t² / (n − 2) and the
    variance ratio lies in F (K ∓ √(K² − 1)); the square roots bound the std ratio. Needs ≥ 3 pairs; NaNs when a
    side does not vary."""
    from scipy import stats

    a, b = np.asarray(samples, dtype=float), np.asarray(reference, dtype=float)
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"paired_std_ratio_interval: needs at least 3 pairs, got {len(a)} against {len(b)}")
    if a.var() == 0 or b.var() == 0:
        return math.nan, math.nan, math.nan
    n = len(a)
    ratio = float(a.var(ddof=1) / b.var(ddof=1))
    r = float(np.corrcoef(a, b)[0, 1])
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 2))
    k = 1 + 2 * (1 - r * r) * t * t / (n - 2)
    spread = math.sqrt(k * k - 1)
    return math.sqrt(ratio), math.sqrt(ratio * (k - spread)), math.sqrt(ratio * (k + spread))


def minimal_detectable_difference(
    std: float, seeds: int, paired: bool = False, power: float = 0.8, confidence: float = 0.95
) -> float:
    """The smallest true difference of means that a two-sided test at `confidence` detects with probability `power`
    when each side has `seeds` runs: (t_{1-α/2} + t_{power}) × the standard error of the difference, with t
    quantiles at the design's degrees of freedom (n − 1 paired, 2n − 2 for two independent samples of equal std).

    `std`: the seed standard deviation of one model's metric (independent seeds), or of the per-seed differences
    (paired seeds)."""
    from scipy import stats

    if seeds < 2:
        raise ValueError(f"minimal_detectable_difference: needs at least 2 seeds per side, got {seeds}")
    freedom = seeds - 1 if paired else 2 * seeds - 2
    error = std / math.sqrt(seeds) if paired else std * math.sqrt(2 / seeds)
    quantiles = stats.t.ppf(0.5 + confidence / 2, freedom) + stats.t.ppf(power, freedom)
    return float(quantiles * error)


def claim_verdict(low: float, high: float, margin: float | None = None) -> str:
    """The verdict an interval [low, high] of "A − B" (higher is better) allows on the claim that A beats B:
    "supports", "contradicts", f"no effect larger than {margin:g}" when the interval lies inside ±margin, or
    "cannot decide"."""
    if math.isnan(low) or math.isnan(high):
        return "cannot decide"
    if low > 0:
        return "supports"
    if high < 0:
        return "contradicts"
    if margin is not None and -margin < low and high < margin:
        return f"no effect larger than {margin:g}"
    return "cannot decide"


def verdict(low: float, high: float, higher_is_better: bool = True) -> str:
    """ "better" / "worse" when the interval excludes zero, else "cannot decide"."""
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "cannot decide"


def compare(values: dict[str, Sequence[float]], reference: str, higher_is_better: bool = True) -> pd.DataFrame:
    """Each entry against `reference`: mean, std, the difference of means (entry − reference), its 95 % Welch
    t-interval over seeds (`difference_interval`) and a verdict: "better" or "worse" only when the interval excludes
    zero, "cannot decide" otherwise, "one seed: no claim" when either side has a single seed."""
    reference_values = values[reference]
    rows = {}
    for name, samples in values.items():
        if name == reference:
            continue
        mean, std = mean_std(samples)
        if len(samples) < 2 or len(reference_values) < 2:
            difference, low, high = mean - mean_std(reference_values)[0], math.nan, math.nan
            decided = "one seed: no claim"
        else:
            difference, low, high = difference_interval(samples, reference_values)
            decided = verdict(low, high, higher_is_better)
        rows[name] = {
            "mean": mean,
            "std": std,
            "difference": difference,
            "95% CI low": low,
            "95% CI high": high,
            "verdict": decided,
        }
    return pd.DataFrame.from_dict(rows, orient="index")

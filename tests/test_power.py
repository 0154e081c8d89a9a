"""Power before training: reference spreads, detectable differences and this run's paired comparisons."""

from __future__ import annotations

import math

import pytest

from pirlib.tutorial.power import (
    NO_SEED,
    ONE_SEED,
    PAPER_GAINS,
    level_change_power,
    paired_comparison,
    paired_evidence,
    power_table,
    reference_spread,
    runs_of_reference,
    seeds_needed,
)
from pirlib.tutorial.stats import minimal_detectable_difference, paired_difference_interval


def _runs(values: dict[str, list[float]]) -> dict:
    return {
        f"{variant}_seed{seed}": {"variant": variant, "seed": seed, "test": {"mR": value}}
        for variant, series in values.items()
        for seed, value in enumerate(series)
    }


SHARED = [10.0, 14.0, 11.0, 15.0]  # a seed effect both variants share
RUNS = _runs(
    {
        "baseline": SHARED,
        "pir": [v + 2.0 + 0.5 * (s % 2) for s, v in enumerate(SHARED)],
        "pir_no_affiliation": [v + 1.0 for v in SHARED],
    }
)


def test_reference_spread_pairs_by_seed():
    spread = reference_spread(RUNS, "pir", "baseline")
    assert spread["seeds"] == 4
    assert spread["difference std"] == pytest.approx(0.2886751)  # std of 2, 2.5, 2, 2.5
    assert spread["model std"] > 2 * spread["difference std"]
    with pytest.raises(ValueError, match="share 0 seeds"):
        reference_spread(RUNS, "pir", "pir_no_lca")


def test_seeds_needed_is_the_first_design_that_detects_the_effect():
    needed = seeds_needed(1.0, 1.5)
    assert minimal_detectable_difference(1.0, needed, paired=True) <= 1.5
    assert minimal_detectable_difference(1.0, needed - 1, paired=True) > 1.5
    assert seeds_needed(10.0, 0.01, most=50) is None


def test_power_table_gives_both_designs_beside_the_paper():
    table = power_table(RUNS, seeds=3, source="recorded study")
    row = table.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)"]
    assert row["detectable, paired"] < row["detectable, Welch"]
    assert row["paper's smallest gain"] == pytest.approx(min(PAPER_GAINS.values())) == pytest.approx(0.93)
    assert row["reference"] == "recorded study (4 seeds)"
    assert row["detectable, paired"] == pytest.approx(minimal_detectable_difference(0.2886751, 3, paired=True))


def test_level_change_power_takes_the_per_seed_gap_spread_paired_within_and_welch_across_levels():
    table = level_change_power(RUNS, seeds=5, source="decisive", comparisons=[("pir", "baseline")])
    row = table.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)"]
    gap_std = 0.2886751  # the std of the per-seed gaps 2.0, 2.5, 2.0, 2.5
    assert row["std of the per-seed gap"] == pytest.approx(gap_std)
    paired, welch = (minimal_detectable_difference(gap_std, 5, paired=paired) for paired in (True, False))
    assert row["detectable gap at one level, paired"] == pytest.approx(paired)
    assert row["detectable change between two levels, Welch"] == pytest.approx(welch)
    assert welch > paired
    assert row["reference"] == "decisive (4 seeds)"


def test_paired_comparison_verdicts_and_the_one_seed_path():
    mR = {"pir": {0: 12.0, 1: 16.5, 2: 13.0}, "baseline": {0: 10.0, 1: 14.0, 2: 11.0}, "pir_no_vir": {0: 11.0}}
    table = paired_comparison(mR, [("pir", "baseline"), ("pir", "pir_no_vir")], margin=2.0)
    decided = table.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)"]
    assert decided["verdict"] == "supports" and decided["seeds"] == 3
    assert decided["difference"] == pytest.approx(13.0 / 6)
    single = table.loc["PIR (CL+AL) − PIR w/o VIR"]
    assert single["verdict"] == "one seed: no claim" and math.isnan(single["95% CI low"])
    assert single["difference"] == pytest.approx(1.0)


def test_runs_of_reference_reads_variant_and_seed_from_the_run_names():
    runs = runs_of_reference({"runs": {"pir_no_affiliation_seed2": {"mR": 3.0}, "baseline_seed10": {"mR": 1.0}}})
    assert runs["pir_no_affiliation_seed2"] == {"variant": "pir_no_affiliation", "seed": 2, "test": {"mR": 3.0}}
    assert runs["baseline_seed10"]["seed"] == 10


def test_paired_evidence_is_the_paired_interval_with_its_detectable_difference():
    values, reference = {0: 13.0, 1: 15.5, 2: 13.5, 7: 99.0}, {0: 10.0, 1: 12.0, 2: 11.0}  # seed 7 has no pair
    evidence = paired_evidence(values, reference)
    difference, low, high = paired_difference_interval([13.0, 15.5, 13.5], [10.0, 12.0, 11.0])
    assert (evidence["difference"], evidence["95% CI low"], evidence["95% CI high"]) == (difference, low, high)
    assert evidence["design"] == "paired, 3 seeds" and evidence["verdict"] == "supports" and low > 0
    spread = math.sqrt(((3 - 3) ** 2 + (3.5 - 3) ** 2 + (2.5 - 3) ** 2) / 2)  # differences 3, 3.5, 2.5
    assert evidence["std of differences"] == pytest.approx(spread)
    assert evidence["detectable"] == pytest.approx(minimal_detectable_difference(spread, 3, paired=True))


def test_paired_evidence_orients_lower_is_better_and_takes_a_threshold():
    worse = paired_evidence({0: 0.30, 1: 0.32}, {0: 0.20, 1: 0.21}, lower_is_better=True)
    assert worse["difference"] == pytest.approx(-0.105) and worse["verdict"] == "contradicts"
    above = paired_evidence({0: 0.61, 1: 0.63, 2: 0.62}, 0.5)
    assert above["design"] == "one-sample, 3 seeds" and above["difference"] == pytest.approx(0.12)
    assert above["verdict"] == "supports"
    small = paired_evidence({0: 1.0, 1: 1.1, 2: 0.9}, {0: 1.0, 1: 1.0, 2: 1.0}, margin=2.0)
    assert small["verdict"] == "no effect larger than 2"


def test_paired_evidence_with_one_seed_gives_no_interval():
    evidence = paired_evidence({0: 5.0, 1: 6.0}, {1: 4.0})
    assert evidence["difference"] == 2.0 and math.isnan(evidence["95% CI low"])
    assert evidence["verdict"] == ONE_SEED and evidence["design"] == "paired, 1 seed"
    none_shared = paired_evidence({0: 5.0}, {1: 4.0})
    assert none_shared["verdict"] == NO_SEED and math.isnan(none_shared["difference"])

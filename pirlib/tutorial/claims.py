"""The paper's claims, judged twice (notebook 05's closing table, notebook 04's differences): by the main job's own
seeds and by the recorded decisive study (`docs/studies/decisive.json`), with the mechanism evidence of VIR against
the SynthRS ground truth (`pirlib.tutorial.ground_truth`).

Design of every comparison: the runs of one study at one seed share their random numbers (data order, augmentation,
the initialisation of the shared modules), so A − B is paired by seed over the seeds both sides have
(`pirlib.tutorial.stats.paired_difference_interval`); against a fixed threshold (a belief AUC of 0.5) it is the
one-sample form of the same interval. Each row gives the smallest difference the design detects with 80 % power
(`minimal_detectable_difference` of the per-seed differences, paired) and the verdict of `claim_verdict`
("supports", "contradicts", "no effect larger than X", "cannot decide"). Test-mR comparisons go through
`power.paired_comparison`, like notebook 03's and the decisive study's; `power.paired_evidence`, which it is built on,
gives the same columns for any other measure, a lower-is-better one or a fixed threshold.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pirlib.tutorial.power import paired_comparison, paired_evidence
from pirlib.tutorial.runs import VARIANT_LABELS
from pirlib.tutorial.study_summaries import (
    ABLATION_SIDES,
    DECISIVE_CLAIMS,
    NO_EFFECT_MARGIN,
    decisive_tables,
    noise_trend,
    test_galleries_tables,
    test_set_table,
)

NOT_TRAINED = "not trained by the main job"
NOT_RECORDED = "not recorded"
NOT_MEASURED = "not measured by the decisive study"
NOT_SWEPT = "not swept by the main job"
TOO_FEW_SEEDS = "fewer than 2 paired seeds"

SeedMetrics = Mapping[int, Mapping[str, float]]  # {seed: {measure: value}} of one model


@dataclass(frozen=True)
class Comparison:
    """One row of a claims table: the claim that `a` beats `b` on `measure` (A − B > 0, or B − A > 0 when lower is
    better, so that a positive difference always goes the claim's way)."""

    claim: str  # the paper's claim, in words
    evidence: str  # what is compared, in words
    measure: str  # key of the per-seed metrics
    a: str  # the variant the claim favours
    b: str  # the variant it is compared with
    lower_is_better: bool = False
    margin: float | None = None  # "no effect larger than margin" when the interval lies inside ±margin
    digits: int = 2  # decimals of the difference


def _label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant)


def run_seed(run_dir: str | os.PathLike) -> int:
    """The training seed of a run directory (its config.yaml)."""
    from pirlib.config import load_config

    return load_config(Path(run_dir) / "config.yaml").train.seed


def run_metrics(
    manifest: Mapping[str, Sequence[str | os.PathLike]], extra: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, dict[int, dict[str, float]]]:
    """{variant: {seed: metrics}} of a study manifest ({variant: [run dirs]}): the selected checkpoint's test
    metrics (eval.json), merged with `extra[run directory name]` where given (e.g. the subspace metrics of 05)."""
    metrics: dict[str, dict[int, dict[str, float]]] = {}
    for variant, runs in manifest.items():
        for run in runs:
            run = Path(run)
            test = json.loads((run / "eval.json").read_text())["test"]
            metrics.setdefault(variant, {})[run_seed(run)] = {**test, **(extra or {}).get(run.name, {})}
    return metrics


def recorded_metrics(record: Mapping) -> dict[str, dict[int, dict[str, float]]]:
    """{variant: {seed: test metrics}} of a recorded study's runs and the default runs recorded beside them (a run
    of the study wins over a default run of the same variant and seed), with the mean recall of each retrieval
    direction added (ABLATION_SIDES)."""
    metrics: dict[str, dict[int, dict[str, float]]] = {}
    for run in [*record["default_runs"].values(), *record["runs"].values()]:
        test = dict(run["test"])
        test |= {side: float(np.mean([run["test"][key] for key in keys])) for side, keys in ABLATION_SIDES.items()}
        metrics.setdefault(run["variant"], {})[run["seed"]] = test
    return metrics


def comparison_table(metrics: Mapping[str, SeedMetrics], comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison whose two variants are both in `metrics` ({variant: {seed: {measure: value}}}):
    `paired_evidence` of A against B on the comparison's measure, indexed by its evidence text."""
    rows = {}
    for comparison in comparisons:
        if comparison.a not in metrics or comparison.b not in metrics:
            continue
        values_a = {seed: values[comparison.measure] for seed, values in metrics[comparison.a].items()}
        values_b = {seed: values[comparison.measure] for seed, values in metrics[comparison.b].items()}
        rows[comparison.evidence] = paired_evidence(values_a, values_b, comparison.margin, comparison.lower_is_better)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("A − B")


def pair_comparisons(
    pairs: Sequence[tuple[str, str]], measure: str = "mR", lower_is_better: bool = False, **options
) -> list[Comparison]:
    """ "A beats B" on `measure` for each (A, B) of `pairs`, named by the difference it takes: "A − B", or "B − A
    (lower is better)"."""
    comparisons = []
    for a, b in pairs:
        evidence = f"{_label(b)} − {_label(a)} (lower is better)" if lower_is_better else f"{_label(a)} − {_label(b)}"
        claim = f"{_label(a)} beats {_label(b)} on {measure}"
        comparisons.append(Comparison(claim, evidence, measure, a, b, lower_is_better, **options))
    return comparisons


def ablation_comparisons(record: Mapping) -> pd.DataFrame:
    """The recorded single-module ablations: PIR − each ablated variant of the record, paired by seed, on test mR (with
    the margin NO_EFFECT_MARGIN) and on the mean recall of each retrieval direction (ABLATION_SIDES); index
    (A − B, measure)."""
    metrics = recorded_metrics(record)
    ablated = [
        variant for variant in dict.fromkeys(run["variant"] for run in record["runs"].values()) if variant != "pir"
    ]
    pairs = [("pir", variant) for variant in ablated]
    tables = {
        side: comparison_table(
            metrics, pair_comparisons(pairs, side, margin=NO_EFFECT_MARGIN if side == "mR" else None)
        )
        for side in ABLATION_SIDES
    }
    table = pd.concat(tables, names=["measure"]).swaplevel().sort_index(level=0, sort_remaining=False)
    return table.loc[[f"PIR (CL+AL) − {_label(variant)}" for variant in ablated]]


def versus_table(
    metrics: Mapping[str, SeedMetrics], measures: Mapping[str, bool], pairs: Sequence[tuple[str, str]], digits: int = 3
) -> pd.DataFrame:
    """For each measure of `measures` ({measure: lower is better}) and each (A, B) of `pairs`: `paired_evidence` that A
    is better than B, the difference taken so that positive means A better (A − B, or B − A when lower is better);
    index (measure, "A vs B")."""
    rows = {}
    for measure, lower_is_better in measures.items():
        for a, b in pairs:
            comparison = Comparison(f"{a} beats {b}", f"{_label(a)} vs {_label(b)}", measure, a, b, lower_is_better,
                                    digits=digits)  # fmt: skip
            for evidence, row in comparison_table(metrics, [comparison]).iterrows():
                rows[(measure, evidence)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["measure", "A vs B (positive: A better)"]
    return table


def retrieval_claims() -> list[Comparison]:
    """The paper's retrieval claims on test mR, as in the decisive study (DECISIVE_CLAIMS)."""
    return [
        Comparison(claim, f"{_label(a)} − {_label(b)}, test mR", "mR", a, b, margin=NO_EFFECT_MARGIN)
        for claim, a, b in DECISIVE_CLAIMS
    ]


def subspace_claims(neighbours: int) -> list[Comparison]:
    """The affiliation loss's claim (paper §3.4) on two confusion metrics of `pirlib.tutorial.subspace`."""
    claim = "The affiliation loss reduces semantic confusion (PIR against PIR w/o AL)"
    purity = f"{neighbours}-NN scene purity"
    return [
        Comparison(claim, f"PIR − PIR w/o AL, {purity}", purity, "pir", "pir_no_affiliation", digits=3),
        Comparison(claim, "PIR w/o AL − PIR, share nearer another centroid (lower is better)",
                   "nearer another centroid", "pir", "pir_no_affiliation", lower_is_better=True, digits=3),
    ]  # fmt: skip


def _interval_text(evidence: Mapping, digits: int) -> str:
    if math.isnan(evidence["95% CI low"]):
        return f"{evidence['difference']:+.{digits}f} (no interval)"
    return (f"{evidence['difference']:+.{digits}f} [{evidence['95% CI low']:+.{digits}f}, "
            f"{evidence['95% CI high']:+.{digits}f}]")  # fmt: skip


def _row(this_run: Mapping | str, recorded: Mapping | str, digits: int) -> dict:
    """A claims-table row from the evidence of this run and of the recorded study (a dict, or why there is none)."""
    row = {}
    for side, evidence in (("this run", this_run), ("recorded", recorded)):
        if isinstance(evidence, str):
            row |= {f"{side}: difference [95% CI]": evidence, f"{side}: design": "–", f"{side}: detectable": "–",
                    f"{side}: verdict": "–"}  # fmt: skip
        else:
            detectable = evidence["detectable"]
            row |= {
                f"{side}: difference [95% CI]": _interval_text(evidence, digits),
                f"{side}: design": evidence["design"],
                f"{side}: detectable": "–" if math.isnan(detectable) else f"{detectable:.{digits}f}",
                f"{side}: verdict": evidence["verdict"],
            }
    return row


def _power_evidence(row: Mapping, where: str = "") -> dict:
    """A `power.paired_comparison` row as evidence, its design in words (`where`: the study's machine and date)."""
    seeds = int(row["seeds"])
    design = f"paired, {seeds} seed{'s' if seeds != 1 else ''}" + (f"; {where}" if where else "")
    return {**row, "design": design}


def recorded_evidence(record: Mapping | None) -> dict[str, dict | str]:
    """{claim of DECISIVE_CLAIMS: evidence} from the decisive study's record (`decisive_tables`), the design naming
    its seeds and machine; `NOT_RECORDED` for every claim when there is no record."""
    if record is None:
        return {claim: NOT_RECORDED for claim, _, _ in DECISIVE_CLAIMS}
    comparisons = decisive_tables(dict(record))[1]
    where = f"{record['machine']['cpu']}, {record['date']}" + ("" if record.get("complete", True) else ", partial")
    return {
        claim: _power_evidence(comparisons.loc[claim], where)
        if claim in comparisons.index
        else f"{TOO_FEW_SEEDS} recorded"
        for claim, _, _ in DECISIVE_CLAIMS
    }


WITH_TEST_SET = "recorded, test images resampled too"  # the column group of `test_set_evidence`
ON_FRESH_IMAGES = "recorded, fresh test images"  # the column group of `fresh_images_evidence`


def _interval_columns(table: pd.DataFrame, group: str, columns: tuple[str, str, str, str]) -> dict[str, dict]:
    """{claim of DECISIVE_CLAIMS: the `group`'s two columns, its difference [95% CI] and its verdict} from `table`,
    whose (difference, low, high, verdict) columns are `columns`; "not recorded" for a claim it does not hold."""
    difference, low, high, verdict = columns
    evidence = {}
    for claim, _, _ in DECISIVE_CLAIMS:
        if claim not in table.index:
            evidence[claim] = {f"{group}: difference [95% CI]": NOT_RECORDED, f"{group}: verdict": "–"}
            continue
        row = table.loc[claim]
        interval = {"difference": row[difference], "95% CI low": row[low], "95% CI high": row[high]}
        evidence[claim] = {f"{group}: difference [95% CI]": _interval_text(interval, 2),
                           f"{group}: verdict": row[verdict]}  # fmt: skip
    return evidence


def test_set_evidence(record: Mapping | None) -> dict[str, dict[str, str]]:
    """{claim of DECISIVE_CLAIMS: its two columns} from the test-set study (`study_summaries.test_set_table`): the
    decisive study's difference with a 95 % interval that counts the finite test set as well as the seeds, and its
    verdict; "not recorded" without a record or for a claim it does not hold."""
    table = test_set_table(dict(record)) if record is not None else pd.DataFrame()
    both = ("difference", "95% CI low, both sources", "95% CI high, both sources", "verdict, both sources")
    return _interval_columns(table, WITH_TEST_SET, both)


def fresh_images_evidence(record: Mapping | None) -> dict[str, dict[str, str]]:
    """{claim of DECISIVE_CLAIMS: its two columns} from the test-galleries study (`study_summaries.
    test_galleries_tables`): the decisive study's runs on fresh SynthRS test images, mR averaged over galleries of
    the default split's size, the 95 % interval counting the seeds and those test images, and its verdict; "not
    recorded" without a record or for a claim it does not hold."""
    table, difference = pd.DataFrame(), "difference"
    if record is not None:
        table = test_galleries_tables(dict(record))[0]
        difference = f"difference, {record['design']['galleries'] * record['design']['gallery_images']} fresh images"
    fresh = (difference, "95% CI low, fresh", "95% CI high, fresh", "verdict, fresh")
    return _interval_columns(table, ON_FRESH_IMAGES, fresh)


PREMISE_CLAIMS = {  # noise_trend's gaps: the premise's claim and its evidence
    "PIR − Baseline (Swin+BERT, CL)": (
        "PIR's gain grows with semantic noise (the paper's premise)",
        "PIR − baseline at the heaviest − at the lightest SynthRS noise level",
    ),
    "PIR − Baseline + scene prior (late fusion)": (
        "VIR's gain beyond scene knowledge grows with semantic noise",
        "PIR − the fusion control at the heaviest − at the lightest SynthRS noise level",
    ),
}


def premise_evidence(record: Mapping | None) -> dict[tuple[str, str], dict | str]:
    """{(claim, evidence): evidence} of PREMISE_CLAIMS from the noise sweep's record (`noise_trend`: the change of
    the per-seed gap from the lightest to the heaviest level, Welch, since the levels train on different data);
    `NOT_RECORDED` without a record, and why not where the record has fewer than two levels with two seeds."""
    if record is None:
        return {key: NOT_RECORDED for key in PREMISE_CLAIMS.values()}
    trend = noise_trend(dict(record))
    where = f"{record['machine']['cpu']}, {record['date']}" + ("" if record.get("complete", True) else ", partial")
    evidence = {}
    for gap, key in PREMISE_CLAIMS.items():
        if gap not in trend.index:
            evidence[key] = "fewer than 2 levels with 2 seeds recorded"
            continue
        row = trend.loc[gap]
        evidence[key] = {
            "difference": row["change"],
            "95% CI low": row["95% CI low"],
            "95% CI high": row["95% CI high"],
            "detectable": row["detectable"],
            "design": f"Welch, noise {row['lightest noise']:g} against {row['heaviest noise']:g}, "
            f"{row['seeds']} seeds; {where}",
            "verdict": row["the gap grows with noise"],
        }
    return evidence


def _attention_on_key(metrics: Mapping[str, float]) -> float:
    """The Spatial-PAE cross-attention's share on key tokens, mean over the steps."""
    steps = [value for key, value in metrics.items() if key.startswith("key: attention, step")]
    return float(np.mean(steps))


def mechanism_evidence(trained: SeedMetrics, untrained: SeedMetrics) -> dict[tuple[str, str], dict]:
    """VIR's mechanism on the trained PIR runs ({seed: vir_metrics}) and the untrained reference built with each run's
    seed and scene prior ({seed: vir_metrics}): the attention on key tokens gained by training, and notebook 02's three
    criteria of a working VIR (belief AUC key vs distractor above 0.5, key-object survival above a random filter's,
    attention on key tokens above their share of the kept tokens, which uniform attention would give)."""
    attention = {seed: _attention_on_key(metrics) for seed, metrics in trained.items()}
    random_filter = next(iter(trained.values()))["random survival"]  # filter_size / N, the same for every run

    def of(key: str) -> dict[int, float]:
        return {seed: metrics[key] for seed, metrics in trained.items()}

    return {
        ("Spatial-PAE's cross-attention learns to look at key objects",
         "share of the cross-attention on key tokens (mean over steps), trained − untrained PIR"):
            paired_evidence(attention, {seed: _attention_on_key(m) for seed, m in untrained.items()}),
        ("VIR's belief ranks key objects above distractors (notebook 02, criterion 1)",
         "trained PIR's belief AUC key vs distractor − 0.5"):
            paired_evidence(of("AUC key vs distractor"), 0.5),
        ("Rank & filter keeps the key objects (notebook 02, criterion 2)",
         "trained PIR's key-object survival − a random filter's"):
            paired_evidence(of("key-object survival"), random_filter),
        ("The cross-attention looks at key tokens more than uniform attention (notebook 02, criterion 3)",
         "share of the cross-attention on key tokens (mean over steps) − their share of the kept tokens"):
            paired_evidence(attention, of("key: share of kept tokens")),
    }  # fmt: skip


def trained_against_untrained(trained: SeedMetrics, untrained: SeedMetrics) -> pd.DataFrame:
    """VIR of the trained runs ({seed: vir_metrics}) − the untrained reference of each run's seed, paired by seed: the
    belief AUCs, key-object survival and the cross-attention's share on key tokens (mean over the steps)."""
    rows = {}
    for key in ("AUC key vs distractor", "AUC key vs background", "key-object survival"):
        rows[key] = paired_evidence({s: m[key] for s, m in trained.items()}, {s: m[key] for s, m in untrained.items()})
    rows["key: attention (mean over steps)"] = paired_evidence(
        {seed: _attention_on_key(metrics) for seed, metrics in trained.items()},
        {seed: _attention_on_key(metrics) for seed, metrics in untrained.items()},
    )
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("trained − untrained PIR")


def claims_table(
    main: Mapping[str, SeedMetrics],
    record: Mapping | None,
    neighbours: int | None = None,
    vir: tuple[SeedMetrics, SeedMetrics] | None = None,
    noise_record: Mapping | None = None,
    test_set_record: Mapping | None = None,
    galleries_record: Mapping | None = None,
) -> pd.DataFrame:
    """The closing table: for each claim of the paper, the main job's evidence (`main`: {variant: {seed: metrics}},
    paired by seed) beside the recorded decisive study's (`record`, or None: "not recorded").

    Rows: the retrieval claims on test mR (`retrieval_claims`; the fusion-control rows come from the study only,
    the main job does not train that control), the affiliation loss on two confusion metrics when `neighbours` is
    given (the main job only), with `vir` = (trained, untrained) the mechanism rows of `mechanism_evidence`, and the
    premise's rows from the recorded noise sweep (`noise_record`, or None: "not recorded"; `premise_evidence`).
    The retrieval claims also get the test-set study's interval (`test_set_record`; `test_set_evidence`), which
    counts the finite test set as well as the seeds, and the test-galleries study's (`galleries_record`;
    `fresh_images_evidence`), the same runs on fresh test images; the other rows have "–" there."""
    recorded, with_test_set = recorded_evidence(record), test_set_evidence(test_set_record)
    on_fresh_images = fresh_images_evidence(galleries_record)
    mR = {variant: {seed: metrics["mR"] for seed, metrics in runs.items()} for variant, runs in main.items()}
    rows = {}
    for comparison in retrieval_claims():
        if comparison.a in main and comparison.b in main:
            pair = [(comparison.a, comparison.b)]
            this_run = _power_evidence(paired_comparison(mR, pair, NO_EFFECT_MARGIN).iloc[0])
        else:
            this_run = NOT_TRAINED
        rows[(comparison.claim, comparison.evidence)] = (
            _row(this_run, recorded[comparison.claim], comparison.digits)
            | with_test_set[comparison.claim]
            | on_fresh_images[comparison.claim]
        )
    for comparison in subspace_claims(neighbours) if neighbours is not None else []:
        table = comparison_table(main, [comparison])
        this_run = table.iloc[0].to_dict() if len(table) else NOT_TRAINED
        rows[(comparison.claim, comparison.evidence)] = _row(this_run, NOT_MEASURED, comparison.digits)
    if vir is not None:
        for key, evidence in mechanism_evidence(*vir).items():
            rows[key] = _row(evidence, NOT_MEASURED, 3)
    for key, evidence in premise_evidence(noise_record).items():
        rows[key] = _row(NOT_SWEPT, evidence, 2)
    table = pd.DataFrame.from_dict(rows, orient="index").fillna("–")
    table.index.names = ["claim", "evidence (positive: the claim's way)"]
    return table

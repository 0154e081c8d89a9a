"""The claims table of notebook 05 and the paired comparisons of notebooks 04 and 05, on small fake runs and records."""

from __future__ import annotations

import json

import pytest

from pirlib.tutorial import claims
from pirlib.tutorial.stats import paired_difference_interval
from pirlib.tutorial.study_summaries import DECISIVE_CLAIMS


def fake_run(root, variant: str, seed: int, mR: float, **extra):
    """A run directory with what `run_metrics` reads: config.yaml (the seed) and eval.json (test metrics)."""
    run = root / f"{variant}_seed{seed}"
    run.mkdir()
    (run / "config.yaml").write_text(f"train:\n  seed: {seed}\n")
    (run / "eval.json").write_text(json.dumps({"test": {"mR": mR, "i2t_r1": mR / 2, **extra}}))
    return run


MAIN_MR = {"baseline": [10.0, 12.0, 11.0], "pir": [13.0, 15.5, 13.5], "pir_no_affiliation": [12.0, 14.0, 12.0]}


@pytest.fixture
def manifest(tmp_path):
    return {v: [fake_run(tmp_path, v, seed, mR) for seed, mR in enumerate(values)] for v, values in MAIN_MR.items()}


def decisive_record(complete: bool = True) -> dict:
    """A decisive-study record: baseline, PIR and the fusion control at 4 seeds, PIR w/o VIR at one."""
    mR = {"baseline": [10, 11, 12, 13], "pir": [12, 13.5, 14, 15], "baseline_prior_fusion": [11, 12, 12.5, 14],
          "pir_no_vir": [9]}  # fmt: skip
    runs = {f"{v}_seed{s}": {"variant": v, "seed": s, "test": {"mR": float(m)}, "curve": {}}
            for v, values in mR.items() for s, m in enumerate(values)}  # fmt: skip
    return {"name": "decisive", "command": "python -m pirlib.tutorial.studies decisive", "date": "2026-12-06",
            "machine": {"cpu": "Test CPU", "torch": "2"}, "runs": runs, "default_runs": {}, "design": {},
            "complete": complete}  # fmt: skip


def test_run_metrics_reads_test_metrics_by_seed_and_merges_extra(manifest):
    metrics = claims.run_metrics(manifest, extra={"pir_seed1": {"silhouette": 0.4}})
    assert sorted(metrics) == sorted(MAIN_MR)
    assert metrics["pir"][1] == {"mR": 15.5, "i2t_r1": 7.75, "silhouette": 0.4}
    assert [metrics["baseline"][seed]["mR"] for seed in range(3)] == MAIN_MR["baseline"]


def test_comparison_table_names_each_difference_and_skips_absent_variants(manifest):
    metrics = claims.run_metrics(manifest)
    pairs = [("pir", "baseline"), ("pir_no_affiliation", "baseline"), ("pir_no_vir", "baseline")]
    table = claims.comparison_table(metrics, claims.pair_comparisons(pairs))
    assert list(table.index) == [
        "PIR (CL+AL) − Baseline (Swin+BERT, CL)",
        "PIR w/o affiliation loss − Baseline (Swin+BERT, CL)",
    ]
    assert table.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)", "difference"] == pytest.approx(3.0)
    lower = claims.pair_comparisons([("pir", "baseline")], "mR", lower_is_better=True)
    assert lower[0].evidence == "Baseline (Swin+BERT, CL) − PIR (CL+AL) (lower is better)"


def test_claims_table_without_a_record_says_not_recorded(manifest):
    main = claims.run_metrics(manifest)
    table = claims.claims_table(main, None)
    assert len(table) == len(DECISIVE_CLAIMS) + len(claims.PREMISE_CLAIMS)
    assert set(table["recorded: difference [95% CI]"]) == {claims.NOT_RECORDED}
    pir_vs_baseline = table.xs("PIR beats the contrastive baseline", level="claim").iloc[0]
    assert pir_vs_baseline["this run: difference [95% CI]"].startswith("+3.00 [")
    assert pir_vs_baseline["this run: design"] == "paired, 3 seeds"
    assert float(pir_vs_baseline["this run: detectable"]) > 0 and pir_vs_baseline["recorded: detectable"] == "–"
    fusion = table.xs("VIR adds more than scene knowledge (PIR against the fusion control)", level="claim").iloc[0]
    assert fusion["this run: difference [95% CI]"] == claims.NOT_TRAINED and fusion["this run: verdict"] == "–"


def test_claims_table_reads_the_recorded_decisive_study(manifest):
    table = claims.claims_table(claims.run_metrics(manifest), decisive_record(complete=False))
    fusion = table.xs("Scene knowledge alone helps (fusion control against the baseline)", level="claim").iloc[0]
    difference, low, high = paired_difference_interval([11, 12, 12.5, 14], [10, 11, 12, 13])
    assert fusion["recorded: difference [95% CI]"] == f"{difference:+.2f} [{low:+.2f}, {high:+.2f}]"
    assert fusion["recorded: design"] == "paired, 4 seeds; Test CPU, 2026-12-06, partial"
    assert fusion["recorded: verdict"] == "supports"
    no_vir = table.xs("VIR helps (PIR against PIR w/o VIR)", level="claim").iloc[0]
    assert no_vir["recorded: difference [95% CI]"] == "fewer than 2 paired seeds recorded"
    assert no_vir["this run: difference [95% CI]"] == claims.NOT_TRAINED


def test_claims_table_adds_subspace_and_mechanism_rows(manifest):
    extra = {f"{v}_seed{s}": {"10-NN scene purity": 0.5 + 0.1 * (v == "pir") + 0.01 * s,
                              "nearer another centroid": 0.3 - 0.05 * (v == "pir") + 0.01 * s}
             for v in MAIN_MR for s in range(3)}  # fmt: skip
    trained = {s: {"AUC key vs distractor": 0.6 + 0.01 * s, "key-object survival": 0.85 + 0.01 * s,
                   "random survival": 0.8, "key: share of kept tokens": 0.08, "key: attention, step 1": 0.12 + 0.01 * s,
                   "key: attention, step 2": 0.10 + 0.01 * s} for s in range(3)}  # fmt: skip
    untrained = {s: {**trained[s], "key: attention, step 1": 0.08, "key: attention, step 2": 0.08} for s in range(3)}
    table = claims.claims_table(claims.run_metrics(manifest, extra), None, neighbours=10, vir=(trained, untrained))
    affiliation = table.xs("The affiliation loss reduces semantic confusion (PIR against PIR w/o AL)", level="claim")
    assert list(affiliation["this run: verdict"]) == ["supports", "supports"]
    assert list(affiliation["recorded: difference [95% CI]"]) == [claims.NOT_MEASURED] * 2
    criteria = table.loc[[key for key in table.index if "notebook 02, criterion" in key[0]]]
    assert list(criteria["this run: verdict"]) == ["supports"] * 3
    assert list(criteria["this run: design"]) == ["one-sample, 3 seeds", "one-sample, 3 seeds", "paired, 3 seeds"]
    gained = table.xs("Spatial-PAE's cross-attention learns to look at key objects", level="claim").iloc[0]
    assert gained["this run: difference [95% CI]"].startswith("+0.040 [")  # mean of steps 0.11 + 0.01 s − 0.08, s̄ = 1


def ablation_record() -> dict:
    """An ablation-study record: PIR and the baseline as default runs, PIR w/o VIR and w/o LCA as the study's runs."""

    def run(variant, seed, mR):
        test = {"mR": mR, "i2t_r1": mR - 1, "i2t_r5": mR, "i2t_r10": mR + 1, "t2i_r1": mR - 2, "t2i_r5": mR,
                "t2i_r10": mR + 5}  # fmt: skip
        return {"variant": variant, "seed": seed, "test": test, "curve": {}}

    default = {f"{v}_seed{s}": run(v, s, m) for v, values in (("baseline", [10, 11]), ("pir", [14, 16]))
               for s, m in enumerate(values)}  # fmt: skip
    study = {f"{v}_seed{s}": run(v, s, m) for v, values in (("pir_no_vir", [12, 13]), ("pir_no_lca", [15, 15]))
             for s, m in enumerate(values)}  # fmt: skip
    return {"runs": study, "default_runs": default}


def test_recorded_metrics_adds_the_mean_of_each_direction():
    metrics = claims.recorded_metrics(ablation_record())
    assert sorted(metrics) == ["baseline", "pir", "pir_no_lca", "pir_no_vir"]
    assert metrics["pir"][1]["image → text (mean R@1,5,10)"] == 16.0
    assert metrics["pir"][1]["text → image (mean R@1,5,10)"] == pytest.approx(17.0)


def test_ablation_comparisons_pair_pir_with_each_ablation_per_measure():
    table = claims.ablation_comparisons(ablation_record())
    assert list(table.index) == [
        ("PIR (CL+AL) − PIR w/o VIR", "mR"),
        ("PIR (CL+AL) − PIR w/o VIR", "image → text (mean R@1,5,10)"),
        ("PIR (CL+AL) − PIR w/o VIR", "text → image (mean R@1,5,10)"),
        ("PIR (CL+AL) − PIR w/o LCA", "mR"),
        ("PIR (CL+AL) − PIR w/o LCA", "image → text (mean R@1,5,10)"),
        ("PIR (CL+AL) − PIR w/o LCA", "text → image (mean R@1,5,10)"),
    ]
    assert table.loc[("PIR (CL+AL) − PIR w/o VIR", "mR"), "difference"] == pytest.approx(2.5)
    assert table.loc[("PIR (CL+AL) − PIR w/o LCA", "mR"), "design"] == "paired, 2 seeds"


def test_trained_against_untrained_pairs_each_vir_measure_by_seed():
    trained = {s: {"AUC key vs distractor": 0.6 + 0.02 * s, "AUC key vs background": 0.5, "key-object survival": 0.8,
                   "key: attention, step 1": 0.2, "key: attention, step 2": 0.1} for s in range(3)}  # fmt: skip
    untrained = {s: {**trained[s], "AUC key vs distractor": 0.5, "key: attention, step 1": 0.1} for s in range(3)}
    table = claims.trained_against_untrained(trained, untrained)
    assert list(table.index) == [
        "AUC key vs distractor", "AUC key vs background", "key-object survival", "key: attention (mean over steps)"
    ]  # fmt: skip
    assert table.loc["AUC key vs distractor", "difference"] == pytest.approx(0.12)
    assert table.loc["key: attention (mean over steps)", "difference"] == pytest.approx(0.05)
    assert table.loc["key-object survival", "verdict"] == "cannot decide"  # no difference at all


def test_versus_table_turns_lower_is_better_measures_so_positive_means_better():
    metrics = {"baseline": {s: {"purity": 0.5 + 0.01 * s, "gap": 0.3} for s in range(3)},
               "pir": {s: {"purity": 0.6 + 0.02 * s, "gap": 0.1 + 0.01 * s} for s in range(3)}}  # fmt: skip
    table = claims.versus_table(metrics, {"purity": False, "gap": True}, [("pir", "baseline")])
    assert list(table.index) == [("purity", "PIR (CL+AL) vs Baseline (Swin+BERT, CL)"),
                                 ("gap", "PIR (CL+AL) vs Baseline (Swin+BERT, CL)")]  # fmt: skip
    assert table["difference"].tolist() == pytest.approx([0.11, 0.19])
    assert table["verdict"].tolist() == ["supports", "supports"]


def noise_record(heavy_seeds: int = 3) -> dict:
    """A noise-sweep record at levels 0 and 2: PIR − baseline grows from +1 to +3 (per-seed jitter ±0.5); PIR − the
    fusion control is the same at both levels (−1 on average); `heavy_seeds` seeds at level 2."""
    runs = {}
    for noise, gap, seeds in ((0.0, 1.0, 3), (2.0, 3.0, heavy_seeds)):
        for seed in range(seeds):
            shared, jitter = 10.0 + 2 * seed, 0.5 * (-1) ** seed
            for variant, value in (("baseline", shared), ("pir", shared + gap + jitter),
                                   ("baseline_prior_fusion", shared + gap + 1.0 + 0.2 * seed)):  # fmt: skip
                runs[f"noise{noise:g}_{variant}_seed{seed}"] = {"variant": variant, "seed": seed, "noise": noise,
                                                                "test": {"mR": value}}  # fmt: skip
    return {"runs": runs, "design": {"noise": [0.0, 2.0], "variants": ["baseline", "pir", "baseline_prior_fusion"]},
            "machine": {"cpu": "Test CPU"}, "date": "2026-12-06", "complete": heavy_seeds == 3}  # fmt: skip


def test_claims_table_judges_the_premise_from_the_recorded_noise_sweep(manifest):
    table = claims.claims_table(claims.run_metrics(manifest), None, noise_record=noise_record())
    grows = table.xs("PIR's gain grows with semantic noise (the paper's premise)", level="claim").iloc[0]
    assert grows["this run: difference [95% CI]"] == claims.NOT_SWEPT
    assert grows["recorded: difference [95% CI]"].startswith("+2.00 [")
    assert grows["recorded: design"] == "Welch, noise 0 against 2, 3, 3 seeds; Test CPU, 2026-12-06"
    assert grows["recorded: verdict"] == "supports"
    beyond = table.xs("VIR's gain beyond scene knowledge grows with semantic noise", level="claim").iloc[0]
    assert beyond["recorded: difference [95% CI]"].startswith("+0.00 [") and beyond["recorded: verdict"] == (
        "no effect larger than 2"
    )
    one_heavy_seed = claims.claims_table(claims.run_metrics(manifest), None, noise_record=noise_record(heavy_seeds=1))
    too_few = one_heavy_seed.xs("PIR's gain grows with semantic noise (the paper's premise)", level="claim").iloc[0]
    assert too_few["recorded: difference [95% CI]"] == "fewer than 2 levels with 2 seeds recorded"


def test_claims_table_gives_the_interval_with_the_test_set_beside_the_seed_paired_one(manifest):
    record = decisive_record()
    record["design"] = {"rounds": 100, "test_images": 300}
    record["bootstrap"] = {"PIR beats the contrastive baseline": {"seeds": [0, 1, 2, 3], "std": 2.0, "low": -2,
                                                                  "high": 5}}  # fmt: skip
    table = claims.claims_table(claims.run_metrics(manifest), decisive_record(), test_set_record=record)
    pir = table.xs("PIR beats the contrastive baseline", level="claim").iloc[0]
    assert pir["recorded: verdict"] == "supports"  # the test images held fixed: 4 seeds, per-seed gaps 2, 2.5, 2, 2
    assert pir[f"{claims.WITH_TEST_SET}: verdict"] == "cannot decide"  # a test-set s.d. of 2 mR swamps it
    assert pir[f"{claims.WITH_TEST_SET}: difference [95% CI]"].startswith("+2.12 [-")
    fusion = table.xs("VIR adds more than scene knowledge (PIR against the fusion control)", level="claim").iloc[0]
    assert fusion[f"{claims.WITH_TEST_SET}: difference [95% CI]"] == claims.NOT_RECORDED
    without = claims.claims_table(claims.run_metrics(manifest), None, neighbours=None)
    column = list(without[f"{claims.WITH_TEST_SET}: difference [95% CI]"])
    assert column.count(claims.NOT_RECORDED) == len(DECISIVE_CLAIMS) and set(column) == {claims.NOT_RECORDED, "–"}


def test_claims_table_gives_the_verdict_on_fresh_test_images(manifest):
    record = decisive_record()
    claim = "PIR beats the contrastive baseline"
    record["design"] = {"galleries": 2, "gallery_images": 300}
    record["gallery_mR"] = {name: [run["test"]["mR"] + 0.5] * 2 for name, run in record["runs"].items()}
    record["embedding_seconds"] = {name: 10.0 for name in record["runs"]}
    record["bootstrap"] = {claim: {"seeds": [0, 1, 2, 3], "std": 0.1}}  # fresh galleries: little test-set noise
    record["split_bootstrap"] = {claim: {"seeds": [0, 1, 2, 3], "std": 2.0}}
    table = claims.claims_table(claims.run_metrics(manifest), decisive_record(), galleries_record=record)
    pir = table.xs(claim, level="claim").iloc[0]
    assert pir[f"{claims.ON_FRESH_IMAGES}: verdict"] == "supports"  # per-seed gaps 2, 2.5, 2, 2: s.e. 0.125
    assert pir[f"{claims.ON_FRESH_IMAGES}: difference [95% CI]"] == "+2.12 [+1.81, +2.44]"
    fusion = table.xs("VIR adds more than scene knowledge (PIR against the fusion control)", level="claim").iloc[0]
    assert fusion[f"{claims.ON_FRESH_IMAGES}: difference [95% CI]"] == claims.NOT_RECORDED
    without = claims.claims_table(claims.run_metrics(manifest), None)
    assert set(without[f"{claims.ON_FRESH_IMAGES}: difference [95% CI]"]) == {claims.NOT_RECORDED, "–"}

"""Recorded studies: runs derived from a finished study, their record, and the tables notebook 03 shows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from reliability_helpers import PROFILE

from pirlib.metrics import METRIC_KEYS
from pirlib.tutorial.studies import ablation_specs, derived_specs
from pirlib.tutorial.study_summaries import ablation_tables, plateau_table, prior_quality_table, recorded, write_summary


def _runs(variant_values: dict[str, list[float]]) -> dict:
    """Recorded runs whose every test metric equals the given value."""
    return {
        f"{variant}_seed{seed}": {"variant": variant, "seed": seed, "test": dict.fromkeys(METRIC_KEYS, value)}
        for variant, values in variant_values.items()
        for seed, value in enumerate(values)
    }


def test_plateau_table_flags_changes_within_the_seed_spread():
    record = {
        "budget_factor": 2,
        "default_runs": _runs({"baseline": [10.0, 12.0, 11.0], "pir": [9.0, 9.5, 10.0]}),
        "runs": _runs({"baseline": [11.5, 11.0, 12.0], "pir": [12.0, 12.5, 13.0]}),
    }
    table = plateau_table(record)
    baseline, pir = table.loc["Baseline (Swin+BERT, CL)"], table.loc["PIR (CL+AL)"]
    assert baseline["change in mR"] == pytest.approx(0.5) and baseline["|change| < seed std"]
    assert pir["change in mR"] == pytest.approx(3.0) and not pir["|change| < seed std"]
    assert pir["95% CI low"] > 0 and baseline["95% CI low"] < 0 < baseline["95% CI high"]
    assert pir["default budget mR"] == "9.50 ± 0.50" and pir["2× budget mR"] == "12.50 ± 0.50"


def test_prior_quality_table_and_figure():
    record = {
        "default_runs": _runs({"baseline": [10.0, 11.0, 12.0], "pir": [14.0, 15.0, 16.0]}),
        "runs": _runs({"pir": [8.0, 9.0, 10.0]}),
        "priors": {
            "corpus": {"accuracy": 81.0, "train_images": 16000},
            "in-set": {"accuracy": 60.0, "train_images": 1800},
        },
    }
    table, figure = prior_quality_table(record)
    assert table.loc["corpus prior", "difference in mR"] == pytest.approx(4.0)
    assert table.loc["in-set prior", "difference in mR"] == pytest.approx(-2.0)
    corpus_vs_inset = table.loc["corpus − in-set prior"]
    assert corpus_vs_inset["difference in mR"] == pytest.approx(6.0)
    assert corpus_vs_inset["compared with"] == "PIR, in-set prior" and corpus_vs_inset["verdict"] == "better"
    assert table.loc["corpus prior", "95% CI low"] > 0 and table.loc["corpus prior", "verdict"] == "better"
    assert len(figure.axes[0].collections) >= 2  # one scatter per prior


def test_ablation_tables_compare_pir_with_each_ablation():
    record = {
        "default_runs": _runs({"baseline": [10.0, 11.0, 12.0], "pir": [14.0, 15.0, 16.0]}),
        "runs": _runs({"pir_no_vir": [14.5, 15.0, 15.5], "pir_no_lca": [10.0, 11.0, 12.0]}),
    }
    record["runs"]["pir_no_lca_seed0"]["test"]["t2i_r1"] = 13.0  # text → image mean 11 instead of 10
    metrics, differences = ablation_tables(record)
    assert list(metrics.index) == ["Baseline (Swin+BERT, CL)", "PIR (CL+AL)", "PIR w/o VIR", "PIR w/o LCA"]
    assert metrics.loc["PIR w/o VIR", "mR"] == "15.00 ± 0.50" and metrics.loc["PIR w/o LCA", "seeds"] == 3
    no_vir = differences.loc[("PIR − PIR w/o VIR", "mR")]
    assert no_vir["difference"] == pytest.approx(0.0) and no_vir["verdict"] == "cannot decide"
    no_lca = differences.loc[("PIR − PIR w/o LCA", "mR")]
    assert no_lca["difference"] == pytest.approx(4.0) and no_lca["verdict"] == "better"
    text_side = differences.loc[("PIR − PIR w/o LCA", "text → image (mean R@1,5,10)")]
    assert text_side["difference"] == pytest.approx(4.0 - 1.0 / 3)


def test_summary_page_is_written_from_the_records(tmp_path):
    record = {
        "name": "ablations",
        "command": "python -m pirlib.tutorial.studies ablations",
        "date": "2026-12-01",
        "machine": {"cpu": "Some CPU", "torch": "2.0"},
        "default_runs": _runs({"baseline": [10.0, 11.0, 12.0], "pir": [14.0, 15.0, 16.0]}),
        "runs": _runs({"pir_no_vir": [14.5, 15.0, 15.5], "pir_no_lca": [10.0, 11.0, 12.0]}),
    }
    (tmp_path / "ablations.json").write_text(json.dumps(record))
    page = write_summary(tmp_path).read_text()
    assert "`python -m pirlib.tutorial.studies ablations` on Some CPU (torch 2.0), 2026-12-01; 6 runs" in page
    assert "| PIR − PIR w/o LCA | mR | 4.00 |" in page
    assert "## plateau\n\nNot recorded yet" in page


def test_recorded_reads_a_record_or_none(tmp_path):
    assert recorded(tmp_path / "absent.json") is None
    (tmp_path / "study.json").write_text(json.dumps({"name": "plateau"}))
    assert recorded(tmp_path / "study.json") == {"name": "plateau"}


def test_derived_specs_override_the_stored_configs(tmp_path):
    from pirlib.config import load_config, save_config
    from pirlib.tutorial.runs import RunSpec, write_manifest

    specs = []
    for variant in ("baseline", "pir"):
        run = tmp_path / "main" / f"{variant}_seed3"
        run.mkdir(parents=True)
        save_config(load_config(None, ["train.seed=3", "train.epochs=4"]), run / "config.yaml")
        (run / "metrics.jsonl").write_text(
            "\n".join(json.dumps({"step": s, "epoch_progress": s / 10, "train": {}}) for s in (5, 10)) + "\n"
        )
        specs.append(RunSpec(variant, 3, load_config(run / "config.yaml"), run))
    write_manifest(specs, tmp_path / "main" / "manifest.json")
    derived = derived_specs(tmp_path / "main", tmp_path / "study", ["train.epochs=8"], ["pir"], evaluation_factor=2)
    assert [(s.variant, s.seed, s.config.train.epochs, s.evaluations) for s in derived] == [("pir", 3, 8, 4)]
    assert derived[0].out_dir == tmp_path / "study" / "pir_seed3"


def finish_with_two_evaluations(specs, runs_dir):
    """Each planned run's config.yaml and a metrics.jsonl of two evaluations, and the study's manifest."""
    from pirlib.config import save_config
    from pirlib.tutorial.runs import write_manifest

    for spec in specs:
        spec.out_dir.mkdir(parents=True)
        save_config(spec.config, spec.out_dir / "config.yaml")
        (spec.out_dir / "metrics.jsonl").write_text(
            "\n".join(json.dumps({"step": s, "epoch_progress": s / 10, "train": {}}) for s in (5, 10)) + "\n"
        )
    write_manifest(specs, runs_dir / "manifest.json")


def test_ablation_specs_are_the_runs_notebook_03_plans(tmp_path):
    from operator import attrgetter

    from pirlib.config import load_config, to_dict
    from pirlib.tutorial.runs import plan_runs

    base = load_config(None, ["train.epochs=4"])
    main = plan_runs(base, tmp_path / "main", {"baseline": [3], "pir": [3, 4]}, evaluations=2)
    finish_with_two_evaluations(main, tmp_path / "main")
    specs = ablation_specs(tmp_path / "main", tmp_path / "study")
    planned = plan_runs(base, tmp_path / "study", {"pir_no_vir": [3, 4], "pir_no_lca": [3, 4]}, evaluations=2)
    key = attrgetter("variant", "seed")
    assert sorted(map(key, specs)) == sorted(map(key, planned))
    for spec, plan in zip(sorted(specs, key=key), sorted(planned, key=key), strict=True):
        assert to_dict(spec.config) == to_dict(plan.config) and spec.out_dir == plan.out_dir
        assert spec.evaluations == 2


def test_variance_specs_vary_one_source_at_a_time_wave_by_wave(tmp_path):
    from pirlib.config import SEED_SOURCES, load_config, seed_of
    from pirlib.tutorial.runs import plan_runs
    from pirlib.tutorial.studies import VARIANCE_SEEDS, VARIANCE_WAVES, variance_specs, variance_waves

    main = plan_runs(load_config(None, ["train.epochs=4"]), tmp_path / "main", {"baseline": [0, 1], "pir": [0, 1]}, 2)
    finish_with_two_evaluations(main, tmp_path / "main")
    specs = variance_specs(tmp_path / "main", tmp_path / "study")
    assert sorted(VARIANCE_WAVES) == sorted(SEED_SOURCES)
    assert len(specs) == 2 * len(SEED_SOURCES) * len(VARIANCE_SEEDS)
    for spec in specs:
        varied = [source for source in SEED_SOURCES if seed_of(spec.config.train, source) != 0]
        assert len(varied) == 1 and seed_of(spec.config.train, varied[0]) == spec.seed
        assert spec.out_dir.name == f"{spec.variant}_{varied[0]}{spec.seed}" and spec.evaluations == 2
    waves = variance_waves(tmp_path / "main", tmp_path / "study")
    assert [spec.out_dir for wave in waves for spec in wave] == [spec.out_dir for spec in specs]
    for source, wave in zip(VARIANCE_WAVES, waves, strict=True):  # one source per wave, both variants in it
        assert {seed_of(spec.config.train, source) for spec in wave} == set(VARIANCE_SEEDS)
        assert {spec.variant for spec in wave} == {"baseline", "pir"} and len(wave) == 2 * len(VARIANCE_SEEDS)


def test_variance_finished_only_records_what_finished(tmp_path, monkeypatch):
    from pirlib.config import load_config, save_config
    from pirlib.io import atomic_write_json
    from pirlib.tutorial import studies
    from pirlib.tutorial.runs import INPUTS_FILE, plan_runs, run_inputs

    main = plan_runs(load_config(None, ["train.epochs=4"]), tmp_path / "main", {"baseline": [0], "pir": [0]}, 2)
    finish_with_two_evaluations(main, tmp_path / "main")
    first = studies.variance_waves(tmp_path / "main", tmp_path / "study")[0][0]
    first.out_dir.mkdir(parents=True)
    save_config(first.config, first.out_dir / "config.yaml")
    atomic_write_json(first.out_dir / "eval.json", {"test": {"mR": 12.0}})
    atomic_write_json(first.out_dir / INPUTS_FILE, run_inputs(first.config))
    monkeypatch.setattr(studies, "test_set_bootstrap", lambda runs: {run.name: 0.5 for run in runs})

    specs, extra = studies.variance(tmp_path / "main", tmp_path / "study", workers=1, finished_only=True)
    assert [spec.out_dir for spec in specs] == [first.out_dir] and not extra["complete"]
    assert extra["design"]["sources"][0] == "init" and extra["test_set_bootstrap_std"] == {
        "baseline_seed0": 0.5, "pir_seed0": 0.5}  # fmt: skip
    assert sorted(path.name for path in (tmp_path / "study").iterdir()) == [first.out_dir.name]  # nothing trained


def test_variance_table_separates_the_sources():
    from pirlib.config import SEED_SOURCES
    from pirlib.tutorial.study_summaries import variance_precision, variance_table

    default = _runs({"baseline": [10.0, 12.0, 14.0], "pir": [11.0, 13.0, 15.0]})
    runs = {}
    for variant, base in (("baseline", 10.0), ("pir", 11.0)):
        for source in SEED_SOURCES:
            spread = 2.0 if source == "data" else 0.0  # only the data order moves the result
            for seed in (1, 2, 3):
                name = f"{variant}_{source}{seed}"
                runs[name] = {"variant": variant, "seed": seed, "test": {"mR": base + spread * seed}}
    record = {
        "design": {"sources": list(SEED_SOURCES), "seeds": [0, 1, 2, 3], "variants": ["baseline", "pir"]},
        "runs": runs,
        "default_runs": default,
        "test_set_bootstrap_std": {name: 0.5 for name in default},
    }
    table = variance_table(record)
    assert table.loc["PIR (CL+AL)", "data"] == pytest.approx(2.0 * 1.2909944)  # std of 0, 2, 4, 6
    assert table.loc["PIR (CL+AL)", "init"] == 0.0
    assert table.loc["PIR − baseline (paired)", "data"] == 0.0  # both move together: pairing removes it
    assert table.loc["Baseline (Swin+BERT, CL)", "all sources (3 seeds)"] == pytest.approx(2.0)
    record_with_decisive = {
        **record,
        "all_sources": _runs({"baseline": [10.0, 12.0, 14.0, 16.0], "pir": [11.0, 14.0, 15.0, 16.0]}),
    }
    everything = variance_table(record_with_decisive)["all sources (4 seeds)"]  # the decisive runs, when recorded
    assert everything["Baseline (Swin+BERT, CL)"] == pytest.approx(np.std([10, 12, 14, 16], ddof=1))
    assert everything["PIR − baseline (paired)"] == pytest.approx(np.std([1, 2, 1, 0], ddof=1))
    assert table.loc["Baseline (Swin+BERT, CL)", "test set (bootstrap)"] == 0.5
    assert variance_precision(record) == (
        "Each source's std comes from 4 seeds: its 95 % interval (chi-square, normal seeds) runs from 0.57× to 3.73× "
        "the value shown."
    )

    del record["runs"]["pir_dropout3"]  # a partial record: one run of one source unfinished
    partial = variance_table(record)
    assert math.isnan(partial.loc["PIR (CL+AL)", "dropout"])
    assert math.isnan(partial.loc["PIR − baseline (paired)", "dropout"])
    assert partial.loc["Baseline (Swin+BERT, CL)", "dropout"] == 0.0
    assert partial.loc["PIR (CL+AL)", "data"] == table.loc["PIR (CL+AL)", "data"]


def test_decisive_specs_reuse_the_default_runs_and_cover_every_variant_and_seed(tmp_path):
    from pirlib.config import load_config, to_dict
    from pirlib.tutorial.runs import plan_runs
    from pirlib.tutorial.studies import DECISIVE_SEEDS, DECISIVE_WAVES, decisive_specs

    base = load_config(None, ["train.epochs=4"])
    main = plan_runs(base, tmp_path / "main", {"baseline": [0, 1], "pir": [0, 1]}, evaluations=2)
    finish_with_two_evaluations(main, tmp_path / "main")
    waves = decisive_specs(tmp_path / "main", tmp_path / "study")
    assert [sorted({spec.variant for spec in wave}) for wave in waves] == [sorted(wave) for wave in DECISIVE_WAVES]
    specs = [spec for wave in waves for spec in wave]
    assert sorted((spec.variant, spec.seed) for spec in specs) == sorted(
        (variant, seed) for wave in DECISIVE_WAVES for variant in wave for seed in DECISIVE_SEEDS
    )
    where = {(spec.variant, spec.seed): spec.out_dir for spec in specs}
    assert where[("pir", 1)] == tmp_path / "main" / "pir_seed1"  # a default run is reused, not retrained
    assert where[("pir", 2)] == tmp_path / "study" / "pir_seed2"
    planned = plan_runs(base, tmp_path / "study", {"baseline_prior_fusion": [5]}, evaluations=2)[0]
    spec = next(spec for spec in specs if (spec.variant, spec.seed) == ("baseline_prior_fusion", 5))
    assert to_dict(spec.config) == to_dict(planned.config) and spec.evaluations == 2


def test_decisive_tables_pair_by_seed_and_give_the_claim_verdicts():
    from pirlib.tutorial.study_summaries import decisive_tables

    seeds = range(6)
    shared = [10.0, 14.0, 11.0, 15.0, 12.0, 13.0]  # a large seed effect that every variant shares
    values = {
        "baseline": shared,
        "pir": [v + 3.0 + 0.1 * (s % 2) for s, v in zip(seeds, shared, strict=True)],  # beats it on every seed
        "pir_no_vir": [v + 3.0 - 0.1 * (s % 2) for s, v in zip(seeds, shared, strict=True)],  # within ±0.2 of PIR
        "baseline_prior_fusion": [v + 5.0 + 0.2 * (s % 3) for s, v in zip(seeds, shared, strict=True)],
        "pir_no_lca": [v + (3.0 if s % 2 else -3.0) for s, v in zip(seeds, shared, strict=True)],
    }
    metrics, comparisons = decisive_tables({"runs": _runs(values)}, margin=2.0)
    assert metrics.loc["PIR (CL+AL)", "seeds"] == 6
    verdicts = comparisons["verdict"].to_dict()
    assert verdicts["PIR beats the contrastive baseline"] == "supports"
    assert verdicts["VIR helps (PIR against PIR w/o VIR)"] == "no effect larger than 2"
    assert verdicts["VIR adds more than scene knowledge (PIR against the fusion control)"] == "contradicts"
    assert verdicts["LCA helps (PIR against PIR w/o LCA)"] == "cannot decide"
    assert "The affiliation loss helps (PIR against PIR w/o AL)" not in verdicts  # no runs of that variant
    row = comparisons.loc["PIR beats the contrastive baseline"]
    assert row["half-width"] < 0.2 < row["Welch half-width"]  # pairing removes the shared seed effect
    assert row["difference"] == pytest.approx(3.05) and row["seeds"] == 6


def test_noise_sweep_table_and_figure_give_the_gap_per_level(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from pirlib.tutorial.stats import minimal_detectable_difference
    from pirlib.tutorial.study_summaries import (
        noise_sweep_figure,
        noise_sweep_finding,
        noise_sweep_table,
        noise_trend,
    )

    runs = {}
    for noise, gap in ((0.0, 0.0), (1.0, 2.0)):
        for seed, shared in enumerate((10.0, 13.0, 11.0)):
            for variant, value in (
                ("baseline", shared),
                ("pir", shared + gap + 0.1 * seed),
                ("baseline_prior_fusion", shared),
            ):
                runs[f"noise{noise:g}_{variant}_seed{seed}"] = {
                    "variant": variant,
                    "seed": seed,
                    "noise": noise,
                    "test": {"mR": value},
                }
    record = {
        "runs": runs,
        "design": {"noise": [0.0, 1.0], "variants": ["baseline", "pir", "baseline_prior_fusion"]},
        "priors": {"0": {"accuracy": 90.0}, "1": {"accuracy": 70.0}},
    }
    table = noise_sweep_table(record)
    assert table.loc[1.0, "PIR − Baseline (Swin+BERT, CL)"] == pytest.approx(2.1)
    assert table.loc[1.0, "PIR − Baseline (Swin+BERT, CL) verdict"] == "supports"
    assert table.loc[0.0, "PIR − Baseline + scene prior (late fusion) verdict"] == "no effect larger than 2"
    assert table.loc[1.0, "prior accuracy (%)"] == 70.0
    trend = noise_trend(record)
    grows = trend.loc["PIR − Baseline (Swin+BERT, CL)"]
    assert (grows["lightest noise"], grows["heaviest noise"]) == (0.0, 1.0)
    assert grows["change"] == pytest.approx(2.0) and grows["the gap grows with noise"] == "supports"
    assert grows["detectable"] == pytest.approx(minimal_detectable_difference(0.1, 3, paired=False))  # gap std 0.1
    flat = trend.loc["PIR − Baseline + scene prior (late fusion)"]
    assert flat["change"] == pytest.approx(2.0)  # the control stays at the baseline's level here
    finding = noise_sweep_finding(trend)
    assert "**PIR − Baseline (Swin+BERT, CL)**: +0.10 mR at noise 0, +2.10 mR at noise 1; change +2.00 mR" in finding
    assert finding.count("The premise predicts that it grows: the study supports it.") == 2
    partial = {**record, "runs": {k: v for k, v in runs.items() if v["noise"] == 0.0}}
    assert list(noise_sweep_table(partial).index) == [0.0] and noise_trend(partial).empty
    assert "no trend to judge yet" in noise_sweep_finding(noise_trend(partial), complete=False)
    figure = noise_sweep_figure(table)
    axis = figure.axes[0]
    assert axis.get_xlabel() and axis.get_ylabel() and axis.get_title()
    assert len(axis.get_legend().get_texts()) == 3
    figure.savefig(tmp_path / "noise.png")


def _default_study_with_a_corpus_prior(tmp_path):
    """A tiny SynthRS, its scene corpus, a prior's metrics (no weights) and a finished-looking default study of
    baseline and PIR at seed 0 in tmp_path/main; returns its RunSpecs."""
    from pirlib.config import load_config
    from pirlib.data.synthrs.corpus import SceneCorpusSettings, generate_scene_corpus
    from pirlib.data.synthrs.generate import SynthSettings, generate_synthrs
    from pirlib.tutorial.runs import plan_runs

    generate_synthrs(tmp_path / "data", SynthSettings(images=32, test_images=16, size=32), progress="off")
    generate_scene_corpus(tmp_path / "corpus", SceneCorpusSettings(images=16, size=32), progress="off")
    prior = tmp_path / "prior.safetensors"
    prior.with_suffix(".json").write_text(json.dumps({
        "corpus_root": str(tmp_path / "corpus"), "augment": True, "epochs": 2, "batch_size": 8, "learning_rate": 1e-3,
        "seed": 0, "accuracy": 61.0, "train_images": 16,
    }))  # fmt: skip
    base = load_config(None, [f"data.root={tmp_path / 'data'}", f"prior.checkpoint={prior}", "train.epochs=4"])
    main = plan_runs(base, tmp_path / "main", {"baseline": [0], "pir": [0]}, evaluations=2)
    finish_with_two_evaluations(main, tmp_path / "main")
    return main


def test_noise_sweep_specs_make_each_level_its_data_and_prior(tmp_path):
    from pirlib.tutorial.studies import NOISE_SEEDS, NOISE_VARIANTS, noise_sweep_specs

    _default_study_with_a_corpus_prior(tmp_path)

    default, no_prior_job = noise_sweep_specs(tmp_path / "main", tmp_path / "studies" / "noise", 0.5)
    assert no_prior_job is None  # the default level: the decisive study's runs on the default data and prior
    assert {spec.out_dir.parent for spec in default} <= {tmp_path / "main", tmp_path / "studies" / "decisive"}

    specs, job = noise_sweep_specs(tmp_path / "main", tmp_path / "studies" / "noise", 1.0)
    level = tmp_path / "studies" / "noise" / "noise1"
    assert sorted((s.variant, s.seed) for s in specs) == sorted((v, s) for v in NOISE_VARIANTS for s in NOISE_SEEDS)
    assert json.loads((level / "synthrs" / "datasheet.json").read_text())["settings"]["noise"] == 1.0
    assert json.loads((level / "synthrs_scenes" / "datasheet.json").read_text())["settings"]["noise"] == 1.0
    assert job.out_path == level / "prior.safetensors" and job.corpus_root == level / "synthrs_scenes"
    assert job.config.prior_training.epochs == 2 and job.config.data.augment
    for spec in specs:
        assert spec.out_dir == level / f"{spec.variant}_seed{spec.seed}" and spec.evaluations == 2
        assert spec.config.data.root == str(level / "synthrs")
        assert spec.config.prior.checkpoint == str(level / "prior.safetensors")


def test_noise_sweep_finished_only_records_what_finished_and_generates_nothing(tmp_path):
    from pirlib.io import atomic_write_json
    from pirlib.tutorial.runs import INPUTS_FILE, run_inputs
    from pirlib.tutorial.studies import NOISE_LEVELS, noise_sweep

    main = _default_study_with_a_corpus_prior(tmp_path)
    baseline = next(spec for spec in main if spec.variant == "baseline")
    atomic_write_json(baseline.out_dir / "eval.json", {"test": {"mR": 12.0}})
    atomic_write_json(baseline.out_dir / INPUTS_FILE, run_inputs(baseline.config))

    specs, extra = noise_sweep(tmp_path / "main", tmp_path / "studies" / "noise", workers=1, finished_only=True)
    assert [(spec.variant, spec.seed, spec.out_dir) for spec in specs] == [("baseline", 0, baseline.out_dir)]
    assert extra["run_labels"] == [("noise0.5_baseline_seed0", {"noise": 0.5})] and not extra["complete"]
    assert extra["priors"] == {"0.5": {"accuracy": 61.0, "epochs": 2, "train_images": 16}}
    assert extra["design"]["noise"] == list(NOISE_LEVELS)
    assert not (tmp_path / "studies" / "noise").exists()  # no level's data generated, no run started


def test_noise_sweep_finished_only_records_a_level_whose_prior_is_not_trained_yet(tmp_path):
    from pirlib.config import save_config
    from pirlib.io import atomic_write_json
    from pirlib.tutorial.runs import INPUTS_FILE, run_inputs
    from pirlib.tutorial.studies import noise_sweep, noise_sweep_specs
    from pirlib.tutorial.study_summaries import noise_sweep_table

    _default_study_with_a_corpus_prior(tmp_path)
    out_root = tmp_path / "studies" / "noise"
    specs, _ = noise_sweep_specs(tmp_path / "main", out_root, 0.0, generate=False)
    baseline = next(spec for spec in specs if spec.variant == "baseline")  # a baseline does not need the prior
    baseline.out_dir.mkdir(parents=True)
    save_config(baseline.config, baseline.out_dir / "config.yaml")
    atomic_write_json(baseline.out_dir / "eval.json", {"test": {"mR": 9.0}})
    atomic_write_json(baseline.out_dir / INPUTS_FILE, run_inputs(baseline.config))

    specs, extra = noise_sweep(tmp_path / "main", out_root, workers=1, finished_only=True)
    assert extra["run_labels"] == [("noise0_baseline_seed0", {"noise": 0.0})] and extra["priors"] == {}
    record = {"runs": {"noise0_baseline_seed0": {"variant": "baseline", "seed": 0, "noise": 0.0, "test": {"mR": 9.0}}},
              "design": extra["design"], "priors": extra["priors"]}  # fmt: skip
    table = noise_sweep_table(record)
    assert list(table.index) == [0.0] and math.isnan(table.loc[0.0, "prior accuracy (%)"])
    assert table.loc[0.0, "Baseline (Swin+BERT, CL)"] == "9.00 ± 0.00" and table.loc[0.0, "PIR (CL+AL)"] == "–"
    assert table.loc[0.0, "PIR − Baseline (Swin+BERT, CL) verdict"] == "no shared seed: no claim"


def test_finished_only_is_refused_for_a_study_that_cannot_record_part_of_its_runs(tmp_path, capsys):
    from pirlib.config import load_config
    from pirlib.tutorial.runs import plan_runs
    from pirlib.tutorial.studies import main

    specs = plan_runs(load_config(None, ["train.epochs=4"]), tmp_path / "main", {"baseline": [0]}, evaluations=2)
    finish_with_two_evaluations(specs, tmp_path / "main")
    assert main(["plateau", "--finished-only", "--runs", str(tmp_path / "main"), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pirlib studies: --finished-only applies to decisive, noise-sweep, variance (plateau)")
    assert not (tmp_path / "out").exists()


def test_test_set_study_without_the_decisive_runs_is_refused_in_one_line(tmp_path, capsys):
    from pirlib.tutorial.studies import main

    _default_study_with_a_corpus_prior(tmp_path)  # seed 0 only, unevaluated: no finished decisive run
    record = tmp_path / "record"
    argv = ["test-set", "--runs", str(tmp_path / "main"), "--out", str(tmp_path / "studies" / "test-set")]
    assert main([*argv, "--record", str(record)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    decisive = tmp_path / "studies" / "decisive"
    assert line == (f"pirlib studies: no finished run of the decisive study ({decisive}): "
                    "run `python -m pirlib.tutorial.studies decisive` first")  # fmt: skip
    assert not record.exists()


@pytest.mark.parametrize("name", ["weight-average", "learning-rate"])
def test_lever_specs_are_the_decisive_baseline_and_pir_runs_with_the_lever(tmp_path, name):
    from pirlib.config import apply_overrides, load_config, to_dict
    from pirlib.tutorial.runs import plan_runs
    from pirlib.tutorial.studies import DECISIVE_SEEDS, LEVER_VARIANTS, LEVERS, decisive_specs, lever_specs

    main = plan_runs(load_config(None, ["train.epochs=4"]), tmp_path / "main", {"baseline": [0], "pir": [0]}, 2)
    finish_with_two_evaluations(main, tmp_path / "main")
    specs = lever_specs(tmp_path / "main", tmp_path / "studies" / name, LEVERS[name])
    assert sorted((s.variant, s.seed) for s in specs) == sorted(
        (v, seed) for v in LEVER_VARIANTS for seed in DECISIVE_SEEDS
    )
    decisive = {(s.variant, s.seed): s for wave in decisive_specs(tmp_path / "main", tmp_path / "studies" / "decisive")
                for s in wave}  # fmt: skip
    for spec in specs:
        assert spec.out_dir == tmp_path / "studies" / name / f"{spec.variant}_seed{spec.seed}"
        twin = decisive[(spec.variant, spec.seed)]  # the same run but the lever: paired by seed
        assert to_dict(spec.config) != to_dict(twin.config)
        expected = apply_overrides(twin.config, [*LEVERS[name], f"name={spec.variant}_seed{spec.seed}"])
        assert to_dict(spec.config) == to_dict(expected) and spec.evaluations == twin.evaluations


def test_the_levers_change_one_setting_each():
    from pirlib.config import load_config, to_dict
    from pirlib.tutorial.studies import LEVERS, STUDIES

    tiny = PROFILE  # the profile of notebook 03's default runs, which the levers change
    default = to_dict(load_config(tiny))
    assert load_config(tiny, LEVERS["weight-average"]).train.weight_average_decay == 0.995
    assert load_config(tiny, LEVERS["learning-rate"]).train.learning_rate == default["train"]["learning_rate"] / 2
    for overrides in LEVERS.values():
        changed = to_dict(load_config(tiny, overrides))
        assert sum(changed["train"][k] != v for k, v in default["train"].items()) == 1 and len(overrides) == 1
    assert set(LEVERS) <= set(STUDIES)


def test_lever_table_pairs_by_seed_and_judges_the_spread():
    from pirlib.tutorial.study_summaries import lever_table

    shared = [10.0, 14.0, 11.0, 15.0, 12.0, 13.0, 9.0, 16.0]  # seed effects of the runs without the average
    without = {"baseline": shared, "pir": [v + 3.0 + 0.1 * (s % 2) for s, v in enumerate(shared)]}
    averaged = {  # the average halves every seed's deviation from the mean, and shifts nothing
        "baseline": [12.5 + (v - 12.5) / 2 for v in shared],
        "pir": [15.5 + (v - 12.5) / 2 + 0.01 * s for s, v in enumerate(shared)],
    }
    design = {"overrides": ["train.weight_average_decay=0.995"], "variants": ["baseline", "pir"]}
    record = {"runs": _runs(averaged), "without": _runs(without), "design": design}
    table = lever_table(record)
    assert table.index.name == "test mR with train.weight_average_decay=0.995"
    baseline = table.loc["Baseline (Swin+BERT, CL)"]
    assert baseline["std ratio"] == pytest.approx(0.5) and baseline["spread"] == "reduces the spread"
    assert baseline["with − without"] == pytest.approx(0.0) and baseline["verdict"] == "no effect larger than 2"
    assert "train s with (median)" not in table  # records without training times
    for run in record["runs"].values():
        run["train_seconds"] = 300.0 if run["seed"] != 3 else 900.0  # one run slowed by other work
    for run in record["without"].values():
        run["train_seconds"] = 290.0
    timed = lever_table(record).loc["Baseline (Swin+BERT, CL)"]
    assert (timed["train s without (median)"], timed["train s with (median)"]) == (290.0, 300.0)
    gap = table.loc["PIR (CL+AL) − Baseline (Swin+BERT, CL)"]
    assert gap["seeds"] == 8 and gap["with"].startswith("3.04 ± ") and gap["without"].startswith("3.05 ± ")
    assert gap["with − without"] == pytest.approx(-0.015)


def test_the_noise_sweep_trains_the_lightest_and_heaviest_levels_first():
    from pirlib.tutorial.studies import NOISE_LEVELS, endpoints_first

    assert endpoints_first((0.0, 0.5, 1.0, 2.0)) == [0.0, 2.0, 0.5, 1.0]
    assert sorted(endpoints_first(NOISE_LEVELS)) == sorted(NOISE_LEVELS)


def test_test_set_table_sets_the_test_images_beside_the_seeds():
    from pirlib.tutorial.study_summaries import test_set_table

    mR = {"baseline": [10.0, 12.0, 11.0, 13.0], "pir": [13.0, 15.5, 13.5, 16.0]}  # per-seed gaps 3, 3.5, 2.5, 3
    runs = {
        f"{v}_seed{s}": {"variant": v, "seed": s, "test": {"mR": m}} for v, ms in mR.items() for s, m in enumerate(ms)
    }
    record = {"runs": runs, "design": {"rounds": 100, "test_images": 300},
              "bootstrap": {"PIR beats the contrastive baseline": {"seeds": [0, 1, 2, 3], "std": 0.8, "low": 1.5,
                                                                   "high": 4.5}}}  # fmt: skip
    row = test_set_table(record).loc["PIR beats the contrastive baseline"]
    seed_error = np.std([3.0, 3.5, 2.5, 3.0], ddof=1) / 2  # 0.204
    assert row["difference"] == pytest.approx(3.0) and row["seed s.e. (test fixed)"] == pytest.approx(seed_error)
    both = np.hypot(seed_error, 0.8)
    assert row["95% CI low, both sources"] == pytest.approx(3.0 - 1.959964 * both)
    assert row["test set's share of the variance"] == pytest.approx(0.64 / both**2)
    assert row["test images for equal parts"] == int(np.ceil(300 * (0.8 / seed_error) ** 2))
    assert row["verdict, both sources"] == "supports"

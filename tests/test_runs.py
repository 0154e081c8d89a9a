"""Experiment orchestration (notebook 03): variant configs, the seed-spread verdict, mean ± std tables, and on a tiny
SynthRS the staged run that is loaded instead of retrained, cached test embeddings, and parallel single-threaded
workers that give bitwise the same results as one worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_helpers import make_synthrs, tiny_config

from pirlib.config import ConfigError, apply_overrides
from pirlib.tutorial.runs import (
    VARIANTS,
    PriorSpec,
    RunSpec,
    embedding_seconds,
    evaluation_steps,
    finished_run_matches,
    load_history,
    load_test_embeddings,
    plan_runs,
    read_manifest,
    run_or_load,
    variant_config,
    write_manifest,
)
from pirlib.tutorial.scheduler import run_many
from pirlib.tutorial.stats import compare, difference_interval
from pirlib.tutorial.tables import per_seed_table, summary_table


def fake_result(mR: float) -> dict:
    metrics = {key: mR for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")}
    return {"test": {**metrics, "mR": mR}, "selection": {"step": 7}, "official_protocol": {"test": {"mR": mR + 1}}}


def test_variant_flags(tmp_path):
    base = tiny_config(tmp_path)
    baseline = variant_config(base, "baseline", 3)
    assert (baseline.model.use_vir, baseline.model.use_lca, baseline.loss.affiliation_weight) == (False, False, 0)
    assert baseline.train.seed == 3 and baseline.name == "baseline_seed3"
    assert variant_config(base, "pir_no_affiliation", 0).loss.affiliation_weight == 0
    assert not variant_config(base, "pir_no_vir", 0).model.use_vir
    assert not variant_config(base, "pir_no_lca", 0).model.use_lca
    with pytest.raises(ValueError, match="unknown variant 'pir_no_prior'"):
        variant_config(base, "pir_no_prior", 0)
    specs = plan_runs(base, tmp_path / "runs", {"pir": [0, 1], "baseline": [0]})
    assert [(s.variant, s.seed, s.out_dir.name) for s in specs] == [
        ("pir", 0, "pir_seed0"),
        ("pir", 1, "pir_seed1"),
        ("baseline", 0, "baseline_seed0"),
    ]
    write_manifest(specs, tmp_path / "manifest.json")
    assert read_manifest(tmp_path / "manifest.json")["pir"] == [tmp_path / "runs" / "pir_seed0", specs[1].out_dir]
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        read_manifest(tmp_path / "absent.json")


def test_summary_and_verdicts():
    results = {"baseline": [fake_result(10), fake_result(12)], "pir": [fake_result(11), fake_result(13)]}
    table = summary_table(results)
    per_seed = per_seed_table(results, {"baseline": [0, 1], "pir": [0, 1]})
    assert per_seed.loc[("PIR (CL+AL)", 1), "mR"] == 13 and per_seed["best test mR (official protocol)"].max() == 14
    assert table.loc["PIR (CL+AL)", "mR"] == "12.00 ± 1.41" and table.loc["PIR (CL+AL)", "seeds"] == 2
    verdicts = compare(
        {"baseline": [10, 11, 12], "close": [11, 12, 13], "far": [20, 21, 22], "low": [1, 2, 3], "single": [30]},
        reference="baseline",
    )
    assert verdicts["verdict"].to_dict() == {
        "close": "cannot decide",
        "far": "better",
        "low": "worse",
        "single": "one seed: no claim",
    }
    assert verdicts.loc["far", "difference"] == 10 and verdicts.loc["far", "95% CI low"] > 0
    lower = compare({"baseline": [10, 11, 12], "far": [20, 21, 22]}, "baseline", higher_is_better=False)
    assert lower.loc["far", "verdict"] == "worse"


def test_difference_interval_is_welch_t():
    from scipy import stats

    a, b = [12.0, 14.0, 13.0, 15.0], [10.0, 11.0, 10.5]
    difference, low, high = difference_interval(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert difference == pytest.approx(13.5 - 10.5)
    assert (low, high) == pytest.approx((expected.low, expected.high))
    assert difference_interval([1.0, 1.0], [0.0, 0.0]) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="2 seeds"):
        difference_interval([1.0], [1.0, 2.0])


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


@pytest.mark.slow
def test_staged_run_is_loaded_not_retrained(synthrs, tmp_path):
    config = tiny_config(synthrs, "train.epochs=1", "train.eval_every_epochs=0")
    spec = RunSpec("baseline", 0, variant_config(config, "baseline", 0), tmp_path / "run", evaluations=2)
    stops = evaluation_steps(spec.config, 2)
    assert len(stops) == 2
    result = run_or_load(spec)
    assert result["steps"] == stops[-1] and not result["stopped_by_max_steps"]
    assert load_history(spec.out_dir)["step"].tolist() == stops
    assert finished_run_matches(spec.config, spec.out_dir)
    stamp = (spec.out_dir / "eval.json").stat().st_mtime_ns
    assert run_or_load(spec) == result and (spec.out_dir / "eval.json").stat().st_mtime_ns == stamp
    assert not finished_run_matches(apply_overrides(spec.config, ["train.learning_rate=0.1"]), spec.out_dir)
    other = RunSpec("baseline", 0, apply_overrides(spec.config, ["train.learning_rate=0.1"]), spec.out_dir)
    with pytest.raises(ConfigError, match="delete"):
        run_or_load(other)

    image, text = load_test_embeddings(spec.out_dir)
    assert image.shape == (16, 32) and text.shape == (80, 32)
    again = load_test_embeddings(spec.out_dir)
    assert torch.equal(again[0], image) and torch.equal(again[1], text)
    cache = tmp_path / "galleries" / "run.safetensors"  # the same dataset named explicitly, cached elsewhere
    named = load_test_embeddings(spec.out_dir, data_root=synthrs, cache=cache)
    assert torch.allclose(named[0], image, atol=1e-6) and torch.allclose(named[1], text, atol=1e-6)
    assert embedding_seconds(cache) > 0 and embedding_seconds(spec.out_dir / "test_embeddings.safetensors") > 0
    stamp = cache.stat().st_mtime_ns
    load_test_embeddings(spec.out_dir, data_root=synthrs, cache=cache)
    assert cache.stat().st_mtime_ns == stamp  # read back, not recomputed


@pytest.mark.slow
def test_parallel_workers_match_one_worker(synthrs, tmp_path):
    config = tiny_config(synthrs, "train.epochs=1", f"prior.checkpoint={tmp_path / 'prior.safetensors'}")

    def study(root: Path, workers: int) -> dict:
        prior_settings = [
            "prior_training.epochs=1",
            "prior_training.batch_size=16",
            "prior_training.learning_rate=1e-3",
        ]
        prior = PriorSpec(
            apply_overrides(config, [*prior_settings, "prior_training.seed=0"]), synthrs, root / "prior.safetensors"
        )
        base = apply_overrides(config, [f"prior.checkpoint={prior.out_path}"])
        specs = plan_runs(base, root, {"baseline": [0], "pir": [0]})
        return run_many(specs, prior, workers=workers)

    one, two = study(tmp_path / "one", 1), study(tmp_path / "two", 2)
    assert one["prior"]["accuracy"] == two["prior"]["accuracy"]
    for first, second in zip(one["runs"], two["runs"], strict=True):
        assert first["test"] == second["test"] and first["final"] == second["final"]
    inputs = json.loads((tmp_path / "two" / "pir_seed0" / "inputs.json").read_text())
    assert inputs["prior"] is not None and inputs["dataset.json"] is not None
    assert "mR test" in (tmp_path / "two" / "pir_seed0" / "train.log").read_text()
    assert set(VARIANTS) >= {"baseline", "pir"}

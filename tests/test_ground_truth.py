"""VIR against the SynthRS ground truth: the metrics on hand-made beliefs, the random-filter expectation, the
untrained model on a tiny SynthRS, a tiny trained run, the summary table and the figure."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from train_helpers import make_synthrs, tiny_config

from pirlib.checkpoint import load_model
from pirlib.data.format import load_index
from pirlib.data.synthrs.token_map import TOKEN_KINDS, landmark_mask, load_attribute_records, object_polygons
from pirlib.models import PIR
from pirlib.output_folders import RUN_ENTRIES
from pirlib.training import fit
from pirlib.tutorial.ground_truth import (
    VirOutputs,
    attention_shares,
    belief_auc,
    belief_examples,
    key_survival,
    model_vir_metrics,
    random_survival,
    run_vir_metrics,
    split_token_kinds,
    study_vir_metrics,
    vir_metrics_by_seed,
    vir_summary_table,
)
from pirlib.tutorial.ground_truth_plots import belief_ground_truth_figure

GLOBAL, KEY, DISTRACTOR, LANDMARK, BACKGROUND = range(len(TOKEN_KINDS))


def test_belief_auc_is_within_each_image():
    kinds = np.array([[GLOBAL, KEY, KEY, DISTRACTOR, BACKGROUND], [GLOBAL, KEY, BACKGROUND, BACKGROUND, LANDMARK]])
    # Image 0 ranks its key tokens above its distractor; image 1 (no distractor) ranks its key token last.
    belief = np.array([[0.1, 0.4, 0.3, 0.2, 0.0], [0.1, 0.01, 0.3, 0.5, 0.09]])
    assert belief_auc(belief, kinds, "distractor") == (1.0, 1)  # image 1 has no distractor: not used
    assert belief_auc(belief, kinds, "background") == (0.5, 2)  # 1.0 in image 0, 0.0 in image 1
    # Pooled over images image 1's large values would mix in; within each image they do not.
    assert belief_auc(belief * np.array([[1.0], [100.0]]), kinds, "distractor") == (1.0, 1)
    assert np.isnan(belief_auc(belief[1:], kinds[1:], "distractor")[0])


def test_belief_auc_equals_scikit_learns_roc_auc_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    kinds = rng.choice([KEY, DISTRACTOR, BACKGROUND], size=(40, 50))  # [images, tokens]
    belief = rng.integers(0, 6, size=(40, 50)) / 5.0  # six levels: many ties
    for negative, code in (("distractor", DISTRACTOR), ("background", BACKGROUND)):
        expected = []
        for image_belief, image_kinds in zip(belief, kinds, strict=True):
            chosen = (image_kinds == KEY) | (image_kinds == code)
            expected.append(roc_auc_score(image_kinds[chosen] == KEY, image_belief[chosen]))
        auc, images = belief_auc(belief, kinds, negative)
        assert images == 40 and auc == pytest.approx(np.mean(expected), abs=1e-12)


def test_key_survival_counts_kept_key_tokens():
    kinds = np.array([[GLOBAL, KEY, KEY, BACKGROUND], [GLOBAL, KEY, LANDMARK, BACKGROUND]])
    kept = np.array([[0, 1], [1, 2]])  # image 0 keeps one of its 2 key tokens, image 1 its only one
    assert key_survival(kept, kinds) == pytest.approx(2 / 3)
    assert np.isnan(key_survival(kept, np.full_like(kinds, BACKGROUND)))


def test_random_survival_is_the_expectation_of_a_random_filter():
    assert random_survival(50, 40) == 0.8
    rng = np.random.default_rng(0)
    kinds = np.where(rng.random((4000, 50)) < 0.1, KEY, BACKGROUND)  # [n, N]
    kept = np.argsort(rng.random((4000, 50)), axis=1)[:, :40]  # a uniformly random choice of 40 tokens per image
    assert key_survival(kept, kinds) == pytest.approx(0.8, abs=0.01)


def test_attention_shares_follow_the_kept_tokens():
    kinds = np.array([[GLOBAL, KEY, DISTRACTOR, LANDMARK, BACKGROUND]])
    kept = np.array([[3, 1, 4]])  # landmark, key, background
    attention = np.array([[[0.0, 1.0, 0.0]], [[0.5, 0.25, 0.25]]])  # [steps, n, filter_size]
    shares = attention_shares(VirOutputs(np.full((1, 5), 0.2), kept, attention), kinds)
    assert shares.loc["key", "attention, step 1"] == 1.0 and shares.loc["landmark", "attention, step 2"] == 0.5
    assert shares.loc["key", "share of kept tokens"] == pytest.approx(1 / 3)
    assert shares.loc["distractor", "share of tokens"] == pytest.approx(1 / 5)
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def _untrained(synthrs, seed: int = 0) -> tuple[PIR, object]:
    config = tiny_config(synthrs)
    torch.manual_seed(seed)
    return PIR(config, vocab_size=200).eval(), config


def test_untrained_model_reference(synthrs):
    model, config = _untrained(synthrs)
    metrics, shares = model_vir_metrics(model, config, synthrs)
    assert metrics["random survival"] == 40 / 50
    assert metrics["images with key and background tokens"] == 16  # every test image has both
    for key in ("AUC key vs distractor", "AUC key vs background", "key-object survival"):
        assert 0.0 <= metrics[key] <= 1.0
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, atol=1e-5)  # every column is a distribution over kinds
    assert shares.loc["global", "share of tokens"] == pytest.approx(1 / 50)
    again, _ = model_vir_metrics(_untrained(synthrs)[0], config, synthrs)
    assert again == metrics  # seeded: the same untrained model, the same figures
    other, _ = model_vir_metrics(_untrained(synthrs, seed=1)[0], config, synthrs)
    assert other["AUC key vs background"] != metrics["AUC key vs background"]


def test_model_without_vir_is_refused(synthrs):
    config = tiny_config(synthrs, "model.use_vir=false")
    with pytest.raises(ValueError, match="no VIR"):
        model_vir_metrics(PIR(config, vocab_size=200), config, synthrs)


@pytest.fixture(scope="module")
def study(synthrs, tmp_path_factory) -> dict[str, list]:
    """A tiny study manifest: PIR at seeds 0 and 1 and the baseline, two training steps each."""
    runs = tmp_path_factory.mktemp("runs")
    manifest = {"pir": [runs / "pir_seed0", runs / "pir_seed1"], "baseline": [runs / "baseline_seed0"]}
    for seed, run in enumerate(manifest["pir"]):
        fit(tiny_config(synthrs, f"train.seed={seed}"), run, max_steps=2, select_at_stop=True)
    fit(
        tiny_config(synthrs, "model.use_vir=false", "model.use_lca=false"),
        manifest["baseline"][0],
        max_steps=2,
        select_at_stop=True,
    )
    return manifest


def test_trained_run_and_its_untrained_reference(synthrs, study):
    run = study["pir"][0]
    trained = run_vir_metrics(run, synthrs)
    reference = [run_vir_metrics(run, synthrs, untrained_seed=seed) for seed in (0, 1)]
    assert set(trained) == set(reference[0]) and trained != reference[0]
    table = vir_summary_table({"PIR": [trained], "untrained PIR": reference})
    assert table.loc["untrained PIR", "seeds"] == 2 and table.loc["PIR", "random survival"] == "0.800"
    assert " ± " in table.loc["untrained PIR", "AUC key vs background"]
    assert table.loc["untrained PIR", "images with key and background tokens"] == "16"


def test_run_metrics_are_kept_in_the_run_directory(synthrs, study, monkeypatch):
    import pirlib.tutorial.ground_truth as vir_ground_truth

    run = study["pir"][0]
    (run / vir_ground_truth.CACHE_FILE).unlink(missing_ok=True)
    computed = run_vir_metrics(run, synthrs)
    entries = json.loads((run / vir_ground_truth.CACHE_FILE).read_text())
    assert [entry["key"]["untrained_seed"] for entry in entries] == [None] and entries[0]["result"] == computed
    assert vir_ground_truth.CACHE_FILE in RUN_ENTRIES  # a run's own file: --overwrite clears it with the run

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although the run directory holds these metrics")

    monkeypatch.setattr(vir_ground_truth, "model_vir_metrics", refuse)
    assert run_vir_metrics(run, synthrs) == computed
    with pytest.raises(AssertionError, match="recomputed"):  # another key: the untrained reference
        run_vir_metrics(run, synthrs, untrained_seed=0)
    monkeypatch.undo()
    reference = run_vir_metrics(run, synthrs, untrained_seed=0)
    assert len(json.loads((run / vir_ground_truth.CACHE_FILE).read_text())) == 2 and reference != computed


def test_a_changed_checkpoint_is_measured_again(synthrs, study, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(study["pir"][1], run)
    first = run_vir_metrics(run, synthrs)
    shutil.rmtree(run / "best")
    shutil.copytree(study["pir"][0] / "best", run / "best")  # other weights in the same run directory
    assert run_vir_metrics(run, synthrs) == run_vir_metrics(study["pir"][0], synthrs) != first


def test_study_rows_skip_models_without_vir(synthrs, study):
    rows = study_vir_metrics(study, synthrs, labels={"pir": "PIR (CL+AL)"})
    assert list(rows) == ["PIR (CL+AL)", "untrained PIR (reference)"]  # the baseline has no VIR
    assert len(rows["PIR (CL+AL)"]) == len(rows["untrained PIR (reference)"]) == 2
    second = study["pir"][1]  # trained with train.seed=1: its reference is seeded 1
    assert rows["PIR (CL+AL)"][1] == run_vir_metrics(second, synthrs)
    assert rows["untrained PIR (reference)"][1] == run_vir_metrics(second, synthrs, untrained_seed=1)
    with pytest.raises(ValueError, match="no variant of this study has VIR"):
        study_vir_metrics({"baseline": study["baseline"]}, synthrs)


def test_vir_metrics_by_seed_pair_each_run_with_its_reference(synthrs, study):
    trained, untrained = vir_metrics_by_seed(study["pir"], synthrs)
    assert sorted(trained) == sorted(untrained) == [0, 1]  # the runs' train.seed
    rows = study_vir_metrics(study, synthrs)
    assert [trained[0], trained[1]] == rows["pir"] and [untrained[0], untrained[1]] == rows["untrained PIR (reference)"]


def test_belief_examples_feed_the_figure(synthrs, study):
    model, config = load_model(study["pir"][0] / "best")
    index = load_index(synthrs)
    image_ids = index.split_ids("test")[:3]
    examples = belief_examples(model, config, synthrs, image_ids)
    assert [len(value) for value in examples.values()] == [3] * 6
    assert examples["images"][0].shape == (56, 56, 3) and examples["kept"][0].shape == (40,)
    assert examples["titles"] == [index.classes[index.images[i].label] for i in image_ids]
    figure = belief_ground_truth_figure(**examples)
    assert len(figure.axes) == 3 * 2 + 3  # two panels per image and a colour bar per belief
    plt.close(figure)


def test_belief_figure_outlines_the_objects(synthrs):
    index, image_ids, kinds = split_token_kinds(synthrs, 7)
    records = load_attribute_records(synthrs)
    chosen = [records[index.images[i].file] for i in image_ids[:2]]
    images = [np.zeros((56, 56, 3)) for _ in chosen]
    outlines = [(object_polygons(r, 56), landmark_mask(r, 56)) for r in chosen]
    kept = np.tile(np.arange(40), (2, 1))
    figure = belief_ground_truth_figure(images, np.full((2, 50), 0.02), kinds[:2], outlines, kept=kept)
    kinds_axis, belief_axis = figure.axes[0], figure.axes[1]
    objects = sum(len(r["key"]["objects"]) + len(r["distractors"]) for r in chosen[:1])
    polygons = sum(len(p) for p in outlines[0][0].values())
    assert polygons >= objects  # a plane is three polygons
    assert len(kinds_axis.patches) == polygons
    assert len(belief_axis.patches) == polygons + 10  # the 10 dropped cells are hatched (tokens 40..49)
    assert f"{int((kinds[0] == KEY).sum())} key" in kinds_axis.get_title()
    with pytest.raises(ValueError, match="one of each per image"):
        belief_ground_truth_figure(images, np.zeros((1, 50)), kinds[:2], outlines)
    plt.close("all")

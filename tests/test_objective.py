"""The objective section of notebook 03 (`pirlib.tutorial.objective`): the hand-written losses agree with
`pirlib.losses`, the explicit training step goes through the package's step and reports every trainable parameter,
and the learning-rate schedule is the one `pirlib.optim` defines."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest
import torch
from train_helpers import REPO_ROOT, make_synthrs, tiny_config

from pirlib.config import apply_overrides, load_config
from pirlib.losses import contrastive_loss
from pirlib.models import PIR
from pirlib.optim import linear_warmup_decay
from pirlib.tutorial.objective import (
    example_batch,
    hand_contrastive,
    hand_triplet,
    learning_rate_schedule,
    module_groups,
    plot_learning_rate_schedule,
    training_step,
    warmup_end,
    worked_example,
)

# The bound notebook 03 asserts: hand (float64) against package (float32), relative to the value. An absolute 1e-6 is
# not a float32 bound: the triplet sums reach about 4, where one float32 step is 4.8e-7.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def profile():
    return load_config(REPO_ROOT / "configs" / "tiny_synthrs.yaml", ["prior.checkpoint=null"])


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


@pytest.fixture(scope="module")
def config(data_root):
    return tiny_config(data_root, "train.device=cpu", "train.precision=fp32")


@pytest.fixture(scope="module")
def step(config):
    return training_step(config, seed=0)


# ------------------------------------------------------------------------------------------------- worked example


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hand_losses_equal_the_package(profile, seed):
    example = worked_example(profile, seed)
    terms = example["terms"]
    assert len(terms) == 5 and terms["hand (float64)"].gt(0).all()
    assert terms["relative difference"].max() < TOLERANCE, terms
    assert example["terms"].loc["affiliation L_AL (τ₂)", "hand (float64)"] >= example["affiliation floor"]


def test_hand_losses_follow_the_loss_settings(profile):
    settings = apply_overrides(
        profile, ["loss.use_image_ids=false", "loss.affiliation_weight=0.5", "loss.triplet_margin=0.4"]
    )
    terms = worked_example(settings)["terms"]
    assert terms["relative difference"].max() < TOLERANCE, terms
    hand = terms["hand (float64)"]
    expected = hand["contrastive L_CL (τ)"] + 0.5 * hand["affiliation L_AL (τ₂)"]
    assert hand["objective L_CL + w·L_AL"] == pytest.approx(expected)
    assert (
        terms.loc["contrastive L_CL (τ)", "hand (float64)"]
        != worked_example(profile)["terms"].loc["contrastive L_CL (τ)", "hand (float64)"]
    )


def test_the_example_batch_has_shared_images_and_shared_scenes():
    batch = example_batch(0)
    assert len(set(batch["image_ids"])) < len(batch["image_ids"])  # captions of one image are positives
    images_per_label = {label: set(batch["image_ids"][batch["labels"] == label]) for label in set(batch["labels"])}
    assert max(len(images) for images in images_per_label.values()) > 1  # two images share a scene
    assert np.allclose(np.linalg.norm(batch["image_feat"], axis=1), 1, atol=1e-6)


def test_the_multi_positive_targets_spread_over_the_captions_of_an_image():
    image = np.eye(3)[[0, 0, 1]]  # pairs 0 and 1 show the same image
    result = hand_contrastive(image, np.eye(3), np.array([0, 0, 1]), tau=0.1)
    assert np.allclose(result["Y"], [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])
    single = hand_contrastive(image, np.eye(3), np.arange(3), tau=0.1)["loss"]
    package = contrastive_loss(torch.tensor(image), torch.eye(3, dtype=torch.float64), 0.1)
    assert single == pytest.approx(float(package), abs=TOLERANCE)


def test_the_triplet_hinge_counts_only_violations():
    image, text = np.eye(2), np.eye(2)  # S = I: each positive scores 1, each negative 0
    assert hand_triplet(image, text, margin=0.2)["sum"] == 0  # 0.2 + 0 − 1 < 0 everywhere
    assert hand_triplet(image, text, margin=1.5)["sum"] == pytest.approx(4 * 0.5)  # four negatives, each 0.5 inside


def test_the_clamp_matches_the_model(profile):
    clamp = worked_example(profile)["clamp"]
    model = profile.model
    assert clamp["hand clamp"].tolist() == pytest.approx([model.min_temperature, 0.07, model.max_temperature])
    assert clamp["|difference|"].max() < TOLERANCE


# ------------------------------------------------------------------------------------------------- training step


def test_the_step_reports_every_module_with_a_finite_gradient(step):
    modules = step["modules"]
    assert modules["gradient norm"].map(math.isfinite).all(), modules
    assert modules["gradient norm"].gt(0).all(), modules
    assert modules.loc[["raw_temperature", "raw_affiliation_temperature"], "gradient norm"].gt(0).all()
    assert {"vision_encoder", "text_encoder", "vision_instruction", "language_cycle"} <= set(modules.index)
    assert "scene_prior" not in modules.index  # frozen: no trainable parameter
    assert step["losses"]["value"].map(math.isfinite).all()
    assert set(step["losses"].index) == {"loss", "contrastive", "affiliation"}


def test_the_groups_cover_every_trainable_parameter_once(config, data_root, step):
    from pirlib.data import build_tokenizer

    model = PIR(config, vocab_size=len(build_tokenizer(config.text, data_root)))
    groups = module_groups(model)
    grouped = [name for members in groups.values() for name, _ in members]
    trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
    assert len(grouped) == len(set(grouped)) and set(grouped) == set(trainable)
    assert list(step["modules"].index) == list(groups)
    assert step["modules"]["parameters"].sum() == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert step["optimizer"]["parameters"].sum() == step["modules"]["parameters"].sum()


def test_the_step_changes_the_weights_at_the_rate_of_the_schedule(config, step):
    schedule = learning_rate_schedule(config)
    assert step["step"] == warmup_end(schedule) and step["total steps"] == len(schedule)
    assert step["modules"]["update norm"].gt(0).all(), step["modules"]
    row = schedule.loc[schedule["step"] == step["step"]].iloc[0]
    for name, group in step["optimizer"].iterrows():
        assert group["learning rate of the step"] == pytest.approx(row[name])
    temperatures = step["temperatures"]
    assert (temperatures["after the step"] != temperatures["used by the step"]).all()


def test_the_first_step_of_a_run_changes_nothing(config):
    first = training_step(config, seed=0, at_step=1)
    assert first["optimizer"]["learning rate of the step"].eq(0).all()
    assert first["modules"]["update norm"].eq(0).all()
    assert first["modules"]["gradient norm"].gt(0).all()


def test_the_step_shapes_follow_the_config(config, step):
    shapes = step["shapes"]["shape"]
    batch, dim, kept = config.train.batch_size, config.model.embed_dim, config.model.filter_size
    assert shapes["image embedding"] == shapes["text embedding"] == str((batch, dim))
    assert ast.literal_eval(shapes["after rank & filter"]) == (batch, kept, dim)
    assert ast.literal_eval(shapes["after Spatial-PAE"]) == (batch, kept, dim)
    assert step["prior"].startswith("random")


# ------------------------------------------------------------------------------------------------- schedule


def test_the_schedule_is_the_linear_warmup_and_decay_of_pirlib_optim(config):
    schedule = learning_rate_schedule(config)
    total = len(schedule)
    factor = linear_warmup_decay(total, config.train.warmup_fraction)
    peak = config.train.learning_rate
    assert schedule["step"].tolist() == list(range(1, total + 1))
    assert schedule.iloc[0].drop(["step", "trained"]).eq(0).all()  # warm-up starts at 0
    assert warmup_end(schedule) == int(total * config.train.warmup_fraction) + 1
    assert schedule["pretrained_decay"].max() == pytest.approx(peak)
    assert schedule["new_decay"].max() == pytest.approx(peak * config.train.lr_mult)
    expected = [peak * factor(step - 1) for step in schedule["step"]]
    assert np.allclose(schedule["pretrained_decay"], expected, rtol=1e-12, atol=0)
    after_peak = schedule.loc[schedule["step"] >= warmup_end(schedule), "pretrained_decay"]
    assert after_peak.is_monotonic_decreasing and after_peak.iloc[-1] > 0
    assert schedule["trained"].all()


def test_max_steps_marks_the_untrained_end_of_the_schedule(config):
    schedule = learning_rate_schedule(apply_overrides(config, ["train.max_steps=3"]))
    assert schedule["trained"].sum() == 3 and len(schedule) == len(learning_rate_schedule(config))


def test_the_schedule_plot_is_labelled(config):
    figure = plot_learning_rate_schedule(learning_rate_schedule(apply_overrides(config, ["train.max_steps=3"])))
    axis = figure.axes[0]
    assert axis.get_title() and axis.get_xlabel() == "training step" and axis.get_ylabel() == "learning rate"
    assert any("warm-up ends" in text.get_text() for text in axis.texts)
    labels = axis.get_legend_handles_labels()[1]
    assert any("not trained" in label for label in labels) and any("pretrained_decay" in label for label in labels)
    assert len(axis.lines) == 3  # two rates (pretrained, new) and the warm-up line

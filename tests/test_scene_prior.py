"""The notebooks' profile (`pirlib.tutorial.notebook_config`) and their one scene prior (`pirlib.tutorial.scene_prior`):
paths as a notebook sees them, the prior made once and found again with notebook 03's settings, and notebook 02's
untrained reference equal to the one notebook 04 builds from a trained run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import REPO_ROOT, TINY_OVERRIDES, make_synthrs

from pirlib.data import build_tokenizer
from pirlib.models import PIR
from pirlib.training import fit
from pirlib.tutorial.ground_truth import model_vir_metrics, run_vir_metrics
from pirlib.tutorial.notebook_config import notebook_config
from pirlib.tutorial.scene_prior import scene_prior

TINY_PROFILE = REPO_ROOT / "configs" / "tiny_synthrs.yaml"
PRIOR_SETTINGS = {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3, "seed": 0, "augment": True}
# notebook 03's run budget on top of the profile: none of it may change which prior is found
BUDGET = ["data.validation_fraction=0.3", "data.augment=false", "train.epochs=3", "train.batch_size=32",
          "train.learning_rate=1e-3", "train.max_steps=4", "train.eval_every_epochs=0"]  # fmt: skip


def tiny_notebook_config(data_root: Path, prior: Path | None, *overrides: str):
    """A notebook's config of the tiny test profile (train_helpers), with the notebook's data and prior paths."""
    shrunk = [override for override in TINY_OVERRIDES if not override.startswith("prior.checkpoint")]
    return notebook_config(TINY_PROFILE, data_root, prior, [*shrunk, *overrides])


def test_notebook_config_points_at_the_notebooks_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = notebook_config(TINY_PROFILE, "data/synthrs", "runs/prior.safetensors")
    assert config.data.root == str(tmp_path / "data" / "synthrs")
    assert config.prior.checkpoint == str(tmp_path / "runs" / "prior.safetensors")  # need not exist yet
    assert config.text.tokenizer == "wordpiece"  # names no path
    assert notebook_config(TINY_PROFILE, "data/synthrs", None).prior.checkpoint is None  # a random prior


def test_weight_paths_are_found_from_the_repository_root(tmp_path, monkeypatch):
    root, notebooks = tmp_path / "repository", tmp_path / "repository" / "notebooks"
    (root / "weights" / "bert-base-uncased").mkdir(parents=True)
    (root / "weights" / "swin_tiny_patch4_window7_224_22k.pth").touch()
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    config = notebook_config(REPO_ROOT / "configs" / "paper_rsitmd.yaml", "../data/rsitmd", None)
    assert config.vision.pretrained == "../weights/swin_tiny_patch4_window7_224_22k.pth"
    assert config.text.pretrained == config.text.tokenizer == "../weights/bert-base-uncased"
    monkeypatch.chdir(root)  # from elsewhere the files are not found: the profile's paths stay
    assert notebook_config(REPO_ROOT / "configs" / "paper_rsitmd.yaml", "data/rsitmd", None).text.pretrained == (
        "weights/bert-base-uncased"
    )


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


@pytest.fixture(scope="module")
def made(synthrs, tmp_path_factory):
    """The scene prior made from a 16-image scene corpus, as notebook 02 makes it: (config, ScenePrior)."""
    root = tmp_path_factory.mktemp("prior")
    config = tiny_notebook_config(synthrs, root / "scene_prior" / "prior.safetensors")
    return config, scene_prior(config, root / "scenes", 16, **PRIOR_SETTINGS)


def test_the_prior_is_made_from_its_corpus_with_a_quiet_console(synthrs, tmp_path, capsys):
    config = tiny_notebook_config(synthrs, tmp_path / "prior.safetensors")
    prior = scene_prior(config, tmp_path / "scenes", 16, **PRIOR_SETTINGS)
    assert (tmp_path / "prior.safetensors").is_file() and prior.corpus["images"] == 16
    assert prior.metrics["train_images"] == 16 and prior.metrics["epochs"] == 1
    assert "epoch 1/1" in (tmp_path / "prior.log").read_text()  # the log goes beside the weights
    assert "epoch 1/1: loss" not in capsys.readouterr().out
    summary = prior.summary()
    assert summary.startswith("scene prior resnet18: 1 epoch over 16 corpus images") and "test images" in summary


def test_notebook_03_finds_the_prior_made_by_notebook_02(made, monkeypatch):
    import pirlib.training.prior

    config, prior = made
    corpus = Path(prior.metrics["corpus_root"])

    def refuse(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(pirlib.training.prior, "pretrain_scene_prior", refuse)
    again = scene_prior(_with(config, *BUDGET), corpus, 16, **PRIOR_SETTINGS)
    assert again.metrics == prior.metrics and again.corpus == prior.corpus
    with pytest.raises(AssertionError, match="pretrained again"):  # other settings: another prior
        scene_prior(config, corpus, 16, **{**PRIOR_SETTINGS, "epochs": 2})


def _with(config, *overrides: str):
    from pirlib.config import apply_overrides

    return apply_overrides(config, list(overrides))


def test_a_prior_needs_a_file_to_go_to(synthrs):
    config = tiny_notebook_config(synthrs, None)
    with pytest.raises(ValueError, match="prior.checkpoint is null"):
        scene_prior(config, None, 16, **PRIOR_SETTINGS)


def test_notebook_02s_untrained_reference_is_notebook_04s(made, synthrs, tmp_path):
    """Notebook 02 seeds PIR on the prior it made; notebook 04 rebuilds the reference from a run of notebook 03
    (`run_vir_metrics(..., untrained_seed=seed)`): the same metrics, value for value."""
    config, _ = made
    run = tmp_path / "pir_seed1"
    fit(_with(config, *BUDGET, "train.seed=1"), run, max_steps=1, select_at_stop=True)
    torch.manual_seed(1)  # notebook 02, section 5b, at the reference seed 1
    untrained = PIR(config, vocab_size=len(build_tokenizer(config.text, synthrs))).eval()
    in_notebook_02, _ = model_vir_metrics(untrained, config, synthrs)
    assert in_notebook_02 == run_vir_metrics(run, synthrs, untrained_seed=1)

"""The SynthRS scene corpus (the scene prior's AID analogue): deterministic, labels only, balanced, and sharing no
image with a SynthRS retrieval set of the same seed; the prior pretrains on it and is tested on the dataset's split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pirlib.cli import main
from pirlib.config import apply_overrides, load_config
from pirlib.data.synthrs.corpus import (
    CORPUS_FILE,
    SceneCorpusSettings,
    corpus_is_generated,
    generate_scene_corpus,
    load_scene_corpus,
)
from pirlib.training.prior import pretrain_scene_prior

SIZE = 32


def _pixel_hashes(image_dir: Path) -> set[str]:
    return {hashlib.sha256(np.asarray(Image.open(path)).tobytes()).hexdigest() for path in image_dir.glob("*.png")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_scene_corpus(out, SceneCorpusSettings(images=48, size=SIZE, seed=0))
    return out


@pytest.fixture(scope="module")
def retrieval_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthrs")
    args = ["synth", "--out", str(out), "--images", "48", "--test-images", "16", "--size", str(SIZE), "--seed", "0"]
    assert main(args) == 0
    return out


def test_corpus_is_balanced_labels_only_and_complete(corpus: Path) -> None:
    classes, items = load_scene_corpus(corpus)
    assert len(classes) == 16 and len(items) == 48
    assert np.bincount([label for _, label in items], minlength=16).tolist() == [3] * 16
    assert all(path.is_file() for path, _ in items)
    record = json.loads((corpus / CORPUS_FILE).read_text())["images"][0]
    assert set(record) == {"file", "label"}  # no captions, no attributes: a scene-classification corpus
    assert not (corpus / "dataset.json").exists()
    assert corpus_is_generated(corpus, SceneCorpusSettings(images=48, size=SIZE, seed=0))
    assert not corpus_is_generated(corpus, SceneCorpusSettings(images=48, size=SIZE, seed=1))


def test_corpus_is_deterministic_whatever_the_workers(corpus: Path, tmp_path: Path) -> None:
    generate_scene_corpus(tmp_path, SceneCorpusSettings(images=48, size=SIZE, seed=0), workers=2)
    for name in (CORPUS_FILE, "datasheet.json"):
        assert (tmp_path / name).read_bytes() == (corpus / name).read_bytes()
    assert _pixel_hashes(tmp_path / "images") == _pixel_hashes(corpus / "images")


def test_corpus_shares_no_image_with_the_retrieval_set(corpus: Path, retrieval_set: Path) -> None:
    corpus_images, retrieval_images = _pixel_hashes(corpus / "images"), _pixel_hashes(retrieval_set / "images")
    assert len(corpus_images) == 48 and len(retrieval_images) == 48  # every image distinct within each set
    assert not corpus_images & retrieval_images


def test_corpus_refuses_a_retrieval_dataset_folder_and_bad_sizes(retrieval_set: Path) -> None:
    with pytest.raises(ValueError, match="retrieval dataset"):
        generate_scene_corpus(retrieval_set, SceneCorpusSettings(images=48, size=SIZE))
    for settings in (SceneCorpusSettings(images=3), SceneCorpusSettings(images=10**6), SceneCorpusSettings(size=8)):
        with pytest.raises(ValueError, match="scene corpus"):
            settings.validate()


def test_cli_writes_the_corpus(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scenes"
    args = ["synth", "--scene-corpus", "--out", str(out), "--images", "32", "--size", str(SIZE)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "classes": 16,
        "dataset": "synthrs_scenes",
        "images": 32,
    }
    assert main(args) == 0 and "already holds" in capsys.readouterr().out


def test_prior_trains_on_the_corpus_and_tests_on_the_dataset(corpus: Path, retrieval_set: Path, tmp_path) -> None:
    config = load_config(
        None,
        [
            f"vision.image_size={SIZE}",
            "prior.model_name=resnet18",
            "prior.model_kwargs={channels: [8, 8, 8, 8], stem_width: 8}",  # at least 8: tests/test_prior_pretraining.py
            "data.num_workers=0",
            "train.device=cpu",
        ],
    )
    out = tmp_path / "prior.safetensors"
    metrics = pretrain_scene_prior(
        apply_overrides(config, ["prior_training.epochs=2", "prior_training.batch_size=16"]),
        retrieval_set,
        out,
        corpus_root=corpus,
        log=None,
    )
    assert metrics["train_images"] == 48 and metrics["test_images"] == 16
    assert metrics["corpus_root"] == str(corpus)
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    assert metrics["history"][-1]["test_accuracy"] == metrics["accuracy"]

"""docs/reliability.md, bad inputs: image paths confined to the dataset, a pixel bound, strict YAML, config
constraints, files of the wrong shape or encoding, command edge cases, one-line messages and permissions. Each case
asserts the exit code, the one line naming the file, key or value, no traceback, and unchanged bytes on disk."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import reliability_helpers
import torch
from reliability_helpers import fails, refused_unchanged, snapshot, train_args
from train_helpers import tiny_config

from pirlib.checkpoint import DATA_ROOT_KEY, CheckpointError, load_training_state, save_model
from pirlib.cli import expected_failure, main
from pirlib.data.images import MAX_PIXELS
from pirlib.data.synthrs import SynthSettings
from pirlib.data.tokenizer import build_tokenizer, wordpiece_for_dataset
from pirlib.io import atomic_write

data, private_cache = reliability_helpers.data, reliability_helpers.private_cache  # the shared fixtures


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> Path:
    from pirlib.models import PIR

    config = tiny_config(data)
    tokenizer = build_tokenizer(config.text, data)
    directory = tmp_path_factory.mktemp("checkpoint") / "best"
    metadata = {DATA_ROOT_KEY: str(data.resolve())}
    save_model(PIR(config, vocab_size=len(tokenizer)), config, directory, metadata=metadata, tokenizer=tokenizer)
    return directory


def edited_copy(data: Path, target: Path, edit) -> Path:
    root = shutil.copytree(data, target)
    index = json.loads((root / "dataset.json").read_text())
    edit(index)
    (root / "dataset.json").write_text(json.dumps(index))
    return root


# --------------------------------------------------------------------------------------------------------------------
# image paths stay inside the dataset


@pytest.mark.parametrize("file", ["/etc/hostname", "../outside.png", "a/../../outside.png", "."])
def test_dataset_entries_outside_the_image_folder_are_refused(data, tmp_path, capsys, file):
    root = edited_copy(data, tmp_path / "data", lambda index: index["images"][3].update(file=file))
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "images[3]", "leaves the image folder")
    assert not (tmp_path / "run").exists()


def test_the_same_image_under_two_names_is_a_duplicate(data, tmp_path, capsys):
    def duplicate(index):
        index["images"][1] = {**index["images"][0], "file": "./" + index["images"][0]["file"]}

    root = edited_copy(data, tmp_path / "data", duplicate)
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "duplicate image entry", "images[1]")


def write_precomp(folder: Path, train_file: str) -> Path:
    folder.mkdir()
    for split, name in (("train", train_file), ("test", "boat_2.png")):
        (folder / f"{split}_filename.txt").write_text(name + "\n")
        (folder / f"{split}_caps.txt").write_text("".join(f"a boat number {k}\n" for k in range(5)))
    return folder


@pytest.mark.parametrize("file", ["../boat_1.png", "/etc/boat_1.png"])
def test_prepare_refuses_annotations_naming_files_outside_images(tmp_path, capsys, file):
    annotations = write_precomp(tmp_path / "precomp", file)
    (tmp_path / "images").mkdir()
    args = ["prepare", "--dataset", "rsitmd", "--annotations", str(annotations), "--images", str(tmp_path / "images")]
    refused_unchanged([*args, "--out", str(tmp_path / "out")], capsys, [tmp_path], file, "train_caps.txt:1")
    assert not (tmp_path / "out").exists()


def test_a_scene_corpus_entry_outside_its_images_is_refused(data, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    classes = json.loads((data / "dataset.json").read_text())["classes"]
    entries = {"name": "synthrs_scenes", "classes": classes, "images": [{"file": "../../etc/hostname", "label": 0}]}
    (corpus / "scenes.json").write_text(json.dumps(entries))
    args = ["pretrain-prior", "--data", str(data), "--corpus", str(corpus), "--out", str(tmp_path / "p.safetensors")]
    refused_unchanged(args, capsys, [tmp_path, data], "../../etc/hostname", "scenes.json")


def test_a_folder_that_is_not_a_corpus_is_named(data, tmp_path, capsys):
    args = ["pretrain-prior", "--data", str(data), "--corpus", str(tmp_path), "--out", str(tmp_path / "p.safetensors")]
    line = refused_unchanged(args, capsys, [tmp_path, data], "not a scene corpus", str(tmp_path / "scenes.json"))
    assert "Errno" not in line


# --------------------------------------------------------------------------------------------------------------------
# a decompression bomb is refused from its header


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [14_000, 9_000])  # 196 Mpixel (above PIL's own limit) and 81 Mpixel (below it)
def test_a_decompression_bomb_is_refused_in_one_line(data, tmp_path, capsys, side):
    assert side * side > MAX_PIXELS
    root = shutil.copytree(data, tmp_path / "data")
    image = json.loads((root / "dataset.json").read_text())["images"][5]["file"]
    (root / "images" / image).write_bytes(png_header(side, side))
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], image, f"{MAX_PIXELS:,}")


# --------------------------------------------------------------------------------------------------------------------
# YAML: duplicate keys, encoding, unreadable overrides


@pytest.mark.parametrize(
    "text, named",
    [
        ("train:\n  epochs: 1\nname: x\ntrain:\n  batch_size: 16\n", ["'train'", "line 4", "line 1"]),
        ("train:\n  epochs: 1\n  epochs: 2\n", ["'epochs'", "line 3", "line 2"]),
        ("prior:\n  model_kwargs:\n    a: 1\n    a: 2\n", ["'a'", "line 4"]),
    ],
)
def test_duplicate_yaml_keys_are_refused(data, tmp_path, capsys, text, named):
    config = tmp_path / "profile.yaml"
    config.write_text(text)
    args = ["train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "run")]
    refused_unchanged(args, capsys, [tmp_path, data], "duplicate key", str(config), *named)


def test_a_yaml_file_that_is_not_utf8(data, tmp_path, capsys):
    config = tmp_path / "profile.yaml"
    config.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    args = ["train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "run")]
    refused_unchanged(args, capsys, [tmp_path, data], "not UTF-8", str(config))


@pytest.mark.parametrize(
    "override, named",
    [("prior.model_kwargs={a:", "not valid YAML"), ("prior.model_kwargs={a: 1, a: 2}", "duplicate key 'a'")],
)
def test_unreadable_override_values(data, tmp_path, capsys, override, named):
    refused_unchanged(train_args(data, tmp_path / "run", override), capsys, [data], named, override)


# --------------------------------------------------------------------------------------------------------------------
# config constraints and non-finite numbers


@pytest.mark.parametrize(
    "override, named",
    [
        ("train.learning_rate=.inf", "train.learning_rate=inf"),
        ("train.learning_rate=.nan", "train.learning_rate=nan"),
        ("model.temperature=-.inf", "model.temperature"),
        ("model.embed_dim=31", "model.num_attention_heads=2"),
        ("text.hidden_size=33", "text.num_heads=2"),
        ("text.max_tokens=40", "text.max_position_embeddings=32"),
        ("vision.num_heads=[1, 2, 4]", "vision.depths=[1, 1]"),
        ("vision.model_name=swin_tinny_patch4", "vision.model_name='swin_tinny_patch4'"),
        ("prior.model_name=resnet5", "did you mean 'resnet50'"),
        ("prior.model_kwargs={no_such_argument: 1}", "no_such_argument"),
    ],
)
def test_config_constraints(data, tmp_path, capsys, override, named):
    refused_unchanged(train_args(data, tmp_path / "run", override), capsys, [data], named)
    assert not (tmp_path / "run").exists()


def test_pretrain_prior_checks_the_prior_architecture(data, tmp_path, capsys):
    args = ["pretrain-prior", "--data", str(data), "--out", str(tmp_path / "p.safetensors")]
    refused_unchanged([*args, "--set", "prior.model_name=resnet5"], capsys, [tmp_path, data], "prior.model_name")


# --------------------------------------------------------------------------------------------------------------------
# files of the wrong shape or encoding


def test_a_dataset_json_that_is_not_utf8(data, tmp_path, capsys):
    root = shutil.copytree(data, tmp_path / "data")
    (root / "dataset.json").write_bytes(b'{"name": "caf\xe9"}')
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "not UTF-8", "dataset.json")


@pytest.mark.parametrize(
    "metadata, named",
    [([1, 2], "not a JSON object"), ({"sha256": ["x"]}, "'sha256'"), ({"tokenizer_sha256": 7}, "tokenizer_sha256")],
)
def test_a_checkpoint_json_of_the_wrong_shape(checkpoint, tmp_path, capsys, metadata, named):
    directory = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    if isinstance(metadata, dict):
        metadata = {**json.loads((directory / "checkpoint.json").read_text()), **metadata}
    (directory / "checkpoint.json").write_text(json.dumps(metadata))
    args = ["evaluate", "--checkpoint", str(directory), "--out", str(tmp_path / "e.json")]
    refused_unchanged(args, capsys, [directory], named, "checkpoint.json")


def test_annotations_that_are_not_utf8(tmp_path, capsys):
    annotations = write_precomp(tmp_path / "precomp", "boat_1.png")
    (annotations / "train_caps.txt").write_bytes("un bateau \u00e0 quai\n".encode("latin-1") * 5)
    (tmp_path / "images").mkdir()
    args = ["prepare", "--dataset", "rsitmd", "--annotations", str(annotations), "--images", str(tmp_path / "images")]
    refused_unchanged([*args, "--out", str(tmp_path / "out")], capsys, [tmp_path], "not UTF-8", "train_caps.txt")


def test_a_partial_official_state_dict(official_fixture, tmp_path, capsys):
    state = {k: v for k, v in official_fixture["state_dict"].items() if not k.startswith("vision_encoder.")}
    source = tmp_path / "checkpoint_best.pth"
    torch.save({"model": state, "config": official_fixture["config"]}, source)
    args = ["convert-official", "--checkpoint", str(source), "--out", str(tmp_path / "converted")]
    refused_unchanged(args, capsys, [tmp_path], "incomplete", "vision_encoder.", str(source))
    assert not (tmp_path / "converted").exists()


def test_a_truncated_checkpoint_tokenizer(checkpoint, tmp_path, capsys):
    directory = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    tokenizer = directory / "tokenizer" / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:100])
    args = ["evaluate", "--checkpoint", str(directory), "--out", str(tmp_path / "e.json")]
    refused_unchanged(args, capsys, [directory], "tokenizer cannot be read", str(directory / "tokenizer"))


def test_a_truncated_dataset_tokenizer_cache_is_rebuilt(data, tmp_path):
    root = shutil.copytree(data, tmp_path / "data")
    cached = root / "tokenizer" / "tokenizer.json"
    whole = cached.read_bytes()
    cached.write_bytes(whole[:100])
    assert wordpiece_for_dataset(root).get_vocab() == wordpiece_for_dataset(data).get_vocab()
    assert cached.read_bytes() == whole


def test_a_code_carrying_training_state_hides_torchs_advice(tmp_path):
    import argparse

    torch.save({"args": argparse.Namespace(lr=1)}, tmp_path / "training_state.pt")
    with pytest.raises(CheckpointError) as caught:
        load_training_state(tmp_path)
    assert "weights_only" not in str(caught.value) and "training_state.pt" in str(caught.value)


def test_a_code_carrying_prior_hides_torchs_advice(data, tmp_path, capsys):
    import argparse

    prior = tmp_path / "prior.pth"
    torch.save({"model": {"fc.weight": torch.zeros(2)}, "args": argparse.Namespace(lr=1)}, prior)
    line = refused_unchanged(train_args(data, tmp_path / "run", f"prior.checkpoint={prior}"), capsys, [prior], "prior")
    assert "weights_only" not in line


# --------------------------------------------------------------------------------------------------------------------
# command edge cases


def without_test_images(index: dict) -> None:
    for image in index["images"]:
        image["split"] = "train"


@pytest.mark.parametrize("command", ["evaluate", "embed"])
def test_evaluate_and_embed_on_a_dataset_without_test_images(data, checkpoint, tmp_path, capsys, command):
    root = edited_copy(data, tmp_path / "data", without_test_images)
    out = tmp_path / ("e.json" if command == "evaluate" else "e.npz")
    args = [command, "--checkpoint", str(checkpoint), "--data", str(root), "--out", str(out)]
    refused_unchanged(args, capsys, [root, checkpoint], "the test split holds no image", "dataset.json")
    assert not out.exists()


def test_train_without_test_images(data, tmp_path, capsys):
    root = edited_copy(data, tmp_path / "data", without_test_images)
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "no test image", "dataset.json")


def test_bench_threads_zero(capsys):
    fails(["bench", "--threads", "0"], capsys, "--threads 0")


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_save(data, tmp_path, capsys, monkeypatch):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert main(train_args(data, run, "--max-steps", "1")) == 0
    last = snapshot(run / "last")

    def full_disk(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr("pirlib.checkpoint.torch.save", full_disk)
    monkeypatch.setattr("pirlib.io.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))
    fails(["train", "--resume", "--out", str(run), "--max-steps", "2"], capsys, "No space left", "training_state.pt")
    assert snapshot(run / "last") == last


# --------------------------------------------------------------------------------------------------------------------
# one-line messages


def test_a_write_error_names_the_file(tmp_path):
    def full(temporary: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "results.json", full)
    assert caught.value.filename == str(tmp_path / "results.json")
    assert "None" not in expected_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert list(tmp_path.iterdir()) == []


def test_an_image_error_in_a_dataloader_worker_is_one_line():
    from torch._utils import ExceptionWrapper

    from pirlib.data.images import ImageLoadError

    try:
        raise ImageLoadError("data/x.png: cannot decode the image (truncated); replace the file")
    except ImageLoadError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(ImageLoadError) as caught:
        wrapped.reraise()
    assert "Original Traceback" in str(caught.value)
    assert expected_failure(caught.value) == "data/x.png: cannot decode the image (truncated); replace the file"


def test_a_dataset_without_captioned_training_images_gets_the_right_advice(data, tmp_path, capsys):
    def no_training_captions(index):
        for image in index["images"]:
            if image["split"] == "train":
                image["captions"] = []

    root = edited_copy(data, tmp_path / "data", no_training_captions)
    line = refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "no training image has a caption")
    assert "validation_fraction" not in line


@pytest.mark.parametrize(
    "settings, named",
    [(dict(images="abc"), "images"), (dict(noise="high"), "noise"), (dict(images=100_000_000), "50000")],
)
def test_synth_settings_name_the_setting(settings, named):
    with pytest.raises(ValueError, match=named):
        SynthSettings(**{**dict(images=20, test_images=4), **settings}).validate()


def test_synth_images_bound_and_free_disk(tmp_path, capsys, monkeypatch):
    fails(["synth", "--out", str(tmp_path / "out"), "--images", "100000000"], capsys, "--images", "50000")
    monkeypatch.setattr("pirlib.data.synthrs.output.shutil.disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 1))
    fails(["synth", "--out", str(tmp_path / "out"), "--images", "40", "--size", "32"], capsys, "GB free", "--out")
    assert list(tmp_path.iterdir()) == []


def test_punctuation_only_captions_are_blank(data, tmp_path, capsys):
    root = edited_copy(data, tmp_path / "data", lambda index: index["images"][2]["captions"].__setitem__(1, "?!."))
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], "images[2]", "caption 1")


# --------------------------------------------------------------------------------------------------------------------
# permissions follow the umask


def test_outputs_follow_the_umask(data, tmp_path):
    root = shutil.copytree(data, tmp_path / "data")
    shutil.rmtree(root / "tokenizer")
    previous = os.umask(0o027)
    try:
        wordpiece_for_dataset(root)
        assert main(["synth", "--out", str(tmp_path / "synth"), "--images", "20", "--size", "16"]) == 0
    finally:
        os.umask(previous)
    assert (root / "tokenizer").stat().st_mode & 0o777 == 0o750
    assert {path.stat().st_mode & 0o777 for path in (root / "tokenizer").iterdir()} == {0o640}
    assert (tmp_path / "synth" / "dataset.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "synth" / "images").stat().st_mode & 0o777 == 0o750

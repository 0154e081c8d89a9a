"""docs/reliability.md, data safety: `--overwrite` deletes only what the command writes, SynthRS replaces only its own
images, an evaluation never replaces results silently, a dataset being read is never rewritten, a crash during a
checkpoint swap never changes which checkpoint a run's readers find, a resumed run keeps its tokenizer, and a refused
command leaves no lock file or folder behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import reliability_helpers
import torch
from reliability_helpers import fails, listing, refused_unchanged, snapshot, train_args
from train_helpers import tiny_config

from pirlib.checkpoint import DATA_ROOT_KEY, save_model
from pirlib.cli import main
from pirlib.data.tokenizer import build_tokenizer, wordpiece_for_dataset
from pirlib.output_folders import claim_run_directory, exclusive_lock, reading

data, private_cache = reliability_helpers.data, reliability_helpers.private_cache  # the shared fixtures


def untrained_checkpoint(data: Path, directory: Path, seed: int = 0) -> Path:
    """An untrained tiny PIR checkpoint (weights drawn from `seed`) with its tokenizer, as `pirlib train` writes it."""
    from pirlib.models import PIR

    config = tiny_config(data)
    tokenizer = build_tokenizer(config.text, data)
    torch.manual_seed(seed)
    model = PIR(config, vocab_size=len(tokenizer))
    save_model(model, config, directory, metadata={DATA_ROOT_KEY: str(data.resolve())}, tokenizer=tokenizer)
    return directory


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> Path:
    return untrained_checkpoint(data, tmp_path_factory.mktemp("checkpoint") / "best")


# --------------------------------------------------------------------------------------------------------------------
# convert-official --overwrite replaces the checkpoint's own files only


@pytest.fixture(scope="module")
def official_file(official_fixture, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("official") / "checkpoint_best.pth"
    torch.save({"model": official_fixture["state_dict"], "config": official_fixture["config"]}, path)
    return path


@pytest.mark.slow
def test_convert_official_overwrite_keeps_its_input_and_other_files(official_file, tmp_path, capsys):
    out = tmp_path / "D"
    out.mkdir()
    shutil.copy(official_file, out / "checkpoint_best.pth")
    (out / "notes.txt").write_text("x\n")
    (out / "model.safetensors").write_bytes(b"an earlier conversion")
    kept = snapshot(out / "checkpoint_best.pth", out / "notes.txt")
    args = ["convert-official", "--checkpoint", str(out / "checkpoint_best.pth"), "--out", str(out)]
    fails(args, capsys, "--overwrite", "notes.txt")
    assert main([*args, "--overwrite"]) == 0
    assert snapshot(out / "checkpoint_best.pth", out / "notes.txt") == kept
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.json",
        "checkpoint_best.pth",
        "model.safetensors",
        "notes.txt",
    ]
    assert (out / "model.safetensors").read_bytes() != b"an earlier conversion"


@pytest.mark.parametrize("name", ["model.safetensors", "checkpoint.json", "tokenizer/official.pth"])
def test_convert_official_refuses_an_out_that_would_replace_its_input(tmp_path, capsys, name):
    source = tmp_path / "D" / name
    source.parent.mkdir(parents=True)
    torch.save({"x": torch.zeros(1)}, source)
    args = ["convert-official", "--checkpoint", str(source), "--out", str(tmp_path / "D"), "--overwrite"]
    refused_unchanged(args, capsys, [tmp_path], "would replace the official checkpoint", str(source))


def test_convert_official_refuses_a_file_as_out(tmp_path, capsys):
    source = tmp_path / "checkpoint_best.pth"
    torch.save({"x": torch.zeros(1)}, source)
    args = ["convert-official", "--checkpoint", str(source), "--out", str(source), "--overwrite"]
    refused_unchanged(args, capsys, [tmp_path], "--out is a file", str(source))


def test_convert_official_out_dot_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    torch.save({"x": torch.zeros(1)}, tmp_path / "official.pth")
    args = ["convert-official", "--checkpoint", "official.pth", "--out", ".", "--overwrite"]
    before = listing(tmp_path)
    refused_unchanged(args, capsys, [tmp_path], "not an official PIR checkpoint", "official.pth")
    assert listing(tmp_path) == before


# --------------------------------------------------------------------------------------------------------------------
# synth replaces only images a SynthRS generation wrote


SMALL_SYNTH = ["--images", "40", "--test-images", "8", "--size", "32"]


@pytest.mark.parametrize("name", ["river_00000.png", "farmland_00003.png", ".river_00001.png"])
def test_synth_keeps_user_images_named_like_its_own(tmp_path, capsys, name):
    out = tmp_path / "X"
    (out / "images").mkdir(parents=True)
    (out / "images" / name).write_text("mine\n")
    refused_unchanged(["synth", "--out", str(out), *SMALL_SYNTH], capsys, [tmp_path], name)
    assert listing(tmp_path) == ["X", "X/images", f"X/images/{name}"]


def test_synth_replaces_the_images_of_an_interrupted_generation(tmp_path, monkeypatch):
    out = tmp_path / "X"
    calls = []

    def interrupted(task):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(task)
        return real(task)

    from pirlib.data.synthrs import generate

    real = generate._make_image
    monkeypatch.setattr(generate, "_make_image", interrupted)
    assert main(["synth", "--out", str(out), *SMALL_SYNTH]) == 2
    assert (out / ".generating").is_file() and len(list((out / "images").iterdir())) == 5
    monkeypatch.setattr(generate, "_make_image", real)
    assert main(["synth", "--out", str(out), *SMALL_SYNTH]) == 0
    assert not (out / ".generating").exists() and len(list((out / "images").iterdir())) == 40


# --------------------------------------------------------------------------------------------------------------------
# evaluate never replaces results silently


def test_evaluate_refuses_to_replace_its_default_results(checkpoint, data, tmp_path, capsys):
    directory = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    assert main(["evaluate", "--checkpoint", str(directory), "--data", str(data)]) == 0
    capsys.readouterr()
    other = shutil.copytree(data, tmp_path / "other")
    args = ["evaluate", "--checkpoint", str(directory), "--data", str(other)]
    refused_unchanged(args, capsys, [directory, other], "eval_test.json", "--overwrite")
    assert main([*args, "--overwrite"]) == 0
    assert json.loads((directory / "eval_test.json").read_text())["data"] == str(other)


def test_evaluate_refuses_a_directory_as_out_before_computing(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pirlib.evaluation.embed_retrieval_set", lambda *a, **k: pytest.fail("computed first"))
    (tmp_path / "results").mkdir()
    args = ["evaluate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "results"), "--overwrite"]
    refused_unchanged(args, capsys, [tmp_path, checkpoint], "--out is a directory", "results")


# --------------------------------------------------------------------------------------------------------------------
# a dataset being read is not rewritten, and a dataset being written is not read


def test_synth_and_prepare_refuse_a_dataset_being_read(data, tmp_path, capsys):
    root = shutil.copytree(data, tmp_path / "synthrs")
    with reading(root):
        args = ["synth", "--out", str(root), "--force", "--images", "40", "--test-images", "12", "--size", "32"]
        refused_unchanged([*args, "--seed", "1"], capsys, [tmp_path], "being read", str(root))
        prepare = ["prepare", "--dataset", "rsitmd", "--annotations", str(tmp_path), "--images", str(tmp_path)]
        refused_unchanged([*prepare, "--out", str(root), "--overwrite"], capsys, [tmp_path], "being read")
    assert not (tmp_path / ".synthrs.lock").exists()  # the last reader removed it


def test_train_holds_the_reader_lock_while_it_runs(data, tmp_path, capsys, monkeypatch):
    root = shutil.copytree(data, tmp_path / "synthrs")
    seen = []

    def fit(*args, **kwargs):
        seen.append(main(["synth", "--out", str(root), "--force", "--images", "40", "--size", "32"]))
        raise KeyboardInterrupt

    monkeypatch.setattr("pirlib.training.fit", fit)
    fails(train_args(root, tmp_path / "run"), capsys, "interrupted")
    assert seen == [2]
    assert not (tmp_path / ".synthrs.lock").exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "embed", "pretrain-prior"])
def test_readers_refuse_a_dataset_being_written(data, checkpoint, tmp_path, capsys, command):
    root = shutil.copytree(data, tmp_path / "synthrs")
    arguments = {
        "train": train_args(root, tmp_path / "run"),
        "evaluate": ["evaluate", "--checkpoint", str(checkpoint), "--data", str(root), "--out", str(tmp_path / "e")],
        "embed": ["embed", "--checkpoint", str(checkpoint), "--data", str(root), "--out", str(tmp_path / "e.npz")],
        "pretrain-prior": ["pretrain-prior", "--data", str(root), "--out", str(tmp_path / "prior.safetensors")],
    }[command]
    with exclusive_lock(root.resolve(), is_directory=False):
        refused_unchanged(arguments, capsys, [root], "being written", f"process {os.getpid()}")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["synthrs"]


# --------------------------------------------------------------------------------------------------------------------
# a crash during a checkpoint swap: every reader finds the selected checkpoint, and resume repairs the swap


def interrupted_best_swap(data: Path, run: Path) -> tuple[Path, Path]:
    """A run killed between the two renames of best/: best/ gone, .best.previous the selected checkpoint,
    .best.partial the replacement, last/ other weights."""
    selected = untrained_checkpoint(data, run / ".best.previous", seed=1)
    untrained_checkpoint(data, run / ".best.partial", seed=2)
    untrained_checkpoint(data, run / "last", seed=3)
    return selected, run / "last"


def test_evaluate_finds_the_selected_checkpoint_after_an_interrupted_swap(data, tmp_path, capsys):
    run = tmp_path / "run"
    selected, _ = interrupted_best_swap(data, run)
    out = tmp_path / "e.json"
    assert main(["evaluate", "--checkpoint", str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["checkpoint"] == str(selected)


def test_resume_repairs_an_interrupted_swap(data, tmp_path):
    run = tmp_path / "run"
    selected, last = interrupted_best_swap(data, run)
    weights = snapshot(selected)
    with claim_run_directory(run, resume=True, overwrite=False):
        pass
    assert sorted(p.name for p in run.iterdir()) == ["best", "last"]
    assert list(snapshot(run / "best").values()) == list(weights.values())
    shutil.move(last, run / ".last.previous")
    with claim_run_directory(run, resume=True, overwrite=False):
        pass
    assert sorted(p.name for p in run.iterdir()) == ["best", "last"]


@pytest.mark.slow
def test_resume_after_a_kill_between_the_renames_of_best(data, tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert main(train_args(data, run, "--max-steps", "5")) == 0  # one epoch: best/ and last/
    selected = snapshot(run / "best")
    os.replace(run / "best", run / ".best.previous")
    shutil.copytree(run / "last", run / ".best.partial")
    assert main(["train", "--resume", "--out", str(run), "--max-steps", "5"]) == 0
    assert not (run / ".best.previous").exists() and not (run / ".best.partial").exists()
    assert snapshot(run / "best") == selected


# --------------------------------------------------------------------------------------------------------------------
# resume keeps the tokenizer


def rename_word(root: Path, old: str, new: str) -> None:
    index = json.loads((root / "dataset.json").read_text())
    for image in index["images"]:
        image["captions"] = [" ".join(new if w == old else w for w in c.split()) for c in image["captions"]]
    (root / "dataset.json").write_text(json.dumps(index))


@pytest.mark.slow
def test_resume_refuses_another_tokenizer_of_the_same_size(data, tmp_path, capsys):
    torch.set_num_threads(1)
    root = shutil.copytree(data, tmp_path / "data")
    run = tmp_path / "run"
    assert main(train_args(root, run, "--max-steps", "1")) == 0
    before = len(wordpiece_for_dataset(root))
    word = json.loads((root / "dataset.json").read_text())["images"][0]["captions"][0].split()[-1]
    rename_word(root, word, word[::-1] + "q")
    assert len(wordpiece_for_dataset(root)) == before
    args = ["train", "--resume", "--out", str(run), "--max-steps", "2"]
    refused_unchanged(args, capsys, [run], "tokenizer differs", "checkpoint.json")


# --------------------------------------------------------------------------------------------------------------------
# refused commands leave nothing behind


def test_refused_commands_leave_no_lock_or_folder(data, checkpoint, tmp_path, capsys):
    root = shutil.copytree(data, tmp_path / "data")
    image = root / "images" / json.loads((root / "dataset.json").read_text())["images"][0]["file"]
    image.write_bytes(b"broken")
    before = listing(tmp_path)
    fails(train_args(root, tmp_path / "runs" / "new"), capsys, "cannot be read")
    prior = tmp_path / "priors" / "prior.safetensors"
    fails(["pretrain-prior", "--data", str(root), "--out", str(prior)], capsys, "cannot be read")
    (tmp_path / "e.json").write_text("{}\n")
    before.append("e.json")
    fails(["evaluate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "e.json")], capsys, "--overwrite")
    assert listing(tmp_path) == sorted(before)

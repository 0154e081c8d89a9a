"""What users can rely on (docs/reliability.md): every expected failure of the CLI exits with code 2 and one line
`pirlib <command>: ...` naming the offending file, key or value, no traceback, and every byte already on disk
unchanged. One test (or parametrised case) per input; training is needed only by the resume tests (marked slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import reliability_helpers
import torch
from reliability_helpers import fails, refused_unchanged, snapshot, train_args
from safetensors.torch import save_file
from train_helpers import REPO_ROOT, tiny_config

from pirlib.checkpoint import DATA_ROOT_KEY, save_model
from pirlib.cli import build_parser, main
from pirlib.data.tokenizer import FINGERPRINT_FILE, build_tokenizer, wordpiece_for_dataset
from pirlib.output_folders import LOCK_FILE, check_run_directory, clear_run_directory, exclusive_lock, lock_holder

# --------------------------------------------------------------------------------------------------------------------
# helpers


data, private_cache = reliability_helpers.data, reliability_helpers.private_cache  # the shared fixtures


def copy_dataset(data: Path, target: Path) -> Path:
    shutil.copytree(data, target)
    return target


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory) -> Path:
    """An untrained tiny PIR checkpoint with its tokenizer, as `pirlib train` writes it (no training needed)."""
    from pirlib.models import PIR

    config = tiny_config(data)
    tokenizer = build_tokenizer(config.text, data)
    directory = tmp_path_factory.mktemp("checkpoint") / "best"
    metadata = {DATA_ROOT_KEY: str(data.resolve())}
    save_model(PIR(config, vocab_size=len(tokenizer)), config, directory, metadata=metadata, tokenizer=tokenizer)
    return directory


def hold_lock(path: Path, is_directory: bool) -> subprocess.Popen:
    """A separate process holding the lock of `path` until it is killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pirlib.output_folders import exclusive_lock
        with exclusive_lock(Path({str(path)!r}), is_directory={is_directory}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=environment)
    assert process.stdout.readline().strip() == "locked"
    return process


# --------------------------------------------------------------------------------------------------------------------
# 1. data loss: a run or output is never replaced without being asked, and one writer at a time


def fake_run(directory: Path, *entries: str) -> Path:
    directory.mkdir(parents=True)
    for entry in entries:
        if entry.endswith("/"):
            (directory / entry).mkdir()
            (directory / entry / "model.safetensors").write_bytes(b"weights")
        else:
            (directory / entry).write_text(f"{entry} of an earlier run\n")
    return directory


@pytest.mark.parametrize(
    "entries, extra, named",
    [
        (("best/", "eval.json", "metrics.jsonl", "config.yaml"), [], "the run directory is not empty"),
        (("best/",), [], "best"),
        (("notes.txt",), [], "notes.txt"),
        (("last/", "config.yaml"), [], "--resume"),
        (("best/", "eval.json"), ["--resume"], "finished run"),
        (("notes.txt",), ["--resume"], "pirlib did not write"),
    ],
)
def test_train_refuses_a_directory_that_holds_something(data, tmp_path, capsys, entries, extra, named):
    run = fake_run(tmp_path / "run", *entries)
    refused_unchanged(train_args(data, run, *extra), capsys, [run, data], named, str(run))


def test_train_refuses_a_file_as_run_directory(data, tmp_path, capsys):
    (tmp_path / "run").write_text("a file\n")
    refused_unchanged(train_args(data, tmp_path / "run"), capsys, [tmp_path], "is a file")


def test_resume_and_overwrite_exclude_each_other(data, tmp_path, capsys):
    run = fake_run(tmp_path / "run", "best/")
    refused_unchanged(train_args(data, run, "--resume", "--overwrite"), capsys, [run], "--resume and --overwrite")


def test_a_second_process_fails_at_once_naming_the_holder(data, tmp_path, capsys):
    run = tmp_path / "run"
    holder = hold_lock(run, is_directory=True)
    try:
        started = time.perf_counter()
        refused_unchanged(train_args(data, run), capsys, [run], f"process {holder.pid}", str(run))
        refused_unchanged(train_args(data, run, "--resume"), capsys, [run], f"process {holder.pid}")
        assert time.perf_counter() - started < 30
        prior = tmp_path / "prior.safetensors"
        other = hold_lock(prior, is_directory=False)
        try:
            args = ["pretrain-prior", "--data", str(data), "--out", str(prior), "--set", "train.device=cpu"]
            refused_unchanged(args, capsys, [tmp_path], f"process {other.pid}")
        finally:
            other.kill()
            other.wait()
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(run / LOCK_FILE) is None  # the kernel released the killed holder's lock


def test_a_stale_lock_file_blocks_nobody(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_text("999999\n")  # left by a killed process: nobody holds the lock
    assert lock_holder(run / LOCK_FILE) is None
    check_run_directory(run, resume=False, overwrite=False)
    with exclusive_lock(run, is_directory=True):
        assert lock_holder(run / LOCK_FILE) == os.getpid()
    assert lock_holder(run / LOCK_FILE) is None


def test_the_library_flow_may_resume_what_it_started(tmp_path):
    """`pirlib.tutorial.runs` writes inputs.json and train.log, then calls fit(resume=True) on a fresh directory."""
    run = fake_run(tmp_path / "run", "inputs.json", "train.log")
    check_run_directory(run, resume=True, overwrite=False)
    check_run_directory(fake_run(tmp_path / "resumable", "last/", "metrics.jsonl"), resume=True, overwrite=False)


def test_overwrite_deletes_only_the_runs_own_files(tmp_path):
    run = fake_run(tmp_path / "run", "best/", "last/", "eval.json", "metrics.jsonl", "notes.txt")
    clear_run_directory(run)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("existing", ["prior.safetensors", "prior.json"])
def test_pretrain_prior_refuses_to_replace_a_prior(data, tmp_path, capsys, existing):
    (tmp_path / existing).write_bytes(b"an earlier prior")
    args = ["pretrain-prior", "--data", str(data), "--out", str(tmp_path / "prior.safetensors"), "--epochs", "1"]
    refused_unchanged(args, capsys, [tmp_path, data], "--overwrite", existing)


@pytest.mark.parametrize("existing", ["dataset.json", "datasheet.json"])
def test_prepare_refuses_to_replace_a_dataset(tmp_path, capsys, existing):
    out = tmp_path / "rsitmd"
    out.mkdir()
    (out / existing).write_text('{"name": "another dataset"}\n')
    args = ["prepare", "--dataset", "rsitmd", "--annotations", str(tmp_path), "--images", str(tmp_path)]
    refused_unchanged([*args, "--out", str(out)], capsys, [tmp_path], existing, "--overwrite")


def test_embed_refuses_to_replace_a_file(checkpoint, tmp_path, capsys):
    out = tmp_path / "mine.npz"
    out.write_bytes(b"the user's own arrays")
    args = ["embed", "--checkpoint", str(checkpoint), "--out", str(out)]
    refused_unchanged(args, capsys, [tmp_path, checkpoint], "mine.npz", "--overwrite")


def test_evaluate_refuses_to_replace_an_explicit_out(checkpoint, tmp_path, capsys):
    out = tmp_path / "results.json"
    out.write_text("{}\n")
    args = ["evaluate", "--checkpoint", str(checkpoint), "--out", str(out)]
    refused_unchanged(args, capsys, [tmp_path, checkpoint], "results.json", "--overwrite")


def test_convert_official_refuses_a_non_empty_out(tmp_path, capsys):
    out = fake_run(tmp_path / "converted", "notes.txt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "official.pth")
    args = ["convert-official", "--checkpoint", str(tmp_path / "official.pth"), "--out", str(out)]
    refused_unchanged(args, capsys, [tmp_path], "notes.txt", "--overwrite")


@pytest.mark.parametrize("user_file", ["attributes.json", "images/holiday.png", "dataset.json"])
def test_synth_never_writes_over_a_users_file(tmp_path, capsys, user_file):
    out = tmp_path / "out"
    (out / user_file).parent.mkdir(parents=True, exist_ok=True)
    (out / user_file).write_text('{"name": "mine"}\n')
    args = ["synth", "--out", str(out), "--images", "20", "--test-images", "4", "--size", "16"]
    refused_unchanged(args, capsys, [tmp_path], Path(user_file).name)


# --------------------------------------------------------------------------------------------------------------------
# 2. silently wrong results: tokenizers are fingerprinted


def edit_captions(root: Path, word: str) -> None:
    index = json.loads((root / "dataset.json").read_text())
    for image in index["images"]:
        image["captions"] = [f"{word} {caption}" for caption in image["captions"]]
    (root / "dataset.json").write_text(json.dumps(index))


def test_evaluation_refuses_another_tokenizer_than_the_trained_one(checkpoint, data, tmp_path, capsys):
    stripped = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    shutil.rmtree(stripped / "tokenizer")
    other = copy_dataset(data, tmp_path / "edited")
    edit_captions(other, "zeppelins")
    args = ["evaluate", "--checkpoint", str(stripped), "--data", str(other), "--out", str(tmp_path / "e.json")]
    refused_unchanged(args, capsys, [stripped, other / "dataset.json"], "tokenizer differs", "checkpoint.json")
    same = ["evaluate", "--checkpoint", str(stripped), "--data", str(data), "--out", str(tmp_path / "e.json")]
    assert main(same) == 0  # the dataset it was trained on rebuilds the same tokenizer


def test_evaluation_refuses_a_replaced_checkpoint_tokenizer(checkpoint, data, tmp_path, capsys):
    tampered = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    other = copy_dataset(data, tmp_path / "edited")
    edit_captions(other, "zeppelins")
    shutil.rmtree(tampered / "tokenizer")
    wordpiece_for_dataset(other).save_pretrained(str(tampered / "tokenizer"))
    args = ["evaluate", "--checkpoint", str(tampered), "--out", str(tmp_path / "e.json")]
    refused_unchanged(args, capsys, [tampered], "tokenizer differs", str(tampered / "tokenizer"))


def test_cached_tokenizer_follows_the_captions(data, tmp_path):
    root = copy_dataset(data, tmp_path / "data")
    before = wordpiece_for_dataset(root)
    assert "zeppelins" not in before.get_vocab()
    edit_captions(root, "zeppelins")
    after = wordpiece_for_dataset(root)
    assert "zeppelins" in after.get_vocab()
    assert "zeppelins" in wordpiece_for_dataset(root).get_vocab()  # and the rebuilt cache is what is read back
    assert (root / "tokenizer" / FINGERPRINT_FILE).is_file()


def test_read_only_dataset_keeps_its_tokenizer_in_the_cache(data, tmp_path, monkeypatch):
    root = copy_dataset(data, tmp_path / "data")
    shutil.rmtree(root / "tokenizer")
    before = snapshot(root)
    real_mkdtemp = __import__("tempfile").mkdtemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == root.resolve():
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr("pirlib.data.tokenizer.tempfile.mkdtemp", read_only)
    tokenizer = wordpiece_for_dataset(root)
    assert snapshot(root) == before
    cached = list((tmp_path / "cache" / "tokenizers").glob("*/tokenizer.json"))
    assert len(cached) == 1 and len(tokenizer) > 10
    assert wordpiece_for_dataset(root).get_vocab() == tokenizer.get_vocab()


# --------------------------------------------------------------------------------------------------------------------
# 3. late failure: every image is checked before the first step


def break_images(root: Path, truncate: int, remove: int) -> list[str]:
    index = json.loads((root / "dataset.json").read_text())
    names = [index["images"][truncate]["file"], index["images"][remove]["file"]]
    image = root / "images" / names[0]
    image.write_bytes(image.read_bytes()[:200])
    (root / "images" / names[1]).unlink()
    return names


def test_train_lists_every_bad_image_before_the_first_step(data, tmp_path, capsys):
    root = copy_dataset(data, tmp_path / "data")
    names = break_images(root, truncate=0, remove=39)  # a training image and a test image
    run = tmp_path / "run"
    refused_unchanged(train_args(root, run), capsys, [root], "2 of 40 images", *names)
    assert not (run / "metrics.jsonl").exists() and not (run / "config.yaml").exists()


def test_evaluate_checks_the_images_of_its_split(checkpoint, data, tmp_path, capsys, monkeypatch):
    root = copy_dataset(data, tmp_path / "data")
    names = break_images(root, truncate=38, remove=39)
    monkeypatch.setattr("pirlib.evaluation.evaluate_model", lambda *a, **k: pytest.fail("embedded before checking"))
    args = ["evaluate", "--checkpoint", str(checkpoint), "--data", str(root), "--out", str(tmp_path / "e.json")]
    refused_unchanged(args, capsys, [root, checkpoint], "2 of 12 images", *names)


def test_pretrain_prior_checks_the_images(data, tmp_path, capsys):
    root = copy_dataset(data, tmp_path / "data")
    names = break_images(root, truncate=3, remove=5)
    out = tmp_path / "prior.safetensors"
    refused_unchanged(["pretrain-prior", "--data", str(root), "--out", str(out)], capsys, [root], *names)
    assert not out.exists()


# --------------------------------------------------------------------------------------------------------------------
# 4. bad values: config ranges, command options, dataset.json


@pytest.mark.parametrize(
    "override, named",
    [
        ("train.batch_size=0", "train.batch_size=0"),
        ("train.batch_size=-4", "train.batch_size=-4"),
        ("train.epochs=0", "train.epochs=0"),
        ("train.learning_rate=-1", "train.learning_rate=-1.0"),
        ("train.learning_rate=0", "(0, inf)"),
        ("model.embed_dim=-1", "model.embed_dim=-1"),
        ("data.validation_fraction=1.5", "data.validation_fraction=1.5"),
        ("train.warmup_fraction=2", "[0, 1]"),
        ("train.max_steps=0", "train.max_steps=0"),
        ("text.dropout=1.0", "[0, 1)"),
        ("vision.depths=[1, 0]", "vision.depths=[1, 0]"),
        ("data.num_workers=-2", "data.num_workers=-2"),
        ("model.min_temperature=2.0", "model.min_temperature"),
    ],
)
def test_out_of_range_config_values(data, tmp_path, capsys, override, named):
    refused_unchanged(train_args(data, tmp_path / "run", override), capsys, [data], named, "set")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "option, named",
    [
        (["--epochs", "0"], "--epochs 0"),
        (["--batch-size", "0"], "--batch-size 0"),
        (["--lr", "-1"], "--lr -1"),
        (["--weight-decay", "-0.1"], "--weight-decay"),
        (["--workers", "-1"], "--workers"),
        (["--out", "prior.pth"], ".safetensors"),
    ],
)
def test_pretrain_prior_options(data, tmp_path, capsys, option, named):
    args = ["pretrain-prior", "--data", str(data), "--out", str(tmp_path / "prior.safetensors"), *option]
    refused_unchanged(args, capsys, [tmp_path, data], named)
    assert not list(tmp_path.glob("*.safetensors"))


def edit_index(root: Path, edit) -> None:
    index = json.loads((root / "dataset.json").read_text())
    edit(index)
    (root / "dataset.json").write_text(json.dumps(index))


@pytest.mark.parametrize(
    "edit, named",
    [
        (lambda index: index["images"][2].update(captions="a runway"), "images[2]"),
        (lambda index: index["images"][3]["captions"].__setitem__(1, "   "), "images[3]"),
        (lambda index: index["images"][4]["captions"].__setitem__(0, ""), "caption 0"),
        (lambda index: index["images"][5]["captions"].__setitem__(0, 7), "images[5]"),
        (lambda index: index["images"].append(dict(index["images"][0])), "duplicate image entry"),
        (lambda index: index["images"][6].update(label="3"), "'label'"),
        (lambda index: index["images"][6].update(label=True), "images[6]"),
        (lambda index: index["images"][7].update(split="val"), "'split'"),
        (lambda index: index["images"][8].pop("file"), "missing key 'file'"),
        (lambda index: index.update(classes="river"), "'classes'"),
        (lambda index: index.update(images={}), "'images'"),
    ],
)
def test_malformed_dataset_json(data, tmp_path, capsys, edit, named):
    root = copy_dataset(data, tmp_path / "data")
    edit_index(root, edit)
    refused_unchanged(train_args(root, tmp_path / "run"), capsys, [root], named, "dataset.json")


# --------------------------------------------------------------------------------------------------------------------
# 5. one line instead of a traceback


def test_truncated_prior_is_named(data, tmp_path, capsys):
    prior = tmp_path / "prior.safetensors"
    save_file({"fc.weight": torch.zeros(4, 4)}, str(prior))
    prior.write_bytes(prior.read_bytes()[:40])
    args = train_args(data, tmp_path / "run", f"prior.checkpoint={prior}")
    refused_unchanged(args, capsys, [prior, data], str(prior), "truncated")


def _pickled_object(path: Path) -> None:
    torch.save({"model": {"weight": torch.zeros(1)}, "args": argparse_namespace()}, path)


def argparse_namespace():
    import argparse

    return argparse.Namespace(lr=1)


@pytest.mark.parametrize(
    "write, named",
    [
        (lambda path: path.write_bytes(b""), "empty file"),
        (lambda path: path.write_bytes(os.urandom(256)), "not a readable PyTorch checkpoint"),
        (_pickled_object, "not a readable PyTorch checkpoint"),
        (lambda path: save_file({"weight": torch.zeros(2)}, str(path)), "not a readable PyTorch checkpoint"),
        (lambda path: torch.save({"encoder.weight": torch.zeros(2)}, path), "not an official PIR checkpoint"),
        (lambda path: torch.save([1, 2, 3], path), "expected a dict"),
    ],
)
def test_convert_official_on_foreign_files(tmp_path, capsys, write, named):
    source = tmp_path / "checkpoint_best.pth"
    write(source)
    args = ["convert-official", "--checkpoint", str(source), "--out", str(tmp_path / "converted")]
    line = refused_unchanged(args, capsys, [source], named, str(source))
    assert "weights_only" not in line.replace("weights_only=True", "")
    assert not (tmp_path / "converted").exists()


def test_ctrl_c_is_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pirlib.commands.synth.generate_synthrs", interrupted)
    fails(["synth", "--out", str(tmp_path / "out"), "--images", "20", "--size", "16"], capsys, "interrupted (Ctrl-C)")


def test_debug_shows_the_traceback(data, tmp_path):
    with pytest.raises(Exception, match="train.batch_size=0"):
        main([*train_args(data, tmp_path / "run", "train.batch_size=0"), "--debug"])


@pytest.mark.parametrize("device", ["tpu", "cuda:7" if torch.cuda.is_available() else "cuda"])
def test_evaluate_device_errors_name_the_flag(checkpoint, tmp_path, capsys, device):
    args = ["evaluate", "--checkpoint", str(checkpoint), "--device", device, "--out", str(tmp_path / "e.json")]
    line = refused_unchanged(args, capsys, [checkpoint], f"--device {device}")
    assert "train.device" not in line


@pytest.mark.parametrize("command", ["evaluate", "embed"])
def test_unwritable_output_fails_before_computing(checkpoint, tmp_path, capsys, monkeypatch, command):
    (tmp_path / "file").write_text("not a folder\n")
    out = tmp_path / "file" / ("results.json" if command == "evaluate" else "embeddings.npz")
    monkeypatch.setattr("pirlib.evaluation.embed_retrieval_set", lambda *a, **k: pytest.fail("computed first"))
    args = [command, "--checkpoint", str(checkpoint), "--out", str(out)]
    refused_unchanged(args, capsys, [tmp_path, checkpoint], "cannot write in", str(tmp_path / "file"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(checkpoint, tmp_path, capsys):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        args = ["embed", "--checkpoint", str(checkpoint), "--out", str(folder / "e.npz")]
        refused_unchanged(args, capsys, [tmp_path], "cannot write in", str(folder))
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------------------------------------------------
# 7. minor: sizes, defaults, help texts, relative data roots


@pytest.mark.parametrize(
    "option, named",
    [(["--size", "100000"], "--size 100000"), (["--size", "8"], "--size"), (["--noise", "4"], "[0, 3]")],
)
def test_synth_bounds(tmp_path, capsys, option, named):
    fails(["synth", "--out", str(tmp_path / "out"), "--images", "20", *option], capsys, named)
    assert not (tmp_path / "out").exists()


def test_synth_test_images_follow_images(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "out"), "--images", "100", "--size", "16"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test"] == 13


def test_synth_noise_help_states_the_accepted_range(capsys):
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    assert "[0, 3]" in " ".join(capsys.readouterr().out.split())
    assert "synth" in build_parser().format_help()


def test_relative_data_root_resolves_from_another_directory(data, tmp_path, monkeypatch, capsys):
    from pirlib.models import PIR

    monkeypatch.chdir(data.parent)
    config = tiny_config(Path(data.name))  # data.root relative to the directory the run was started in
    tokenizer = build_tokenizer(config.text, config.data.root)
    directory = tmp_path / "checkpoint"
    metadata = {DATA_ROOT_KEY: str(data.resolve())}
    save_model(PIR(config, vocab_size=len(tokenizer)), config, directory, metadata=metadata, tokenizer=tokenizer)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--checkpoint", str(directory)]) == 0
    assert json.loads((directory / "eval_test.json").read_text())["data"] == str(data.resolve())


# --------------------------------------------------------------------------------------------------------------------
# 6. resuming never changes what a run selects

TIMING_KEYS = {"pairs_per_s", "train_seconds", "wall_seconds_last_session"}


def without_timing(results: dict) -> dict:
    return {key: value for key, value in results.items() if key not in TIMING_KEYS}


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> dict:
    """8 steps in one go (epochs of 5 steps: one scheduled evaluation, at step 5)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert main(train_args(data, out, "--max-steps", "8")) == 0
    return json.loads((out / "eval.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("stops", [(4,), (2, 6), (3, 5, 7)])
def test_resumed_run_reports_what_the_uninterrupted_run_reports(data, uninterrupted, tmp_path, stops):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert main(train_args(data, run, "--max-steps", str(stops[0]))) == 0
    for stop in [*stops[1:], 8]:
        assert main(["train", "--resume", "--out", str(run), "--max-steps", str(stop)]) == 0
    results = json.loads((run / "eval.json").read_text())
    assert results["steps_per_epoch"] == 5 and uninterrupted["selection"]["step"] == 5
    assert without_timing(results) == without_timing(uninterrupted)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r.get("selection_candidate", True)] == [5]

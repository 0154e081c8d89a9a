"""pirlib checkpoints: a directory with `model.safetensors` (weights), `checkpoint.json` (resolved config, metadata
such as epoch and step, and the SHA-256 of the weight files), when given the `tokenizer/` the model was trained with
(and its fingerprint, so that evaluation refuses any other tokenizer), and for resumable training checkpoints
`training_state.pt` (optimiser, scheduler, step, RNG states: plain tensors and numbers, loadable with
`torch.load(weights_only=True)`).

Every file is written atomically (`pirlib.io.atomic_write`), and a whole checkpoint
directory is replaced atomically too (`atomic_directory`: written beside, then swapped in by renames), so an
interruption, even SIGKILL, never leaves a half-written checkpoint behind. A file whose bytes no longer match the
checksum recorded in `checkpoint.json` is reported by name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pirlib.config import Config, ConfigError, from_dict, to_dict
from pirlib.data.format import read_json_file
from pirlib.io import atomic_write, atomic_write_json, file_sha256
from pirlib.models.weights import unreadable

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "checkpoint.json"
TOKENIZER_DIR = "tokenizer"
TRAINING_STATE_FILE = "training_state.pt"
CHECKSUMS_KEY = "sha256"  # checkpoint.json: {file name: SHA-256 hex digest}
CHECKPOINT_ENTRIES = (WEIGHTS_FILE, METADATA_FILE, TOKENIZER_DIR, TRAINING_STATE_FILE)  # all a checkpoint holds
DATA_ROOT_KEY = "data_root"  # checkpoint.json: absolute path of the dataset the model was trained on
TOKENIZER_KEY = "tokenizer_sha256"  # checkpoint.json: fingerprint of the tokenizer the model was trained with


class CheckpointError(RuntimeError):
    """A checkpoint directory or file is missing, corrupt or does not match the model."""


def save_model(
    model: torch.nn.Module, config: Config, directory: str | os.PathLike, metadata: dict | None = None, tokenizer=None
) -> Path:
    """Write weights, config (+ metadata) and optionally the tokenizer into `directory`.

    `metadata[CHECKSUMS_KEY]` may list checksums of other files already written there (the training state)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(state, tmp))
    metadata = dict(metadata or {})
    if tokenizer is not None:
        from pirlib.data.tokenizer import tokenizer_fingerprint

        tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        metadata[TOKENIZER_KEY] = tokenizer_fingerprint(tokenizer)
    checksums = {**metadata.pop(CHECKSUMS_KEY, {}), WEIGHTS_FILE: file_sha256(directory / WEIGHTS_FILE)}
    atomic_write_json(directory / METADATA_FILE, {"config": to_dict(config), **metadata, CHECKSUMS_KEY: checksums})
    return directory


def remove_checkpoint_entries(directory: str | os.PathLike) -> None:
    """Delete the files of a pirlib checkpoint (`CHECKPOINT_ENTRIES`) in `directory`, leaving anything else there."""
    for name in CHECKPOINT_ENTRIES:
        path = Path(directory) / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def verify_checksum(directory: str | os.PathLike, name: str) -> None:
    """Raise CheckpointError when `directory/name` differs from the checksum recorded in checkpoint.json."""
    directory = Path(directory)
    expected = (
        read_metadata(directory).get(CHECKSUMS_KEY, {}).get(name) if (directory / METADATA_FILE).is_file() else None
    )
    if expected is not None and file_sha256(directory / name) != expected:
        raise CheckpointError(
            f"{directory / name}: corrupted (its SHA-256 differs from the one recorded in {METADATA_FILE}); "
            f"re-create the checkpoint or resume from another one"
        )


def read_metadata(directory: str | os.PathLike) -> dict:
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: not found; a pirlib checkpoint directory holds {METADATA_FILE} and "
            f"{WEIGHTS_FILE} (written by `pirlib train` or `pirlib convert-official`)"
        )
    advice = "re-create the checkpoint"
    metadata = read_json_file(path, CheckpointError, advice)
    if not isinstance(metadata, dict):
        raise CheckpointError(f"not a JSON object but a {type(metadata).__name__} ({path}): {advice}")
    for key, kind in ((CHECKSUMS_KEY, dict), (TOKENIZER_KEY, str), (DATA_ROOT_KEY, str)):
        if key in metadata and not isinstance(metadata[key], kind):
            raise CheckpointError(
                f"'{key}' is a {type(metadata[key]).__name__}, not a {kind.__name__} ({path}): {advice}"
            )
    if not all(isinstance(value, str) for value in metadata.get(CHECKSUMS_KEY, {}).values()):
        raise CheckpointError(f"'{CHECKSUMS_KEY}' must map file names to hex digests ({path}): {advice}")
    return metadata


def load_config_from_checkpoint(directory: str | os.PathLike) -> Config:
    metadata = read_metadata(directory)
    try:
        return from_dict(Config, metadata.get("config"), f"{Path(directory) / METADATA_FILE}:config")
    except ConfigError as error:
        raise CheckpointError(str(error)) from error


def load_state_dict(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: not found; is {directory} a pirlib checkpoint directory?")
    verify_checksum(directory, WEIGHTS_FILE)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({error}); re-create it") from error


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config]:
    """Rebuild the model from `checkpoint.json` and load `model.safetensors` strictly (names and shapes)."""
    from pirlib.models import PIR

    config = load_config_from_checkpoint(directory)
    # Weights come from the checkpoint: do not try to read the pretrained files named in the config.
    config.vision.pretrained = config.text.pretrained = config.prior.checkpoint = None
    model = PIR(config)
    state = load_state_dict(directory)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong_shape:
        raise CheckpointError(
            f"{Path(directory) / WEIGHTS_FILE} does not match the model of its config: "
            f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}, wrong shape {wrong_shape[:5]}"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def load_tokenizer(directory: str | os.PathLike):
    """The tokenizer saved with the checkpoint, or None when the checkpoint has none."""
    path = Path(directory) / TOKENIZER_DIR
    if not path.is_dir():
        return None
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for a truncated file
        raise CheckpointError(
            f"the checkpoint's tokenizer cannot be read ({path}: {type(error).__name__}, truncated or corrupt): "
            f"restore {path}/ or re-create the checkpoint"
        ) from None


def recorded_data_root(directory: str | os.PathLike, config: Config) -> Path:
    """The dataset of a checkpoint: its config's data.root, or, when that relative path does not resolve from the
    current directory, the absolute path recorded at training time."""
    root = Path(config.data.root)
    recorded = read_metadata(directory).get(DATA_ROOT_KEY)
    if not root.is_absolute() and not root.is_dir() and recorded is not None:
        return Path(recorded)
    return root


def checkpoint_tokenizer(directory: str | os.PathLike, config: Config, fallback):
    """The tokenizer of the checkpoint in `directory`: its own `tokenizer/`, else `fallback()` (the config's).

    Refused (CheckpointError naming both) when it is not the tokenizer the model was trained with: another
    fingerprint than the recorded one, or, for checkpoints that record none, another vocabulary size than the
    model's (`config.text.vocab_size`)."""
    from pirlib.data.tokenizer import tokenizer_fingerprint

    directory = Path(directory)
    recorded = read_metadata(directory).get(TOKENIZER_KEY)
    tokenizer, source = load_tokenizer(directory), f"{directory / TOKENIZER_DIR}"
    if tokenizer is None:
        tokenizer, source = fallback(), f"the tokenizer of its config (text.tokenizer='{config.text.tokenizer}')"
    if recorded is not None and tokenizer_fingerprint(tokenizer) != recorded:
        raise CheckpointError(
            f"the tokenizer differs from the one the model was trained with ({directory / METADATA_FILE} records "
            f"tokenizer {recorded[:12]}, {source} is {tokenizer_fingerprint(tokenizer)[:12]}): restore "
            f"{directory / TOKENIZER_DIR}/ or evaluate on the dataset the model was trained on"
        )
    if recorded is None and len(tokenizer) != config.text.vocab_size:
        raise CheckpointError(
            f"the tokenizer has {len(tokenizer)} tokens but the model {config.text.vocab_size} ({source}, "
            f"{directory}): restore {directory / TOKENIZER_DIR}/ or set the model's text.tokenizer"
        )
    return tokenizer


def save_training_state(directory: str | os.PathLike, state: dict) -> str:
    """Write `training_state.pt` atomically; returns its SHA-256 (for `save_model(metadata={CHECKSUMS_KEY: ...})`).

    `state` must hold only tensors, numbers, strings, None and lists/tuples/dicts of them (weights_only loading)."""
    path = Path(directory) / TRAINING_STATE_FILE
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return file_sha256(path)


def load_training_state(directory: str | os.PathLike) -> dict:
    """Read `training_state.pt` with `torch.load(weights_only=True)` after checking its recorded checksum."""
    path = Path(directory) / TRAINING_STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: not found; {directory} is not a resumable training checkpoint")
    verify_checksum(directory, TRAINING_STATE_FILE)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types (pickle, zip, runtime) for a damaged file
        raise CheckpointError(
            f"unreadable training state ({path}: {unreadable(error)}): resume from another checkpoint"
        ) from None


def _sibling(path: Path, role: str) -> Path:
    return path.with_name(f".{path.name}.{role}")


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory; once the block succeeds it replaces `path` by renames.

    At every instant either `path` or its `.NAME.previous` sibling holds a complete checkpoint
    (`existing_checkpoint` finds it), so a kill at any point never loses the last good one."""
    path = Path(path)
    staging, previous = _sibling(path, "partial"), _sibling(path, "previous")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.is_dir():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(path, previous)
    os.replace(staging, path)
    shutil.rmtree(previous, ignore_errors=True)


def existing_checkpoint(path: str | os.PathLike) -> Path | None:
    """`path` if it is a directory, else the complete copy left by an `atomic_directory` swap interrupted midway.

    Every reader of a checkpoint that may be replaced (evaluation's `find_checkpoint`, `train --resume`) resolves it
    here, so after any crash they all find the same checkpoint."""
    path = Path(path)
    for candidate in (path, _sibling(path, "previous")):
        if candidate.is_dir():
            return candidate
    return None


def repair_interrupted_swap(path: str | os.PathLike) -> None:
    """Finish an `atomic_directory` swap a crash interrupted: `path` is restored from its complete `.NAME.previous`
    copy when it is missing (the replacement never became current), and the copies left beside it are removed.
    Only the holder of the directory's lock may call it (`pirlib.output_folders.claim_run_directory`)."""
    path = Path(path)
    previous = _sibling(path, "previous")
    if not path.is_dir() and previous.is_dir():
        os.replace(previous, path)
    shutil.rmtree(previous, ignore_errors=True)
    shutil.rmtree(_sibling(path, "partial"), ignore_errors=True)

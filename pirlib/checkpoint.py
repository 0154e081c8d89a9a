"""pirlib checkpoints: a directory with `model.safetensors` (weights), `checkpoint.json` (resolved config and
metadata such as epoch and step) and, when given, the `tokenizer/` the model was trained with.

Every file is written atomically (temporary file in the same directory, then `os.replace`), so an interrupted write
never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorsError
from safetensors.torch import load_file, save_file

from pirlib.config import Config, ConfigError, from_dict, to_dict

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "checkpoint.json"
TOKENIZER_DIR = "tokenizer"


class CheckpointError(RuntimeError):
    """A checkpoint directory or file is missing, corrupt or does not match the model."""


def atomic_write_bytes(path: Path, writer) -> None:
    """Call `writer(temporary_path)` then rename the temporary file to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        writer(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n"))


def save_model(
    model: torch.nn.Module, config: Config, directory: str | os.PathLike, metadata: dict | None = None, tokenizer=None
) -> Path:
    """Write weights, config (+ metadata) and optionally the tokenizer into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, lambda tmp: save_file(state, tmp))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
    atomic_write_json(directory / METADATA_FILE, {"config": to_dict(config), **(metadata or {})})
    return directory


def read_metadata(directory: str | os.PathLike) -> dict:
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: not found; a pirlib checkpoint directory holds {METADATA_FILE} and "
            f"{WEIGHTS_FILE} (written by `pirlib train` or `pirlib convert-official`)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: corrupt JSON ({error}); re-create the checkpoint") from error


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
    try:
        return load_file(str(path))
    except (SafetensorsError, OSError, ValueError) as error:
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

    return PreTrainedTokenizerFast.from_pretrained(str(path))

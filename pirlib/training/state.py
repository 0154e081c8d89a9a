"""The run directory and its resumable checkpoints.

    runs/NAME/config.yaml     the fully resolved config (pirlib.config.save_config)
    runs/NAME/metrics.jsonl   one record per epoch / evaluation (and metrics.csv, the same flattened)
    runs/NAME/last/           model.safetensors + checkpoint.json + tokenizer/ + training_state.pt (for --resume)
    runs/NAME/best/           the selected checkpoint (model + tokenizer; see selection.py)
    runs/NAME/eval.json       final results

A training state holds only tensors, numbers and strings (optimizer and scheduler state dicts, step, the progress
counters, the model-selection record and every rank's RNG states), so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pirlib.checkpoint import (
    CHECKSUMS_KEY,
    METADATA_FILE,
    TOKENIZER_KEY,
    TRAINING_STATE_FILE,
    atomic_directory,
    existing_checkpoint,
    read_metadata,
    recorded_data_root,
    save_model,
    save_training_state,
)
from pirlib.config import Config, ConfigError, to_dict


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def last(self) -> Path:
        return self.root / "last"

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def eval(self) -> Path:
        return self.root / "eval.json"


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    config: Config,
    tokenizer,
    metadata: dict,
    training_state: dict | None = None,
) -> None:
    """Write a whole checkpoint directory atomically (see `pirlib.checkpoint.atomic_directory`)."""
    with atomic_directory(directory) as staging:
        checksums = {}
        if training_state is not None:
            checksums[TRAINING_STATE_FILE] = save_training_state(staging, training_state)
        save_model(model, config, staging, metadata={**metadata, CHECKSUMS_KEY: checksums}, tokenizer=tokenizer)


# Config keys that may change between a run and its resumption (they do not change what is computed).
RESUMABLE_CHANGES = {
    "train.max_steps",
    "train.device",
    "train.eval_batch_size",
    "train.checkpoint_every_steps",
    "train.save_last_every_epochs",
    "train.compile",
    "data.num_workers",
    "data.root",
}


def config_differences(old: Config, new: Config) -> list[str]:
    """`section.field` keys whose values differ between two configs, except RESUMABLE_CHANGES."""
    old_dict, new_dict = to_dict(old), to_dict(new)
    differences = []
    for section, values in new_dict.items():
        if not isinstance(values, dict):
            if values != old_dict.get(section):
                differences.append(section)
            continue
        for key, value in values.items():
            name = f"{section}.{key}"
            if name not in RESUMABLE_CHANGES and value != old_dict.get(section, {}).get(key):
                differences.append(name)
    return differences


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run continues: its last checkpoint and the dataset it was trained on."""

    checkpoint: Path  # last/, or the complete copy an interrupted checkpoint swap left beside it
    data_root: Path  # the config's data.root, or the absolute path recorded at training time when that relative
    # path does not resolve from the current directory (a run started elsewhere)


def resume_point(run_dir: str | Path, config: Config) -> ResumePoint | None:
    """The checkpoint `--resume` continues `run_dir` from, or None when the run has none (a new run starts).
    The command uses it before training to find the run's data, the trainer to load its state."""
    checkpoint = existing_checkpoint(RunPaths(Path(run_dir)).last)
    if checkpoint is None:
        return None
    return ResumePoint(checkpoint, recorded_data_root(checkpoint, config))


def check_resume_tokenizer(directory: Path, tokenizer) -> None:
    """Refuse (ConfigError naming both fingerprints) to resume the checkpoint in `directory` with another tokenizer
    than the one it was trained with: the same vocabulary size with other tokens would train on other inputs."""
    from pirlib.data.tokenizer import tokenizer_fingerprint

    recorded, current = read_metadata(directory).get(TOKENIZER_KEY), tokenizer_fingerprint(tokenizer)
    if recorded is not None and recorded != current:
        raise ConfigError(
            f"cannot resume: the tokenizer differs from the one the run was trained with ({directory / METADATA_FILE} "
            f"records tokenizer {recorded[:12]}, data.root and text.tokenizer give {current[:12]}): resume on the "
            f"dataset the run was trained on, or start a new run"
        )

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

from pirlib.checkpoint import CHECKSUMS_KEY, TRAINING_STATE_FILE, atomic_directory, save_model, save_training_state
from pirlib.config import Config, to_dict


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

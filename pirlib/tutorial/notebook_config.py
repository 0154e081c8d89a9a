"""A model profile as the notebooks use it: loaded from `configs/`, with its weight paths found from the notebook's
working directory and its dataset and scene prior set to the notebook's parameters.

The notebooks run in `notebooks/`, while the weight paths inside a profile (`vision.pretrained`, `text.pretrained`,
`text.tokenizer`) are relative to the repository root; `data.root` and `prior.checkpoint` are made absolute, so that
a run trained from a notebook can be reused from the repository root (`pirlib.tutorial.studies`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pirlib.config import Config, apply_overrides, load_config

# fields of a profile that name a file or directory relative to the repository root
ROOT_RELATIVE_FIELDS = ("vision.pretrained", "text.pretrained", "text.tokenizer")


def notebook_config(
    config_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    prior_checkpoint: str | os.PathLike | None,
    overrides: Sequence[str] = (),
    repository_root: str | os.PathLike = "..",
) -> Config:
    """The profile at `config_path` for a notebook: each field of ROOT_RELATIVE_FIELDS that names an existing path
    under `repository_root` (relative to the working directory) points there, `data.root` is `data_dir` and
    `prior.checkpoint` is `prior_checkpoint` (both absolute; None: a randomly initialised scene prior), then the
    `section.field=value` `overrides` apply. The prior file need not exist yet (notebook 02 makes it)."""
    config = load_config(config_path)
    from_root = []
    for key in ROOT_RELATIVE_FIELDS:
        section, field = key.split(".")
        value = getattr(getattr(config, section), field)  # "wordpiece" and hub names name no path
        if value and not Path(value).is_absolute() and Path(repository_root, value).exists():
            from_root.append(f"{key}={Path(repository_root, value)}")
    prior = "null" if prior_checkpoint is None else Path(prior_checkpoint).resolve()
    paths = [f"data.root={Path(data_dir).resolve()}", f"prior.checkpoint={prior}"]
    return apply_overrides(config, [*from_root, *paths, *overrides])

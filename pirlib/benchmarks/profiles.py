"""The configurations the benchmarks measure and the data they run on.

A `--config` entry is a YAML file or one of the named profiles, optionally followed by its own overrides
(`PROFILE:KEY=VALUE;KEY=VALUE`, e.g. `paper:data.gpu_resident=true;train.compile=true`), so that one run can
compare variants of a configuration. The named profiles:
- `tiny`: configs/tiny_synthrs.yaml (the CPU tutorial profile, SynthRS at 112 px);
- `paper`: configs/paper_rsitmd.yaml (Swin-T 224, BERT-base, ResNet-50 prior, batch 128: the paper's setting);
- `official-tiny`: the configuration of the parity fixture made with the official code (tests/test_official_parity.py):
  Swin embed 48, depths (1, 1, 2, 1) at 224 px, the full ResNet-50 prior, BERT 128 × 2 layers × 2 heads (intermediate
  512), embed_dim 512, batch 16, no text attention mask: the model the official code trains at "about 5.4 pairs/s"
  on the 2-core reference machine (fp32 on CPU, as the official code; our runtime choices otherwise).

Speed does not depend on the weights' values, so the benchmarks always start from random weights: pretrained file
paths are cleared (no download, no local weights needed). Unless `text.tokenizer` names an existing directory, the
captions are tokenised by the WordPiece tokenizer trained on the benchmark data, while the BERT embedding table
keeps the configured `text.vocab_size` (30,522 for BERT-base), so parameter count and optimiser cost stay those of
the real model.

Without `--data`, SynthRS is generated once per image size into the cache directory (`runs/bench/` by default).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from pirlib.config import Config, ConfigError, apply_overrides, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_FILES = {"tiny": "tiny_synthrs.yaml", "paper": "paper_rsitmd.yaml"}
OFFICIAL_TINY_OVERRIDES = [
    "name=official_tiny",
    "vision.embed_dim=48",
    "vision.depths=[1, 1, 2, 1]",
    "vision.num_heads=[3, 6, 12, 24]",
    "text.hidden_size=128",
    "text.num_layers=2",
    "text.num_heads=2",
    "text.intermediate_size=512",
    "text.use_attention_mask=false",
    "train.batch_size=16",
]
PROFILE_NAMES = (*PROFILE_FILES, "official-tiny")


def load_profile(name_or_path: str, overrides: list[str] | None = None) -> Config:
    """A named profile (`tiny`, `paper`, `official-tiny`) or a YAML file, then `section.field=value` overrides."""
    overrides = list(overrides or [])
    if name_or_path == "official-tiny":
        return apply_overrides(
            load_config(REPO_ROOT / "configs" / PROFILE_FILES["paper"]), OFFICIAL_TINY_OVERRIDES + overrides
        )
    if name_or_path in PROFILE_FILES:
        return load_config(REPO_ROOT / "configs" / PROFILE_FILES[name_or_path], overrides)
    if not Path(name_or_path).is_file():
        raise ConfigError(
            f"--config {name_or_path}: neither a YAML file nor a profile name ({', '.join(PROFILE_NAMES)})"
        )
    return load_config(name_or_path, overrides)


def parse_entry(entry: str) -> tuple[str, list[str]]:
    """`PROFILE` or `PROFILE:KEY=VALUE;KEY=VALUE` → (profile name or YAML path, its own overrides)."""
    name, _, overrides = entry.partition(":")
    items = [item.strip() for item in overrides.split(";") if item.strip()]
    if not name or any("=" not in item for item in items):
        raise ConfigError(f"--config {entry!r}: expected PROFILE or PROFILE:KEY=VALUE;KEY=VALUE")
    return name, items


def load_entry(entry: str, overrides: list[str]) -> Config:
    """The config of a `--config` entry: the profile, then `overrides` (all entries), then the entry's own."""
    name, own = parse_entry(entry)
    return load_profile(name, [*overrides, *own])


def random_weights(config: Config) -> tuple[Config, int | None]:
    """A copy of `config` without pretrained files, and the BERT vocabulary size to build (None: the tokenizer's)."""
    config = copy.deepcopy(config)
    config.vision.pretrained = None
    config.prior.checkpoint = None
    config.text.pretrained = None
    tokenizer = config.text.tokenizer
    if tokenizer == "wordpiece":
        return config, None
    if not Path(tokenizer).is_dir():  # a hub name or an absent directory: no download in a benchmark
        config.text.tokenizer = "wordpiece"
    return config, config.text.vocab_size


def bench_data(config: Config, data: str | os.PathLike | None, cache: Path, images: int) -> Path:
    """The dataset directory to run on: `data` if given, else SynthRS at the config's image size in `cache`."""
    if data is not None:
        return Path(data)
    from pirlib.data.synthrs import SynthSettings, generate_synthrs, is_generated

    size = config.vision.image_size
    settings = SynthSettings(images=images, test_images=max(1, images // 8), size=size)
    settings.validate()
    root = cache / f"synthrs_{size}px_{images}"
    if not is_generated(root, settings):
        print(f"pirlib bench: generating SynthRS ({images} images of {size} px) into {root}", flush=True)
        generate_synthrs(root, settings, workers=max(1, os.cpu_count() or 1))
    return root

"""The valid range of every numeric config field (`VALID_RANGES`) and the combinations a model cannot be built with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pirlib.config.conversion import to_dict
from pirlib.config.schema import Config, ConfigError


@dataclass(frozen=True)
class Range:
    """An interval of valid values; `low`/`high` None = unbounded, `open_low`/`open_high` exclude the bound."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def __str__(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        opening = "(" if self.open_low or self.low is None else "["
        closing = ")" if self.open_high or self.high is None else "]"
        return f"{opening}{low}, {high}{closing}"


AT_LEAST_1 = Range(1)
AT_LEAST_0 = Range(0)
POSITIVE = Range(0, open_low=True)
FRACTION = Range(0, 1)
PROBABILITY = Range(0, 1, open_high=True)

# Valid range of every numeric field ("section.field"; for tuples, of each element). A new numeric field adds a line.
VALID_RANGES: dict[str, Range] = {
    "vision.image_size": Range(16),
    "vision.patch_size": AT_LEAST_1,
    "vision.embed_dim": AT_LEAST_1,
    "vision.depths": AT_LEAST_1,
    "vision.num_heads": AT_LEAST_1,
    "vision.window_size": AT_LEAST_1,
    "vision.drop_path_rate": PROBABILITY,
    "prior_training.epochs": AT_LEAST_1,
    "prior_training.batch_size": AT_LEAST_1,
    "prior_training.learning_rate": POSITIVE,
    "prior_training.weight_decay": AT_LEAST_0,
    "text.vocab_size": AT_LEAST_1,
    "text.hidden_size": AT_LEAST_1,
    "text.num_layers": AT_LEAST_1,
    "text.num_heads": AT_LEAST_1,
    "text.intermediate_size": AT_LEAST_1,
    "text.max_position_embeddings": Range(3),
    "text.dropout": PROBABILITY,
    "text.max_tokens": Range(3),
    "model.embed_dim": AT_LEAST_1,
    "model.filter_size": AT_LEAST_1,
    "model.num_instruction_layers": AT_LEAST_1,
    "model.num_cycles": AT_LEAST_1,
    "model.num_attention_heads": AT_LEAST_1,
    "model.dropout": PROBABILITY,
    "model.temperature": POSITIVE,
    "model.affiliation_temperature": POSITIVE,
    "model.min_temperature": POSITIVE,
    "model.max_temperature": POSITIVE,
    "loss.affiliation_weight": AT_LEAST_0,
    "loss.triplet_margin": AT_LEAST_0,
    "data.validation_fraction": PROBABILITY,
    "data.num_workers": AT_LEAST_0,
    "train.epochs": AT_LEAST_1,
    "train.batch_size": AT_LEAST_1,
    "train.learning_rate": POSITIVE,
    "train.lr_mult": POSITIVE,
    "train.weight_decay": AT_LEAST_0,
    "train.betas": PROBABILITY,
    "train.eps": POSITIVE,
    "train.warmup_fraction": FRACTION,
    "train.max_steps": AT_LEAST_1,
    "train.eval_every_epochs": AT_LEAST_0,
    "train.checkpoint_every_steps": AT_LEAST_0,
    "train.save_last_every_epochs": AT_LEAST_0,
    "train.eval_batch_size": AT_LEAST_1,
    "train.weight_average_decay": PROBABILITY,
}


def check_ranges(config: Config, where: str = "config") -> None:
    """Raise ConfigError for the first field whose value lies outside `VALID_RANGES` (None values are not checked)."""
    data = to_dict(config)
    for key, valid in VALID_RANGES.items():
        section, name = key.split(".")
        value = data[section][name]
        for item in value if isinstance(value, list) else [value]:
            if item is not None and not (isinstance(item, int | float) and valid.contains(item)):
                raise ConfigError(
                    f"{key}={value!r} is out of range ({where}): {key} must be a finite number in {valid}; set a "
                    f"value in that range"
                )
    check_constraints(config, where)


def check_constraints(config: Config, where: str = "config") -> None:
    """Raise ConfigError for the first combination of fields the model cannot be built with."""
    model, text, vision = config.model, config.text, config.vision
    if model.min_temperature > model.max_temperature:
        raise ConfigError(
            f"model.min_temperature={model.min_temperature} exceeds model.max_temperature="
            f"{model.max_temperature} ({where}): the temperatures are clamped to [min, max]; swap them"
        )
    for width, heads in (("model.embed_dim", "model.num_attention_heads"), ("text.hidden_size", "text.num_heads")):
        width_value, heads_value = _field(config, width), _field(config, heads)
        if width_value % heads_value:
            raise ConfigError(
                f"{width}={width_value} is not divisible by {heads}={heads_value} ({where}): each attention head "
                f"takes an equal share of the width; choose values where {heads} divides {width}"
            )
    if len(vision.depths) != len(vision.num_heads):
        raise ConfigError(
            f"vision.depths={list(vision.depths)} and vision.num_heads={list(vision.num_heads)} differ in length "
            f"({where}): give one head count per Swin stage"
        )
    if text.max_tokens > text.max_position_embeddings:
        raise ConfigError(
            f"text.max_tokens={text.max_tokens} exceeds text.max_position_embeddings={text.max_position_embeddings} "
            f"({where}): captions cannot be longer than the position table; lower text.max_tokens"
        )


def _field(config: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)

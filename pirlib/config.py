"""Configuration: nested dataclasses whose defaults are the paper's hyper-parameters.

The defaults reproduce the PIR paper's setting (Pan, Ma, Bai, ACM MM 2023; the official `configs/Retrieval_rsitmd.yaml`,
see docs/official_behaviour.md §1). YAML files in `configs/` override them; `--set section.field=value` overrides a
YAML. Paths to pretrained weights are not hyper-parameters: they default to None (random initialisation) and the paper
profiles set them.

Loading is strict: an unknown or misspelt key is an error naming the key and the closest valid one, a key given twice
in one mapping (at any depth) is an error naming the key and its lines, a value of the wrong type is an error naming
the expected type, a number outside its valid range (`VALID_RANGES`, one line per field; NaN and infinities are
never valid) is an error naming the key, the value and the range, and so is a combination the model cannot be built
with (`check_constraints`: widths divisible by their head counts, one head count per Swin stage, captions no longer
than the position table). Every run directory stores the fully resolved config
(`save_config`), so a run can always be reproduced from its own folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pirlib.io import atomic_write_text


class ConfigError(ValueError):
    """A config file, key or value is wrong; the message says which and what to do."""


@dataclass
class VisionConfig:
    """Swin Transformer image encoder (timm). Paper: Swin-T, 224 px, 7×7 grid + mean token = 50 tokens."""

    model_name: str = "swin_tiny_patch4_window7_224"  # timm architecture name
    pretrained: str | None = None  # None: random init; a local file (.pth/.safetensors, Microsoft or timm keys)
    image_size: int = 224  # input resolution in pixels
    patch_size: int = 4  # patch embedding stride
    embed_dim: int = 96  # channels of the first stage (96 for Swin-T)
    depths: tuple[int, ...] = (2, 2, 6, 2)  # blocks per stage
    num_heads: tuple[int, ...] = (3, 6, 12, 24)  # attention heads per stage
    window_size: int = 7  # local attention window
    drop_path_rate: float = 0.1  # stochastic depth, linear over all blocks


@dataclass
class PriorConfig:
    """Frozen scene-recognition CNN whose pooled feature instructs VIR (paper: AID-pretrained ResNet-50)."""

    model_name: str = "resnet50"  # timm architecture name
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm.create_model arguments (e.g. channels)
    checkpoint: str | None = None  # local weights (official `conv_encoder.N.*`, torchvision or timm naming)
    batchnorm_train_mode: bool = False  # official behaviour: BatchNorm statistics drift during training
    cache_features: bool = False  # compute the frozen prior's feature once per training image instead of every step
    # (same values: needs data.gpu_resident, data.augment false and batchnorm_train_mode false, else ignored)


@dataclass
class PriorTrainingConfig:
    """Pretraining of the scene prior on scene classification (`pirlib pretrain-prior`; the paper uses a ResNet-50
    pretrained on AID, these settings make one on the dataset's own scenes or on a scene corpus)."""

    epochs: int = 10  # passes over the training images
    batch_size: int = 64  # images per step
    learning_rate: float = 2e-3  # AdamW peak learning rate, cosine decay to 0
    weight_decay: float = 0.05  # AdamW weight decay
    randaugment: bool = False  # the official RandAugment on top of crop and flip (blurs the colour cues of scenes)
    seed: int | None = None  # None: train.seed


@dataclass
class TextConfig:
    """BERT text encoder (transformers `BertModel`, no pooler). Paper: bert-base-uncased."""

    pretrained: str | None = None  # None: random init; a local directory or hub name for `from_pretrained`
    tokenizer: str = "bert-base-uncased"  # local directory / hub name, or "wordpiece" (trained on the captions)
    vocab_size: int = 30522  # ignored when the tokenizer or pretrained weights define it
    hidden_size: int = 768  # BERT width
    num_layers: int = 12  # transformer layers
    num_heads: int = 12  # attention heads
    intermediate_size: int = 3072  # feed-forward width
    max_position_embeddings: int = 512  # longest sequence the position table holds
    dropout: float = 0.1  # hidden and attention dropout
    max_tokens: int = 47  # captions are truncated to this many tokens
    use_attention_mask: bool = True  # official code passes no mask (padding is attended): set False for parity
    train_padding_embedding: bool = False  # train the [PAD] word-embedding row (official BERT has no padding_idx)


@dataclass
class ModelConfig:
    """The common space, VIR and LCA (paper §3)."""

    embed_dim: int = 512  # dimension D of the common subspace
    use_vir: bool = True  # Vision Instruction Representation; False with use_lca False is the baseline
    use_lca: bool = True  # Language Cycle Attention
    prior_fusion: bool = (
        False  # control without VIR: image embedding + linear(scene-prior feature) (needs use_vir false)
    )
    filter_size: int = 40  # tokens kept by rank & filter (of 50 in the paper)
    num_instruction_layers: int = 2  # Spatial-PAE steps in VIR (official `instru_num`)
    num_cycles: int = 3  # Temporal-PAE cycles in LCA (official `cycle_num`)
    num_attention_heads: int = 8  # heads of the PAE attention blocks
    dropout: float = 0.2  # PAE dropout, also on attention probabilities (official `dropout_r`)
    temperature: float = 0.07  # initial learnable temperature of the contrastive loss (official `temp1`)
    affiliation_temperature: float = 0.07  # initial learnable temperature of the affiliation loss (`temp2`)
    min_temperature: float = 0.01  # learnable temperatures are clamped to [min, max] (official: never clamped)
    max_temperature: float = 1.0  # upper clamp of the learnable temperatures
    clamp_temperatures: bool = True  # apply the [min, max] clamp; False for the official unclamped temperatures


@dataclass
class LossConfig:
    """Training objective (paper §3.4): contrastive + affiliation_weight × affiliation, or triplet."""

    objective: Literal["contrastive", "triplet"] = "contrastive"  # main alignment loss
    affiliation_weight: float = 1.0  # weight of the cluster-wise affiliation loss (official `center_factor`); 0 = off
    use_image_ids: bool = True  # contrastive positives = all captions of the same image (multi-positive)
    triplet_margin: float = 0.2  # margin of the triplet loss
    triplet_max_violation: bool = False  # hardest negative only (VSE++) instead of the sum over negatives


@dataclass
class DataConfig:
    """Dataset location and loading."""

    root: str = "data/synthrs"  # a prepared dataset directory (`pirlib synth` or `pirlib prepare` output)
    validation_fraction: float = 0.1  # training images held out for honest model selection (0 = official protocol)
    group_by_scene: bool = False  # batches drawn scene by scene (hard in-batch negatives)
    num_workers: int = 2  # DataLoader worker processes
    gpu_resident: bool = False  # keep decoded uint8 images on the GPU and augment there
    augment: bool = True  # official training augmentation (random resized crop, flip, RandAugment)


@dataclass
class TrainConfig:
    """Optimisation and run control. Paper: AdamW, lr 6e-5, batch 128, 50 epochs, 10% linear warm-up."""

    epochs: int = 50  # passes over the training captions
    batch_size: int = 128  # global batch of image-caption pairs (split over ranks)
    learning_rate: float = 6e-5  # peak learning rate
    lr_mult: float = 2.0  # learning-rate multiplier of newly initialised modules
    apply_lr_mult: bool = True  # official code declares lr_mult but never applies it: False for official behaviour
    weight_decay: float = 0.01  # AdamW decay (not on biases, norms and temperatures)
    official_weight_decay: bool = False  # official rule: decay every tensor whose name has no official no-decay part
    official_adamw: bool = False  # transformers-4 AdamW of the official code (eps before bias correction, late decay)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    eps: float = 1e-8  # AdamW epsilon
    warmup_fraction: float = 0.1  # share of steps with linear warm-up, then linear decay to 0
    max_steps: int | None = None  # cap on total optimisation steps (counting steps before a resume)
    seed: int = 42  # seeds every random source below that is left at None
    split_seed: int | None = None  # the validation hold-out of the training images (None: seed)
    init_seed: int | None = None  # the initial weights of every module (None: seed)
    data_seed: int | None = None  # the data order and the augmentation (None: seed)
    dropout_seed: int | None = None  # the dropout and drop-path masks (None: seed)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16
    compile: bool = False  # torch.compile the model
    channels_last: bool = True  # channels-last image tensors and convolution weights (faster on GPU and CPU)
    eval_every_epochs: int = 1  # validation (and test) evaluation period; 0 = only at the end
    checkpoint_every_steps: int = 0  # extra mid-epoch last/ checkpoints every this many steps (0 = none)
    save_last_every_epochs: int = 1  # last/ (the --resume checkpoint) period in epochs; 0 = only where training stops
    eval_batch_size: int = 256  # batch size when embedding images and captions for evaluation
    weight_average_decay: float = 0.0  # EMA of the weights, evaluated and saved as best/ (0: off, as in the paper)


def uses_scene_prior(model: ModelConfig) -> bool:
    """Whether a model with these settings has the frozen scene prior (VIR, or the prior-fusion control)."""
    return model.use_vir or model.prior_fusion


SEED_SOURCES = ("split", "init", "data", "dropout")  # the random sources of a run, each with its own seed field


def seed_of(train: TrainConfig, source: str) -> int:
    """The seed of one random source of a run (`SEED_SOURCES`): its own field, else `train.seed`."""
    if source not in SEED_SOURCES:
        raise ValueError(f"unknown random source '{source}': expected one of {', '.join(SEED_SOURCES)}")
    own = getattr(train, f"{source}_seed")
    return train.seed if own is None else own


@dataclass
class Config:
    """A whole PIR run."""

    name: str = "pir"  # a label for the run
    vision: VisionConfig = field(default_factory=VisionConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    prior_training: PriorTrainingConfig = field(default_factory=PriorTrainingConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------------------------------------------------
# valid ranges


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


# --------------------------------------------------------------------------------------------------------------------
# dict <-> dataclass, with strict keys and types


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.0)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp` and return it in canonical form (tuples for tuple fields)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ConfigError as error:
                errors.append(error)
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}") from errors[-1] if errors else None
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list ({_type_name(tp)}), got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected bool (true/false), got {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass `cls` from a (possibly partial) nested dict; missing fields keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{key}'{_closest(str(key), names)}")
        values[key] = _convert(value, hints[key], f"{where}.{key}")
    return cls(**values)


def to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dict (tuples become lists) suitable for YAML/JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(asdict(config))


# --------------------------------------------------------------------------------------------------------------------
# files and overrides


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _DuplicateKey(key, line, first_lines[key])
            first_lines[key] = line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document `text` as `yaml.safe_load` reads it, but a key given twice in one mapping is a ConfigError
    naming the key, `where` (the file or the override) and both lines."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as duplicate:
        raise ConfigError(
            f"duplicate key '{duplicate.key}' ({where}, line {duplicate.line}; first given on line "
            f"{duplicate.first_line}): YAML would keep only the last; merge them into one '{duplicate.key}'"
        ) from None


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """Paper defaults, then the YAML file at `path` (if any), then `section.field=value` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (the shipped profiles are in configs/)")
        try:
            data = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
        except UnicodeDecodeError as error:
            raise ConfigError(f"not UTF-8 text (byte {error.start}) ({path}): save the file as UTF-8") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"not valid YAML ({path}: {' '.join(str(error).split())}): fix the file") from error
        where = str(path)
    else:
        where = "config"
    return apply_overrides(from_dict(Config, data, where), overrides or [], where)


def apply_overrides(config: Config, overrides: list[str], where: str = "config") -> Config:
    """Return a copy of `config` with `section.field=value` assignments applied (values parsed as YAML), its ranges
    checked (`where` names the config's source in the error)."""
    data = to_dict(config)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{override}': expected section.field=value, e.g. train.epochs=3")
        node, parts = data, key.strip().split(".")
        cls: Any = Config
        for depth, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                prefix = ".".join(parts[:depth]) or "config"
                raise ConfigError(f"override '{override}': unknown key '{part}' in {prefix}{_closest(part, names)}")
            hint = typing.get_type_hints(cls)[part]
            if depth < len(parts) - 1:
                if not dataclasses.is_dataclass(hint):
                    raise ConfigError(f"override '{override}': '{part}' is a value, not a section")
                node, cls = node[part], hint
            else:
                if dataclasses.is_dataclass(hint):
                    raise ConfigError(f"override '{override}': '{part}' is a section; set one of its fields")
                node[part] = _override_value(override, raw)
    config = from_dict(Config, data, "config (after --set overrides)")
    check_ranges(config, f"{where} with --set overrides" if overrides else where)
    return config


def _override_value(override: str, raw: str) -> Any:
    """The YAML value of a `--set` assignment (None when blank), ConfigError naming the override when unreadable."""
    if not raw.strip():
        return None
    try:
        return parse_yaml(raw, f"override '{override}'")
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(f"the value is not valid YAML: {problem} (override '{override}'): quote or fix it") from None


def dump_config(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: Config, path: str | os.PathLike) -> None:
    """Write the fully resolved config as YAML, atomically (temporary file, then rename)."""
    atomic_write_text(path, dump_config(config))

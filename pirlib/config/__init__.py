"""Configuration: nested dataclasses whose defaults are the paper's hyper-parameters (`schema`).

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

- `schema`: the dataclasses, with the paper's defaults, and the seeds of a run's random sources;
- `conversion`: dict <-> dataclasses, strict about keys and types;
- `ranges`: the valid range of every numeric field and the combinations a model cannot be built with;
- `files`: YAML files, `--set` overrides, saving.
"""

from pirlib.config.conversion import from_dict, to_dict
from pirlib.config.files import apply_overrides, dump_config, load_config, parse_yaml, save_config
from pirlib.config.ranges import (
    AT_LEAST_0,
    AT_LEAST_1,
    FRACTION,
    POSITIVE,
    PROBABILITY,
    VALID_RANGES,
    Range,
    check_constraints,
    check_ranges,
)
from pirlib.config.schema import (
    SEED_SOURCES,
    Config,
    ConfigError,
    DataConfig,
    LossConfig,
    ModelConfig,
    PriorConfig,
    PriorTrainingConfig,
    TextConfig,
    TrainConfig,
    VisionConfig,
    seed_of,
    uses_scene_prior,
)

__all__ = [
    "AT_LEAST_0",
    "AT_LEAST_1",
    "FRACTION",
    "POSITIVE",
    "PROBABILITY",
    "SEED_SOURCES",
    "VALID_RANGES",
    "Config",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "PriorConfig",
    "PriorTrainingConfig",
    "Range",
    "TextConfig",
    "TrainConfig",
    "VisionConfig",
    "apply_overrides",
    "check_constraints",
    "check_ranges",
    "dump_config",
    "from_dict",
    "load_config",
    "parse_yaml",
    "save_config",
    "seed_of",
    "to_dict",
    "uses_scene_prior",
]

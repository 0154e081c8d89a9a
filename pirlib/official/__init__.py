"""The authors' code and checkpoints: key conversion and loading (`conversion.py`), their AdamW update
(`adamw.py`), the comparison of pirlib's outputs with theirs (`forward_parity.py`) and the replay of their training
steps with pirlib's step (`step_parity.py`). The behaviour these modules reproduce is described in
docs/official_behaviour.md."""

from pirlib.official.conversion import (
    OFFICIAL_TRAINING_OVERRIDES,
    convert_official_key,
    convert_official_state_dict,
    load_official_checkpoint,
)

__all__ = [
    "OFFICIAL_TRAINING_OVERRIDES",
    "convert_official_key",
    "convert_official_state_dict",
    "load_official_checkpoint",
]

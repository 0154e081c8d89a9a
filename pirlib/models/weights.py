"""Reading weight files and loading them strictly: nothing loads silently.

The official code loads every pretrained file with `strict=False` and no report, so a file in the wrong layout
loads nothing without a word (docs/official_behaviour.md §4.12). Here every load goes through `check_state_dict`, which
names each missing, unexpected or wrongly shaped key and raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch


class WeightsError(RuntimeError):
    """A weight file is missing, unreadable, or does not match the module it is loaded into."""


def unreadable(error: Exception) -> str:
    """Why `torch.load(weights_only=True)` failed, in words that never repeat torch's advice to load with
    `weights_only=False` (which would run any code the file holds)."""
    return f"{type(error).__name__}: corrupt, truncated, or not a file of tensors only"


def read_state_dict(path: str | os.PathLike, what: str, download_hint: str) -> dict[str, torch.Tensor]:
    """The tensors of a local `.safetensors` / `.pth` / `.pt` / `.bin` file, unwrapped from `{'model': ...}` or
    `{'state_dict': ...}` and without a DataParallel `module.` prefix.

    `what` names the weights (e.g. "Swin vision encoder") and `download_hint` says where to get the file; both go
    into the error raised when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"{what} weights not found: {path}. {download_hint} Put the file at that path (or change the config "
            f"field that names it; set it to null for random initialisation)."
        )
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise WeightsError(
                f"cannot read {what} weights ({path}: corrupt or truncated safetensors file, {error}): re-create or "
                f"re-download the file"
            ) from error
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for corrupt / non-tensor pickles
            raise WeightsError(
                f"cannot read {what} weights ({path}: {unreadable(error)}): re-create or re-download the file"
            ) from None
    for wrapper in ("model", "state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if all(key.startswith("module.") for key in tensors):
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return tensors


def _listing(keys: Iterable[str], limit: int = 10) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown}, … ({len(keys)} in all)" if len(keys) > limit else shown


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    source: str,
    origins: Mapping[str, str] | None = None,
) -> None:
    """Raise `WeightsError` naming every missing / unexpected key and every shape mismatch.

    `origins` maps a converted key to its name in the file, shown beside it (e.g. for official checkpoints).
    """
    origins = origins or {}

    def name(key: str) -> str:
        return f"{key} (file: {origins[key]})" if key in origins and origins[key] != key else key

    missing = set(expected) - set(state)
    unexpected = {name(key) for key in set(state) - set(expected)}
    wrong_shape = [
        f"{name(key)} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatches (file vs model): {_listing(wrong_shape)}")
    if problems:
        raise WeightsError(f"{source} does not match the model: " + "; ".join(problems))


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Check names and shapes against `module.state_dict()`, then load (float16 tensors are upcast on copy)."""
    check_state_dict(state, module.state_dict(), source)
    module.load_state_dict(dict(state), strict=True)

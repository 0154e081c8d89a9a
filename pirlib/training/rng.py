"""Random-number-generator states as plain tensors, so training checkpoints load with `torch.load(weights_only=True)`.

Captured at a step boundary and restored on resume, they make dropout and drop-path draws after a resume identical to
those of an uninterrupted run (data order and augmentation do not depend on them: see `sampling.py`).
"""

from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng_state() -> dict[str, torch.Tensor]:
    """torch CPU (and CUDA) generator states, numpy's legacy global state and python's `random` state."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    if kind != "MT19937":
        raise RuntimeError(f"unexpected numpy RNG kind {kind}")
    python_version, python_state, python_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy_extra": torch.tensor([position, has_gauss], dtype=torch.int64),
        "numpy_gaussian": torch.tensor([cached_gaussian], dtype=torch.float64),
        "python_state": torch.tensor([python_version, *python_state], dtype=torch.int64),
        "python_gauss": torch.tensor([] if python_gauss is None else [python_gauss], dtype=torch.float64),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())  # [num_devices, state_bytes]
    return state


def restore_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    position, has_gauss = (int(v) for v in state["numpy_extra"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, position, has_gauss, float(state["numpy_gaussian"][0])))
    python = [int(v) for v in state["python_state"]]
    gauss = float(state["python_gauss"][0]) if state["python_gauss"].numel() else None
    random.setstate((python[0], tuple(python[1:]), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))

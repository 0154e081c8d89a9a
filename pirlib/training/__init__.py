"""Training (paper §4.1 "Implementation details"): `fit(config, out_dir, max_steps, resume)` trains PIR, the
baseline or an ablation on CPU, one GPU or several (torchrun / DDP); `prior.py` pretrains the scene prior. In parts:

- `runtime.py`   device, precision (bf16 autocast on CUDA), torchrun / DDP process group
- `sampling.py`  data order as a function of (seed, epoch), resumable mid-epoch; per-sample augmentation seeds
- `rng.py`       RNG states of torch (CPU, CUDA), numpy and python as plain tensors (weights_only checkpoints)
- `state.py`     resumable training checkpoints and the run directory layout
- `logbook.py`   metrics.jsonl / metrics.csv
- `selection.py` model selection: validation split (honest) and the official best-epoch-on-test figure
- `loop.py`      `fit`: the loop itself
- `prior.py`     the scene prior's pretraining on scene classification
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingDiverged", "fit"]


def __getattr__(name: str) -> Any:  # the loop (torch, timm, transformers) loads on first use
    if name in __all__:
        from pirlib.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'pirlib.training' has no attribute {name!r}")

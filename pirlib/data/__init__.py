"""Data: the on-disk dataset format, caption normalisation, image loading, transforms, datasets and tokenizers.

Public names (docs/ARCHITECTURE.md) are imported lazily, so that `import pirlib.data.format` (or the `prepare` and
`synth` commands) do not pay for importing torchvision and transformers.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "DatasetIndex": "format",
    "ImageRecord": "format",
    "DatasetFormatError": "format",
    "load_index": "format",
    "write_index": "format",
    "pre_caption": "captions",
    "load_rgb": "images",
    "train_transform": "transforms",
    "test_transform": "transforms",
    "CLIP_MEAN": "transforms",
    "CLIP_STD": "transforms",
    "PairDataset": "datasets",
    "RetrievalDataset": "datasets",
    "CaptionCollator": "datasets",
    "SceneGroupedBatchSampler": "datasets",
    "split_train_validation": "datasets",
    "build_tokenizer": "tokenizer",
    "prepare_dataset": "prepare",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pirlib.data' has no attribute '{name}'")
    return getattr(importlib.import_module(f"pirlib.data.{_PUBLIC[name]}"), name)


def __dir__() -> list[str]:
    return __all__

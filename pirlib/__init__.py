"""pirlib: a reference implementation of PIR (Pan, Ma, Bai, ACM MM 2023) for remote-sensing image-text retrieval.

Heavy submodules (torch, timm, transformers) load on first use, so `python -m pirlib --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"load_official_checkpoint": "pirlib.official"}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pirlib' has no attribute {name!r}")

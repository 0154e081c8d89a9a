"""Shared pytest fixtures: the `../shared` reference folder (skipped cleanly when absent), GPU skipping, seeding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """`$PIRLIB_SHARED`, or the `shared/` folder beside the checkout."""
    return Path(os.environ.get("PIRLIB_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.skip(f"reference folder {path} is absent (set PIRLIB_SHARED to use it)")
    return path


@pytest.fixture(scope="session")
def official_fixture(shared_dir: Path) -> dict:
    path = shared_dir / "reference" / "official_pir_tiny.pt"
    if not path.is_file():
        pytest.skip(f"parity fixture {path} is absent")
    return torch.load(path, weights_only=True, map_location="cpu")


@pytest.fixture(scope="session")
def official_step_reference(shared_dir: Path) -> Path:
    """The reference folder, when it holds the training-step fixture and the weights it starts from."""
    reference = shared_dir / "reference"
    missing = [name for name in ("official_step_seed11.pt", "official_pir_tiny.pt") if not (reference / name).is_file()]
    if missing:
        pytest.skip(f"training-step fixture absent from {reference}: {missing}")
    return reference


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)

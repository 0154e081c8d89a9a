"""Helpers of the reliability tests (docs/reliability.md): run a command, assert the one-line refusal, and compare
every byte on disk before and after."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from train_helpers import REPO_ROOT, TINY_OVERRIDES

from pirlib.cli import main

PROFILE = str(REPO_ROOT / "configs" / "tiny_synthrs.yaml")


def snapshot(*roots: Path) -> dict[str, str]:
    """{path: SHA-256} of every file under `roots` (a file root counts as itself)."""
    files = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def listing(root: Path) -> list[str]:
    """Every path under `root`, files and folders (hidden ones included), relative to it."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def fails(args: list[str], capsys, *named: str) -> str:
    """Run the CLI; assert exit 2, one `pirlib <command>:` line naming every string of `named`, no traceback."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"pirlib {args[0]}: ")]
    assert len(lines) == 1, err
    for text in named:
        assert text in lines[0], lines[0]
    return lines[0]


def refused_unchanged(args: list[str], capsys, roots: list[Path], *named: str) -> str:
    before = snapshot(*roots)
    line = fails(args, capsys, *named)
    assert snapshot(*roots) == before, "bytes on disk changed"
    return line


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--config", PROFILE, "--data", str(data), "--out", str(out), "--set", *TINY_OVERRIDES, *extra]


def make_tiny_synthrs(root: Path) -> Path:
    """A tiny SynthRS (40 images of 32 px, 12 for testing), made with the real `pirlib synth` command."""
    argv = ["synth", "--out", str(root), "--images", "40", "--test-images", "12", "--size", "32", "--seed", "1"]
    assert main(argv) == 0
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own pirlib cache folder (a module importing this fixture gets it for each test)."""
    monkeypatch.setenv("PIRLIB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny SynthRS (40 images of 32 px, 12 for testing) with its WordPiece tokenizer already cached."""
    from pirlib.data.tokenizer import wordpiece_for_dataset

    root = make_tiny_synthrs(tmp_path_factory.mktemp("data") / "synthrs")
    wordpiece_for_dataset(root)
    return root

"""`prepare` on the REAL RSITMD / RSICD annotation files of ../shared/datasets with generated placeholder images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pirlib.cli import main
from pirlib.data import load_index, split_train_validation


def _placeholders(annotations: Path, folder: Path) -> Path:
    folder.mkdir()
    names = set()
    for split in ("train", "test"):
        names.update((annotations / f"{split}_filename.txt").read_text().split())
    image = Image.new("RGB", (8, 8), (40, 80, 120))
    for name in names:
        image.save(folder / name)
    return folder


def _run(argv: list[str], capsys) -> tuple[dict, str]:
    """The final JSON line of the command and its stderr."""
    assert main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


@pytest.mark.slow
def test_rsitmd(shared_dir: Path, tmp_path: Path, capsys) -> None:
    annotations = shared_dir / "datasets" / "rsitmd"
    images = _placeholders(annotations, tmp_path / "images")
    assert len(list(images.iterdir())) == 4743
    argv = ["prepare", "--dataset", "rsitmd", "--annotations", str(annotations), "--images", str(images)]
    summary, errors = _run([*argv, "--out", str(tmp_path / "rsitmd")], capsys)
    assert "warning: 20 blank captions dropped: train_caps.txt:9631, train_caps.txt:9632" in errors
    # 20 blank caption lines = all 5 captions of 4 training images, which stay (no training pair): 4,291 images
    assert "4 training images have only blank captions (kept, no training pair)" in errors
    assert summary == {
        "dataset": "rsitmd",
        "train_images": 4291,
        "train_captions": 21435,
        "test_images": 452,
        "test_captions": 2260,
        "classes": 33,
        "blank_captions": 20,
        "missing_images": 0,
    }
    index = load_index(tmp_path / "rsitmd")
    assert len(index.split_ids("train")) == 4291 and len(index.classes) == 33
    train_ids, validation_ids = split_train_validation(index, 0.1, seed=0)
    assert all(index.images[i].captions for i in validation_ids)  # captionless images are never held out
    assert len(train_ids) + len(validation_ids) == 4291
    assert index.images[0].file == "baseballfield_452.tif" and index.classes[index.images[0].label] == "baseballfield"
    sheet = json.loads((tmp_path / "rsitmd" / "datasheet.json").read_text())
    assert sheet["images_without_captions"] == ["mountain_2378.tif", "railwaystation_3254.tif", "storagetanks_4367.tif",
                                       "viaduct_4635.tif"]  # fmt: skip


@pytest.mark.slow
def test_rsicd(shared_dir: Path, tmp_path: Path, capsys) -> None:
    annotations = shared_dir / "datasets" / "rsicd"
    images = _placeholders(annotations, tmp_path / "images")
    argv = ["prepare", "--dataset", "rsicd", "--annotations", str(annotations), "--images", str(images)]
    argv += ["--classes", str(annotations / "rsicd_classes.csv"), "--out", str(tmp_path / "rsicd")]
    summary, errors = _run(argv, capsys)
    assert "warning: 3 blank captions dropped: train_caps.txt:5701" in errors  # three " ." lines
    assert summary == {
        "dataset": "rsicd",
        "train_images": 9828,
        "train_captions": 49137,
        "test_images": 1093,
        "test_captions": 5465,
        "classes": 31,
        "blank_captions": 3,
        "missing_images": 0,
    }
    index = load_index(tmp_path / "rsicd")
    assert "playfields" in index.classes and len(index.split_ids("test")) == 1093

"""`pirlib prepare` on small hand-made annotation folders: the three formats and every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pirlib.cli import main
from pirlib.data import load_index
from pirlib.data.prepare import PrepareError, prepare_dataset

TRAIN = ["boat_1.tif", "boat_2.tif", "pond_1.tif"]
TEST = ["pond_2.tif", "boat_3.tif"]


def _captions(name: str) -> list[str]:
    return [f"A {name.split('_')[0]} picture, number {k}." for k in range(5)]


def _images(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (8, 8), (30, 60, 90)).save(folder / name)
    return folder


def _precomp(folder: Path, train_captions: list[str] | None = None) -> Path:
    """Train: one filename per image + 5 caption lines each; test: one filename per caption line."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_filename.txt").write_text("\n".join(TRAIN) + "\n")
    captions = train_captions or [c for name in TRAIN for c in _captions(name)]
    (folder / "train_caps.txt").write_text("\n".join(captions) + "\n")
    (folder / "test_filename.txt").write_text("\n".join(name for name in TEST for _ in range(5)) + "\n")
    (folder / "test_caps.txt").write_text("\n".join(c for name in TEST for c in _captions(name)) + "\n")
    return folder


def _prepare(tmp_path: Path, annotations: Path, **kwargs) -> dict:
    images = kwargs.pop("images", None) or _images(tmp_path / "images", TRAIN + TEST)
    return prepare_dataset("rsitmd", annotations, images, tmp_path / "out", **kwargs)


EXPECTED = {
    "dataset": "rsitmd",
    "train_images": 3,
    "train_captions": 15,
    "test_images": 2,
    "test_captions": 10,
    "classes": 2,
    "blank_captions": 0,
    "missing_images": 0,
}


def test_precomp_text_format(tmp_path: Path) -> None:
    assert _prepare(tmp_path, _precomp(tmp_path / "ann")) == EXPECTED
    index = load_index(tmp_path / "out")
    assert index.classes == ("boat", "pond")
    assert [record.file for record in index.images] == TRAIN + TEST
    assert [record.label for record in index.images] == [0, 0, 1, 1, 0]
    assert index.images[3].captions[2] == "a pond picture number 2"
    assert index.image_root == (tmp_path / "images").resolve()
    sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
    assert sheet["splits"]["train"]["class_histogram"] == {"boat": 2, "pond": 1}
    assert sheet["caption_words"]["max"] == 5 and sheet["vocabulary_size"] == 10


def test_xvlm_json_format(tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    folder.mkdir()
    train = [
        {"image": name, "caption": caption, "image_id": k, "label": 0}
        for k, name in enumerate(TRAIN)
        for caption in _captions(name)
    ]
    test = [{"image": name, "caption": _captions(name)} for name in TEST]
    (folder / "rsitmd_train.json").write_text(json.dumps(train))
    (folder / "rsitmd_test.json").write_text(json.dumps(test))
    assert _prepare(tmp_path, folder) == EXPECTED


def test_original_dataset_json_format_merges_val_into_train(tmp_path: Path) -> None:
    splits = {"boat_1.tif": "train", "boat_2.tif": "val", "pond_1.tif": "train", "pond_2.tif": "test"}
    splits["boat_3.tif"] = "test"
    data = {
        "images": [
            {"filename": name, "split": split, "sentences": [{"raw": c, "tokens": []} for c in _captions(name)]}
            for name, split in splits.items()
        ]
    }
    (tmp_path / "dataset_rsitmd.json").write_text(json.dumps(data))
    assert _prepare(tmp_path, tmp_path / "dataset_rsitmd.json") == EXPECTED


def test_missing_image_fails_listing_it(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", TRAIN + TEST[:1])
    with pytest.raises(PrepareError, match=r"1 missing images: .*boat_3\.tif") as caught:
        _prepare(tmp_path, _precomp(tmp_path / "ann"), images=images)
    assert caught.value.summary["missing_images"] == 1
    assert not (tmp_path / "out").exists()


def test_corrupt_image_fails(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", TRAIN + TEST)
    (images / "pond_1.tif").write_bytes(b"\x00garbage")
    with pytest.raises(PrepareError, match=r"1 unreadable images: .*pond_1\.tif"):
        _prepare(tmp_path, _precomp(tmp_path / "ann"), images=images)


def test_blank_captions_are_dropped_and_reported(tmp_path: Path) -> None:
    captions = [c for name in TRAIN for c in _captions(name)]
    captions[6], captions[7] = "", " ."
    with pytest.warns(UserWarning, match=r"2 blank captions dropped: train_caps\.txt:7, train_caps\.txt:8"):
        summary = _prepare(tmp_path, _precomp(tmp_path / "ann", captions))
    assert summary == {**EXPECTED, "train_captions": 13, "blank_captions": 2}
    assert len(load_index(tmp_path / "out").images[1].captions) == 3
    sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
    assert sheet["blank_captions"] == ["train_caps.txt:7", "train_caps.txt:8"]


def test_a_training_image_with_only_blank_captions_is_kept_without_caption(tmp_path: Path) -> None:
    captions = [c for name in TRAIN for c in _captions(name)]
    captions[10:15] = [""] * 5
    with pytest.warns(UserWarning) as caught:
        summary = _prepare(tmp_path, _precomp(tmp_path / "ann", captions))
    assert [str(warning.message)[:18] for warning in caught] == ["5 blank captions d", "1 training images "]
    assert str(caught[1].message).endswith("pond_1.tif")
    assert summary["train_images"] == 3 and summary["train_captions"] == 10 and summary["blank_captions"] == 5
    index = load_index(tmp_path / "out")
    assert [record.captions for record in index.images if record.file == "pond_1.tif"] == [()]
    sheet = json.loads((tmp_path / "out" / "datasheet.json").read_text())
    assert sheet["images_without_captions"] == ["pond_1.tif"]


def test_count_mismatch_fails_with_both_counts(tmp_path: Path) -> None:
    folder = _precomp(tmp_path / "ann")
    (folder / "train_caps.txt").write_text("\n".join(c for name in TRAIN for c in _captions(name)[:4]) + "\n")
    with pytest.raises(PrepareError, match=r"12 captions for 3 images .*expected 5 x 3 = 15"):
        _prepare(tmp_path, folder)
    (folder / "train_caps.txt").write_text("\n".join(c for name in TRAIN for c in _captions(name)) + "\n")
    (folder / "test_caps.txt").write_text("one\ntwo\n")
    with pytest.raises(PrepareError, match=r"2 captions but test_filename\.txt names 10"):
        _prepare(tmp_path, folder)


def test_unknown_classes(tmp_path: Path) -> None:
    folder = _precomp(tmp_path / "ann")
    csv = tmp_path / "classes.csv"
    csv.write_text("filename,class\n" + "".join(f"{name},c{k % 2}\n" for k, name in enumerate(TRAIN + TEST[:1])))
    with pytest.raises(PrepareError, match=r"1 images are not in the class file: boat_3\.tif"):
        _prepare(tmp_path, folder, classes_file=csv)
    names = tmp_path / "names.txt"
    names.write_text("pond\n")
    with pytest.raises(PrepareError, match=r"unknown classes boat"):
        _prepare(tmp_path, folder, class_names_file=names)
    names.write_text("pond\nboat\nairport\n")
    assert _prepare(tmp_path, folder, class_names_file=names)["classes"] == 3
    assert load_index(tmp_path / "out").images[0].label == 1


def test_rsicd_needs_a_class_file(tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match="--classes"):
        prepare_dataset("rsicd", _precomp(tmp_path / "ann"), tmp_path, tmp_path / "out")


def test_command_prints_one_json_line(tmp_path: Path, capsys) -> None:
    annotations, images = _precomp(tmp_path / "ann"), _images(tmp_path / "images", TRAIN + TEST)
    argv = ["prepare", "--dataset", "rsitmd", "--annotations", str(annotations), "--images", str(images)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == EXPECTED
    (images / "boat_1.tif").unlink()
    assert main([*argv, "--out", str(tmp_path / "out2")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["missing_images"] == 1
    assert "boat_1.tif" in captured.err

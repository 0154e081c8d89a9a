"""SynthRS generator: determinism, on-disk format, datasheet, captions, noise control, the synth command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pirlib.cli import main
from pirlib.data.captions import pre_caption
from pirlib.data.format import load_index
from pirlib.data.synthrs import CLASS_NAMES, GROUPS, SCENES, SynthSettings, generate_synthrs, is_generated
from pirlib.data.synthrs.captions import COUNT_WORDS, describe
from pirlib.data.synthrs.layout import WATER_LANDMARKS, allowed_relations, sample_plan
from pirlib.data.synthrs.render import render

TINY = SynthSettings(images=48, test_images=16, size=32, seed=3, noise=0.5)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthrs")
    return out, generate_synthrs(out, TINY)


def test_scene_vocabulary_has_confusable_groups():
    assert len(SCENES) >= 12
    assert {
        "airport",
        "stadium",
        "pond",
        "farmland",
        "parking",
        "port",
        "bridge",
        "beach",
        "residential",
        "industrial",
        "playground",
        "river",
    } <= set(CLASS_NAMES)
    for group in GROUPS:
        members = [s for s in SCENES if s.group == group]
        assert len(members) >= 3, group
        shapes = [shape for s in members for shape in s.key_shapes]
        assert len(set(shapes)) < len(shapes), f"group {group}: no key-object shape is shared"
        textures = [set(s.ground) for s in members]
        assert set.intersection(*textures), f"group {group}: no shared ground texture"


def test_same_arguments_give_identical_bytes(tiny, tmp_path):
    out, _ = tiny
    generate_synthrs(tmp_path, TINY)
    assert _tree_digests(tmp_path) == _tree_digests(out)


def test_worker_processes_do_not_change_the_output(tmp_path):
    settings = SynthSettings(images=12, test_images=4, size=24, seed=5, noise=0.7)
    generate_synthrs(tmp_path / "serial", settings)
    generate_synthrs(tmp_path / "parallel", settings, workers=2)
    assert _tree_digests(tmp_path / "serial") == _tree_digests(tmp_path / "parallel")


def test_another_seed_gives_other_data(tiny, tmp_path):
    out, _ = tiny
    generate_synthrs(tmp_path, SynthSettings(**{**TINY.__dict__, "seed": 4}))
    assert _digest(tmp_path / "dataset.json") != _digest(out / "dataset.json")


def test_on_disk_format_is_the_shared_one(tiny):
    out, _ = tiny
    index = load_index(out)
    assert index.name == "synthrs" and index.classes == CLASS_NAMES
    assert len(index.split_ids("train")) == TINY.images - TINY.test_images
    assert len(index.split_ids("test")) == TINY.test_images
    assert index.split_ids("train") == list(range(TINY.images - TINY.test_images))  # train images first
    for image_id in (0, TINY.images - 1):
        record = index.images[image_id]
        assert record.file.startswith(CLASS_NAMES[record.label] + "_")  # the class is the filename prefix
        with Image.open(index.image_path(image_id)) as image:
            assert image.mode == "RGB" and image.size == (TINY.size, TINY.size)
    attributes = json.loads((out / "attributes.json").read_text())["images"]
    assert [a["file"] for a in attributes] == [r.file for r in index.images]
    assert all(a["label"] == r.label for a, r in zip(attributes, index.images, strict=True))


def test_datasheet_counts_and_statistics(tiny):
    out, sheet = tiny
    assert json.loads((out / "datasheet.json").read_text()) == sheet
    assert sheet["images"] == {"train": 32, "test": 16, "total": 48}
    assert sheet["captions"]["total"] == 5 * 48 == sheet["captions"]["distinct"]
    assert sheet["captions"]["per_image"] == [5]
    assert sum(sheet["class_histogram"]["train"].values()) == 32
    assert max(sheet["class_histogram"]["test"].values()) - min(sheet["class_histogram"]["test"].values()) <= 1
    lengths = sheet["caption_length_words"]
    assert 3 <= lengths["min"] <= lengths["mean"] <= lengths["max"] <= 30
    assert sheet["vocabulary_size"]["train"] > 50
    assert sheet["settings"]["seed"] == TINY.seed and sheet["settings"]["generator_version"] >= 1
    assert set(sheet["key_objects"]) >= {"shape", "colour", "size", "count", "relation"}


def test_captions_are_varied_normal_and_unique_across_images(tiny):
    out, _ = tiny
    index = load_index(out)
    seen = set()
    for record in index.images:
        assert len(record.captions) == 5 and len(set(record.captions)) == 5
        assert not seen & set(record.captions), "a caption repeats one of another image"
        seen |= set(record.captions)
        for text in record.captions:
            assert pre_caption(text) == text and text.islower()


def test_captions_say_only_what_the_image_shows():
    for label, scene in enumerate(SCENES):
        rng = np.random.default_rng([11, label])
        plan = sample_plan(rng, label, noise=1.0)
        for text, mentions in describe(plan, rng):
            words = f" {text} "
            assert mentions["shape"] == plan.key_shape
            if mentions["colour"]:
                assert f" {plan.key_colour} " in words
            if mentions["count"]:
                assert any(f" {w} " in words or words.startswith(f" {w} ") for w in COUNT_WORDS[plan.key_count])
            if mentions["scene"]:
                assert any(w in text for w in scene.words)
            distractor_colours = {d.colour for d in plan.distractors} - {plan.key_colour}
            assert not any(f" {c} " in words for c in distractor_colours), "a distractor's colour is mentioned"


def test_plans_are_physically_consistent():
    for label in range(len(SCENES)):
        for k in range(20):
            plan = sample_plan(np.random.default_rng([label, k]), label, noise=0.5)
            assert len(plan.key_objects) == plan.key_count and 1 <= plan.key_count <= 6
            assert plan.relation in allowed_relations(plan.landmarks[0].name, plan.key_shape, plan.key_count)
            assert plan.key_shape in SCENES[label].key_shapes
            assert all(d.shape not in SCENES[label].key_shapes for d in plan.distractors)
            assert all(0 < o.x < 1 and 0 < o.y < 1 for o in plan.key_objects)
            if plan.key_shape == "elongated":
                assert plan.landmarks[0].name in WATER_LANDMARKS


def test_every_scene_renders():
    for label in range(len(SCENES)):
        rng = np.random.default_rng(label)
        image = render(sample_plan(rng, label, noise=1.0), 40, rng)
        pixels = np.asarray(image)
        assert pixels.shape == (40, 40, 3) and pixels.std() > 5


def test_noise_level_scales_the_semantic_noise(tmp_path):
    sheets = {
        noise: generate_synthrs(tmp_path / str(noise), SynthSettings(images=32, test_images=8, size=24, noise=noise))
        for noise in (0.0, 1.5)
    }
    assert sheets[0.0]["noise_per_image"] == {
        "distractors": 0,
        "distractors_in_key_colour": 0,
        "texture_patches": 0,
        "shadows": 0,
        "clouds": 0,
    }
    assert sheets[1.5]["noise_per_image"]["distractors"] > 4
    assert sheets[1.5]["noise_per_image"]["clouds"] > 0.5


def test_invalid_settings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="--test-images"):
        generate_synthrs(tmp_path, SynthSettings(images=10, test_images=10))
    with pytest.raises(ValueError, match="--noise"):
        generate_synthrs(tmp_path, SynthSettings(images=10, test_images=2, noise=-1))


def test_refuses_to_overwrite_another_dataset(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "rsitmd"}))
    with pytest.raises(ValueError, match="rsitmd"):
        generate_synthrs(tmp_path, SynthSettings(images=4, test_images=1, size=16))


def test_a_smaller_run_removes_its_stale_images_only(tmp_path):
    generate_synthrs(tmp_path, SynthSettings(images=8, test_images=2, size=16))
    (tmp_path / "images" / "mine.png").write_bytes(b"not synthrs")
    generate_synthrs(tmp_path, SynthSettings(images=4, test_images=1, size=16))
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert files == sorted([r.file for r in load_index(tmp_path).images] + ["mine.png"])


def test_synth_command(tmp_path, capsys):
    out = tmp_path / "cli"
    arguments = ["synth", "--out", str(out), "--images", "20", "--test-images", "4", "--size", "24", "--seed", "1"]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {
        "captions": 100,
        "classes": len(SCENES),
        "dataset": "synthrs",
        "test": 4,
        "train": 16,
        "vocabulary": summary["vocabulary"],
    }
    assert is_generated(out, SynthSettings(20, 4, 24, 1))
    assert main(arguments) == 0
    assert "already holds" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--images", "5", "--test-images", "9"]) == 2
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "dataset.json").write_text(json.dumps({"name": "rsicd"}))
    assert main(["synth", "--out", str(tmp_path / "real"), "--images", "4", "--test-images", "1"]) == 2
    assert "rsicd" in capsys.readouterr().err

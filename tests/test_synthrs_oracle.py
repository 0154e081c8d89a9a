"""SynthRS calibration tools: the oracle ladder and the scene probe."""

from __future__ import annotations

import numpy as np
import pytest

from pirlib.data.synthrs import SynthSettings, generate_synthrs, oracle_ladder, scene_probe
from pirlib.data.synthrs.oracle import LADDER, oracle_similarity


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthrs_oracle")
    generate_synthrs(out, SynthSettings(images=112, test_images=48, size=24, seed=2, noise=0.5))
    return out


def _record(label, colour, count, mentions):
    key = {"shape": "round", "colour": colour, "size": "small", "count": count}
    full = {"shape": "round", "colour": None, "count": None, "size": None, "relation": None, "landmark": None}
    return {
        "label": label,
        "key": key,
        "relation": "next_to",
        "landmark": "road",
        "captions": [{"mentions": {**full, **m}} for m in mentions],
    }


def test_oracle_similarity_counts_agreeing_known_attributes():
    records = [
        _record(0, "red", 2, [{"colour": "red"}, {}]),
        _record(0, "blue", 3, [{"colour": "blue", "count": 3}]),
        _record(1, "red", 2, [{"count": 2}]),
    ]
    rng = np.random.default_rng(0)
    score = np.floor(oracle_similarity(records, ("scene", "colour", "count"), rng))  # drop the tie-break fraction
    expected = np.array(
        [
            [2, 1, 1, 1],  # image 0: its red caption (scene + colour), its plain one (scene), image 1's (scene), ...
            [1, 1, 3, 0],
            [1, 0, 0, 2],
        ]
    )
    np.testing.assert_array_equal(score, expected)
    ties = oracle_similarity(records, ("scene",), rng) % 1.0
    assert ((ties >= 0) & (ties < 0.5)).all() and len(np.unique(ties)) == ties.size


def test_oracle_ladder_climbs(dataset):
    ladder = oracle_ladder(dataset, seed=0)
    assert list(ladder) == ["chance", *LADDER]
    mR = [ladder[name]["mR"] for name in ladder]
    assert mR[0] < mR[1] < mR[2] < mR[-1]  # chance < scene < scene+colour < everything
    assert ladder["everything"]["mR"] > 80
    assert oracle_ladder(dataset, seed=0) == ladder  # seeded tie-breaks


def test_scene_probe_reports_accuracy_and_confusion(dataset):
    probe = scene_probe(dataset)
    assert 0.0 <= probe["accuracy"] <= probe["group_accuracy"] <= 1.0
    assert len(probe["confusion"]) == len(probe["classes"])
    assert sum(map(sum, probe["confusion"])) == 48


def test_oracle_needs_a_synthrs_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="attributes.json"):
        oracle_ladder(tmp_path)

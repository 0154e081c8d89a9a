"""SynthRS token map: footprints of objects and landmarks on the Swin grid, the priority rule, a hand-made example,
and the attributes of a generated dataset."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from train_helpers import make_synthrs

from pirlib.data.format import load_index
from pirlib.data.synthrs.token_map import (
    TOKEN_KINDS,
    TokenMapConfig,
    cell_coverage,
    load_attribute_records,
    token_kinds,
)

G = 7  # the tiny profile's grid: 112 px images, 16 px cells
CELL = 1 / G


def centre(row: int, column: int) -> tuple[float, float]:
    """(x, y) of the centre of grid cell (row, column) in fractions of the image side."""
    return (column + 0.5) * CELL, (row + 0.5) * CELL


def obj(shape: str, size: str, x: float, y: float, angle: float = 0.0) -> dict:
    return {"shape": shape, "colour": "red", "size": size, "x": x, "y": y, "angle": angle}


def landmark(name: str, geometry: str, x: float, y: float, angle=0.0, half_width=0.0, radii=(0.0, 0.0)) -> dict:
    return {
        "name": name,
        "geometry": geometry,
        "center": [x, y],
        "angle": angle,
        "half_width": half_width,
        "radii": list(radii),
        "meander": [0.0, 0.0, 0.0],
    }


def record(keys=(), distractors=(), landmarks=(), trees=()) -> dict:
    return {
        "key": {"objects": list(keys)},
        "distractors": list(distractors),
        "landmark_geometry": list(landmarks),
        "tree_positions": [list(tree) for tree in trees],
    }


def kind_grid(kinds: np.ndarray) -> np.ndarray:
    """[g, g] kind names of the grid tokens."""
    return np.array(TOKEN_KINDS)[kinds[1:]].reshape(G, G)


def test_hand_made_example():
    graze_x = 3 * CELL - 0.48 * 0.065 + 0.01  # a small disc 0.01 across the edge between columns 2 and 3
    example = record(
        keys=[
            obj("square", "large", *centre(1, 1)),
            obj("round", "small", *centre(5, 2)),  # on the road: key beats landmark
            obj("round", "small", graze_x, centre(3, 2)[1]),
        ],
        distractors=[
            obj("square", "small", *centre(1, 1)),  # under the key square: key beats distractor
            obj("triangular", "large", *centre(3, 5)),
            obj("round", "small", 6 * CELL + 0.002, CELL + 0.002),  # split in four parts < 5 %, the largest in (1, 6)
        ],
        landmarks=[landmark("road", "band", 0.5, centre(5, 0)[1], half_width=CELL / 2)],  # exactly row 5
        trees=[(*centre(6, 6), 0.03)],
    )
    expected = np.full((G, G), "background", dtype=object)
    expected[5, :] = "landmark"
    expected[6, 6] = "landmark"
    expected[1, 1] = expected[5, 2] = expected[3, 2] = "key"
    expected[3, 5] = expected[1, 6] = "distractor"
    kinds = token_kinds(example, G)
    assert kinds.shape == (1 + G * G,) and TOKEN_KINDS[kinds[0]] == "global"
    assert (kind_grid(kinds) == expected).all()

    coverage = cell_coverage(example, G, samples_per_cell=64)  # [3, g, g]: key, distractor, landmark
    assert coverage[0, 1, 1] == pytest.approx((0.76 * 0.105 / CELL) ** 2, abs=0.01)  # the square glyph's area
    assert 0 < coverage[0, 3, 3] < 0.05  # the graze: too little to claim cell (3, 3)
    assert (coverage[1, :2, 5:] < 0.05).all() and coverage[1, 1, 6] == coverage[1, :2, 5:].max()
    assert coverage[2, 5].tolist() == [1.0] * G and coverage[2, :5].sum() == 0
    assert coverage[2, 6, 6] == pytest.approx(math.pi * 0.03**2 / CELL**2, abs=0.01)
    # With no threshold the graze claims its cell too.
    assert kind_grid(token_kinds(example, G, TokenMapConfig(min_coverage=1e-6)))[3, 3] == "key"


@pytest.mark.parametrize(
    "geometry, covered",
    [
        (landmark("parking_lot", "area", *centre(3, 3), radii=(1.5 * CELL, 0.5 * CELL)), [(3, 2), (3, 3), (3, 4)]),
        (landmark("road", "band", *centre(3, 3), angle=math.pi / 2, half_width=CELL / 2), [(r, 3) for r in range(G)]),
        (
            landmark("bridge", "band", *centre(3, 3), half_width=CELL / 2, radii=(CELL / 2, 0.0)),  # deck and river
            sorted({(3, c) for c in range(G)} | {(r, 3) for r in range(G)}),
        ),
        (landmark("coast", "coast", 0.5, 5 * CELL), [(r, c) for r in (5, 6) for c in range(G)]),  # the sea side
    ],
)
def test_landmark_footprints_cover_whole_cells(geometry, covered):
    coverage = cell_coverage(record(landmarks=[geometry]), G)[2]  # [g, g]
    expected = np.zeros((G, G))
    expected[tuple(zip(*covered, strict=True))] = 1.0
    np.testing.assert_array_equal(coverage, expected)


@pytest.mark.parametrize(
    "geometry, area",
    [
        (landmark("track", "ring", 0.5, 0.5, half_width=0.05, radii=(0.2, 0.2)), math.pi * 0.25**2),  # + infield
        (landmark("pond", "area", 0.5, 0.5, angle=math.pi / 3, radii=(0.2, 0.1)), math.pi * 0.2 * 0.1),
    ],
)
def test_round_landmarks_cover_their_area(geometry, area):
    coverage = cell_coverage(record(landmarks=[geometry]), G, samples_per_cell=32)[2]
    assert coverage.sum() * CELL**2 == pytest.approx(area, rel=0.01)


def test_rotation_moves_an_elongated_object():
    along_x = cell_coverage(record(keys=[obj("rectangular", "large", 0.5, 0.5)]), G, 128)[0]
    along_y = cell_coverage(record(keys=[obj("rectangular", "large", 0.5, 0.5, math.pi / 2)]), G, 128)[0]
    np.testing.assert_allclose(along_y, along_x.T, atol=1e-3)
    assert along_x.sum() * CELL**2 == pytest.approx(0.105 * 0.0525, rel=0.03)  # a 1 × 0.5 glyph


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory):
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def test_generated_attributes_give_a_token_map(synthrs):
    index = load_index(synthrs)
    records = load_attribute_records(synthrs)
    assert sorted(records) == sorted(image.file for image in index.images)
    for item in records.values():
        assert [lm["name"] for lm in item["landmark_geometry"]] == item["landmarks"]
        assert len(item["tree_positions"]) == item["trees"]
        kinds = token_kinds(item, G)
        assert (kinds[1:] == TOKEN_KINDS.index("key")).any(), item["file"]
        key_coverage = cell_coverage(item, G)[0]
        for key in item["key"]["objects"]:  # the cell under every key object's centre is partly key
            row, column = min(int(key["y"] * G), G - 1), min(int(key["x"] * G), G - 1)
            assert key_coverage[row, column] > 0, item["file"]


def test_attributes_without_geometry_are_refused(tmp_path):
    (tmp_path / "attributes.json").write_text(json.dumps({"images": [{"file": "a.png", "landmarks": ["road"]}]}))
    with pytest.raises(ValueError, match="no landmark geometry.*--force"):
        load_attribute_records(tmp_path)
    with pytest.raises(FileNotFoundError, match="pirlib synth"):
        load_attribute_records(tmp_path / "missing")

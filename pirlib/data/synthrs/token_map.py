"""SynthRS ground truth on the Swin token grid: what each vision token covers (to measure VIR, paper §3.2).

PIR's vision tokens are [global mean token, g × g grid cells row-major] (token n ≥ 1 is cell n - 1: row (n - 1) // g,
column (n - 1) % g; 7 × 7 for 112 px images and 16 px cells). SynthRS knows where everything it drew lies
(attributes.json), so every token gets one *kind*:

    global      token 0, the mean of all cells (it covers everything)
    key         a cell covered by the key objects the captions describe
    distractor  a cell covered by distractor objects (semantic noise the captions never mention)
    landmark    a cell covered by a landmark (road, river, pond, track, coast, trees ...)
    background  everything else: ground texture, foreign texture patches, buildings, shadows, clouds

Rule for a cell covered by several things: key objects, distractors and landmarks each cover some fraction of the
cell's area; a kind *claims* the cell when its fraction is at least `min_coverage` (default 5 %), and every object
also claims the one cell that holds the largest part of it (so that no object, however small or split, is lost);
the cell takes the first claiming kind in the order key > distractor > landmark, otherwise it is background.
Fractions are measured on `samples_per_cell`² points per cell (pixel centres of a raster of g × samples_per_cell
pixels a side).

Footprints, in fractions of the image side (x right, y down), from the attributes' geometry:
- objects: the glyph polygons render.py draws (shape, length, position, angle); their drop shadows are not counted.
- band (river, road, runway, bridge): |across| < half width from the winding centre line; a bridge adds the river
  it crosses (|along| < the river's half width).
- area: pond and lawn are the ellipse of their semi-axes (the drawn outline wobbles around it by up to a quarter of
  the radius); field, parking lot and plaza the rectangle.
- ring (track): the track and the infield inside it (the stands around it are not counted).
- coast: the sea side of the shoreline (the piers are not counted).
- trees: every tree disc (the landmark "trees" and the trees scattered in parks alike).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from pirlib.data.synthrs.layout import PlacedObject
from pirlib.data.synthrs.render import glyph_polygons

TOKEN_KINDS = ("global", "key", "distractor", "landmark", "background")  # code k of a token = its kind's position
COVERING_KINDS = ("key", "distractor", "landmark")  # in priority order
ATTRIBUTES_FILE = "attributes.json"


@dataclass(frozen=True)
class TokenMapConfig:
    min_coverage: float = 0.05  # fraction of a cell's area a kind must cover to claim the cell
    samples_per_cell: int = 16  # raster points per cell side used to measure the covered fractions


def load_attribute_records(data_root: str | os.PathLike) -> dict[str, dict]:
    """{image file: its attributes.json record}, checked to hold the geometry the token map needs."""
    path = Path(data_root) / ATTRIBUTES_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; the VIR ground truth needs a SynthRS directory (python -m pirlib synth --out "
            f"{data_root})"
        )
    records = json.loads(path.read_text())["images"]
    if records and "landmark_geometry" not in records[0]:
        raise ValueError(
            f"{path}: has no landmark geometry (written by an older SynthRS generator); regenerate it with "
            f"python -m pirlib synth --force --out {data_root} (the images stay byte-identical)"
        )
    return {record["file"]: record for record in records}


def _objects(records: list[dict]) -> list[PlacedObject]:
    return [PlacedObject(o["shape"], o["colour"], o["size"], o["x"], o["y"], o["angle"]) for o in records]


def object_polygons(record: dict, side: int) -> dict[str, list[list[tuple[float, float]]]]:
    """{"key": polygons, "distractor": polygons} of one image in pixel coordinates of a side × side image."""
    return {
        "key": [p for obj in _objects(record["key"]["objects"]) for p in glyph_polygons(obj, side)],
        "distractor": [p for obj in _objects(record["distractors"]) for p in glyph_polygons(obj, side)],
    }


def _polygon_mask(polygons: list[list[tuple[float, float]]], side: int) -> np.ndarray:
    """[side, side] bool: pixel centres (i + 0.5, j + 0.5) inside any of the polygons (pixel coordinates)."""
    centres = np.arange(side) + 0.5  # [side]
    points = np.stack(np.meshgrid(centres, centres), axis=-1).reshape(-1, 2)  # [side*side, 2] (x, y), row-major
    mask = np.zeros(side * side, dtype=bool)
    for polygon in polygons:
        mask |= MplPath(polygon).contains_points(points)
    return mask.reshape(side, side)


def _frame(landmark: dict, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) of the points (X, Y) in the landmark's rotated frame, around its centre."""
    cos, sin = math.cos(landmark["angle"]), math.sin(landmark["angle"])
    dx, dy = X - landmark["center"][0], Y - landmark["center"][1]
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _landmark_footprint(landmark: dict, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """[side, side] bool footprint of one landmark (see the module docstring)."""
    along, across = _frame(landmark, X, Y)
    amplitude, frequency, phase = landmark["meander"]
    rx, ry = landmark["radii"]
    geometry = landmark["geometry"]
    if geometry == "band":
        inside = np.abs(across - amplitude * np.sin(frequency * along + phase)) < landmark["half_width"]
        return inside | (np.abs(along) < rx) if landmark["name"] == "bridge" else inside
    if geometry == "coast":
        return across - amplitude * np.sin(frequency * along + phase) > 0
    if geometry == "area":
        if landmark["name"] in ("pond", "lawn"):
            return (along / rx) ** 2 + (across / ry) ** 2 < 1
        return (np.abs(along) < rx) & (np.abs(across) < ry)
    if geometry == "ring":
        return np.sqrt((along / rx) ** 2 + (across / ry) ** 2) < 1 + landmark["half_width"] / ry
    return np.zeros_like(X, dtype=bool)  # "trees": the tree discs are added by landmark_mask


def landmark_mask(record: dict, side: int) -> np.ndarray:
    """[side, side] bool: pixel centres of a side × side image covered by a landmark or a tree."""
    centres = (np.arange(side) + 0.5) / side  # [side]
    X, Y = np.meshgrid(centres, centres)  # [side, side] each, X along columns
    mask = np.zeros((side, side), dtype=bool)
    for landmark in record["landmark_geometry"]:
        mask |= _landmark_footprint(landmark, X, Y)
    for x, y, radius in record["tree_positions"]:
        mask |= (X - x) ** 2 + (Y - y) ** 2 < radius**2
    return mask


def _cells(mask: np.ndarray, grid_side: int) -> np.ndarray:
    """[side, side] bool → [g, g] covered fraction of each grid cell."""
    samples = mask.shape[0] // grid_side
    return mask.reshape(grid_side, samples, grid_side, samples).mean(axis=(1, 3))  # [g, s, g, s] → [g, g]


def _coverage_and_largest_parts(record: dict, grid_side: int, samples_per_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """([3, g, g] covered fractions of COVERING_KINDS, [2, g, g] bool: cells holding the largest part of a key
    object, of a distractor)."""
    side = grid_side * samples_per_cell
    coverage, largest = [], []
    for objects in (record["key"]["objects"], record["distractors"]):
        union = np.zeros((grid_side, grid_side))
        largest_parts = np.zeros((grid_side, grid_side), dtype=bool)
        masks = [_polygon_mask(glyph_polygons(o, side), side) for o in _objects(objects)]  # [side, side] each
        for mask in masks:
            largest_parts.flat[int(np.argmax(_cells(mask, grid_side)))] = True
        if masks:
            union = _cells(np.logical_or.reduce(masks), grid_side)
        coverage.append(union)
        largest.append(largest_parts)
    coverage.append(_cells(landmark_mask(record, side), grid_side))
    return np.stack(coverage), np.stack(largest)


def cell_coverage(record: dict, grid_side: int, samples_per_cell: int = 16) -> np.ndarray:
    """[3, g, g] fraction of each grid cell covered by key objects, distractors and landmarks (COVERING_KINDS)."""
    return _coverage_and_largest_parts(record, grid_side, samples_per_cell)[0]


def token_kinds(record: dict, grid_side: int, config: TokenMapConfig | None = None) -> np.ndarray:
    """[1 + g*g] int8 kind codes (positions in TOKEN_KINDS) of the tokens of one image; token 0 is "global"."""
    config = config or TokenMapConfig()
    coverage, largest = _coverage_and_largest_parts(record, grid_side, config.samples_per_cell)
    claimed = coverage >= config.min_coverage  # [3, g, g]
    claimed[:2] |= largest
    claimed = claimed.reshape(3, -1)  # [3, g*g] row-major
    first = np.where(claimed.any(axis=0), claimed.argmax(axis=0), len(COVERING_KINDS))  # [g*g], 3 = background
    kinds = np.empty(1 + grid_side * grid_side, dtype=np.int8)
    kinds[0] = TOKEN_KINDS.index("global")
    kinds[1:] = first + TOKEN_KINDS.index("key")
    return kinds


def token_kind_table(records: list[dict], grid_side: int, config: TokenMapConfig | None = None) -> np.ndarray:
    """[n_images, 1 + g*g] kind codes of several images."""
    return np.stack([token_kinds(record, grid_side, config) for record in records])

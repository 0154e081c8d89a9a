"""SynthRS drawing: turns an `ImagePlan` (layout.py) into an RGB image, top-down like an aerial photograph.

Order of the layers: ground texture, foreign texture patches (noise), landmarks and unmentioned layout details,
object shadows, trees, key objects and distractors (same palette and glyphs), shadow blobs, clouds, then a global
tone change and sensor noise. Drawing happens at `SUPERSAMPLE` times the output size and is box-filtered down, so
small objects keep clean edges. Everything is numpy or Pillow with fixed parameters: same plan and seed, same bytes.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from pirlib.data.synthrs.layout import ImagePlan, Landmark, PlacedObject
from pirlib.data.synthrs.scenes import COLOURS, SIZES, TREE, WATER
from pirlib.data.synthrs.textures import (
    ROOF_COLOURS,
    blend,
    blob_mask,
    coordinate_grid,
    gaussian_mask,
    texture_field,
    value_noise,
)

SUPERSAMPLE = 2
TRACK = np.array((0.68, 0.32, 0.26), dtype=np.float32)
LINE = np.array((0.93, 0.93, 0.90), dtype=np.float32)

# Glyph outlines in object units (long side = 1), centred, pointing along +x.
_CIRCLE = [(0.48 * math.cos(a), 0.48 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)]
GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "round": [_CIRCLE],
    "square": [[(-0.38, -0.38), (0.38, -0.38), (0.38, 0.38), (-0.38, 0.38)]],
    "rectangular": [[(-0.5, -0.25), (0.5, -0.25), (0.5, 0.25), (-0.5, 0.25)]],
    "triangular": [[(0.5, 0.0), (-0.4, -0.48), (-0.4, 0.48)]],
    "cross": [  # an aeroplane: fuselage, wings, tail
        [(-0.5, -0.08), (0.5, -0.08), (0.5, 0.08), (-0.5, 0.08)],
        [(-0.02, -0.5), (0.16, -0.5), (0.16, 0.5), (-0.02, 0.5)],
        [(-0.48, -0.2), (-0.38, -0.2), (-0.38, 0.2), (-0.48, 0.2)],
    ],
    "elongated": [[(-0.5, -0.16), (0.22, -0.16), (0.5, 0.0), (0.22, 0.16), (-0.5, 0.16)]],  # a hull
}


def glyph_polygons(obj: PlacedObject, canvas: int, offset: float = 0.0) -> list[list[tuple[float, float]]]:
    """Pixel polygons of one object (shifted by `offset` object lengths down-right, for its shadow)."""
    length = SIZES[obj.size] * canvas
    cos, sin = math.cos(obj.angle), math.sin(obj.angle)
    cx, cy = obj.x * canvas + offset * length, obj.y * canvas + offset * length
    return [
        [(cx + length * (u * cos - v * sin), cy + length * (u * sin + v * cos)) for u, v in polygon]
        for polygon in GLYPHS[obj.shape]
    ]


def _band_coordinates(landmark: Landmark, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) of every pixel in the band's frame; across is measured from the winding centre line."""
    cos, sin = math.cos(landmark.angle), math.sin(landmark.angle)
    dx, dy = X - landmark.center[0], Y - landmark.center[1]
    along = dx * cos + dy * sin  # [size, size]
    amplitude, frequency, phase = landmark.meander
    across = -dx * sin + dy * cos - amplitude * np.sin(frequency * along + phase)
    return along, across


def _edge(distance: np.ndarray, width: float, canvas: int) -> np.ndarray:
    """Mask of |distance| < width with a one-pixel soft edge."""
    return np.clip((width - np.abs(distance)) * canvas, 0.0, 1.0)


def _water(rng: np.random.Generator, size: int) -> np.ndarray:
    waves = value_noise(rng, size, 8) - 0.5  # [size, size]
    colour = np.asarray(WATER, dtype=np.float32) + rng.uniform(-0.04, 0.04, 3).astype(np.float32)
    return colour + (0.08 * waves)[..., None]  # [size, size, 3]


def _draw_band(rng, canvas: np.ndarray, landmark: Landmark, X, Y) -> np.ndarray:
    size = X.shape[0]
    along, across = _band_coordinates(landmark, X, Y)
    if landmark.name == "bridge":  # a river across the bridge, then the deck over it
        river = _edge(along, landmark.radii[0], size)
        canvas = blend(canvas, _water(rng, size), river)
        canvas = blend(canvas, np.float32(0.2), _edge(across, landmark.half_width * 1.25, size) * river)
    mask = _edge(across, landmark.half_width, size)
    if landmark.name == "river":
        return blend(canvas, _water(rng, size), mask)
    surface = {"road": (0.35, 0.36, 0.38), "runway": (0.58, 0.58, 0.56), "bridge": (0.66, 0.65, 0.62)}[landmark.name]
    canvas = blend(canvas, np.asarray(surface, dtype=np.float32), mask)
    dashes = (np.sin(2 * np.pi * along * (10 if landmark.name == "runway" else 16)) > 0).astype(np.float32)
    return blend(canvas, LINE, _edge(across, 0.004, size) * dashes * 0.9)


def _draw_area(rng, canvas: np.ndarray, landmark: Landmark, X, Y) -> np.ndarray:
    size = X.shape[0]
    cos, sin = math.cos(landmark.angle), math.sin(landmark.angle)
    u = (X - landmark.center[0]) * cos + (Y - landmark.center[1]) * sin  # [size, size] in the area's frame
    v = -(X - landmark.center[0]) * sin + (Y - landmark.center[1]) * cos
    rx, ry = landmark.radii
    if landmark.name in ("pond", "lawn"):
        wobble = value_noise(rng, size, 5)
        mask = blob_mask(u, v, 0.0, 0.0, rx, ry, wobble, softness=0.05)
        fill = _water(rng, size) if landmark.name == "pond" else texture_field(rng, "grass", X, Y) * 1.12
        return blend(canvas, fill, mask)
    mask = _edge(u, rx, size) * _edge(v, ry, size)  # a rectangle
    if landmark.name == "field":
        return blend(canvas, texture_field(rng, "crops", X, Y), mask)
    if landmark.name == "parking_lot":
        stripes = ((u * 30.0) % 1.0 < 0.12) & (np.abs(v) > 0.03)
        return blend(canvas, np.where(stripes[..., None], LINE, np.float32(0.34)), mask)
    tiles = ((u * 25.0) % 1.0 < 0.06) | ((v * 25.0) % 1.0 < 0.06)  # plaza paving
    return blend(canvas, np.where(tiles[..., None], np.float32(0.62), np.float32(0.74)), mask)


def _draw_ring(rng, canvas: np.ndarray, landmark: Landmark, X, Y, stands: bool) -> np.ndarray:
    size = X.shape[0]
    cos, sin = math.cos(landmark.angle), math.sin(landmark.angle)
    u = (X - landmark.center[0]) * cos + (Y - landmark.center[1]) * sin
    v = -(X - landmark.center[0]) * sin + (Y - landmark.center[1]) * cos
    rx, ry = landmark.radii
    radius = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)  # 1 on the inner edge of the track
    thickness = landmark.half_width / ry  # in radius units
    scale = size * ry  # pixels per radius unit (along the short axis)
    if stands:
        canvas = blend(canvas, np.float32(0.55), _edge(radius - 1 - thickness - 0.15, 0.15, scale))
    canvas = blend(canvas, texture_field(rng, "grass", X, Y), np.clip((1.0 - radius) * scale, 0.0, 1.0))
    track = _edge(radius - 1 - thickness / 2, thickness / 2, scale)
    lanes = (((radius - 1) / thickness * 4) % 1.0 < 0.18).astype(np.float32)
    return blend(canvas, np.where(lanes[..., None] > 0, LINE, TRACK), track)


def _draw_coast(rng, canvas: np.ndarray, landmark: Landmark, X, Y, piers: bool) -> np.ndarray:
    size = X.shape[0]
    along, across = _band_coordinates(landmark, X, Y)
    sea = np.clip(across * size, 0.0, 1.0)
    canvas = blend(canvas, _water(rng, size), sea)
    canvas = blend(canvas, np.float32(0.85), 0.5 * _edge(across - 0.008, 0.004, size))  # surf line
    if piers:
        for position in rng.uniform(-0.35, 0.35, size=int(rng.integers(2, 4))):
            pier = _edge(along - position, 0.02, size) * (across > 0) * (across < rng.uniform(0.12, 0.22))
            canvas = blend(canvas, np.float32(0.64), pier)
    return canvas


def _draw_buildings(rng, canvas: np.ndarray, X, Y) -> np.ndarray:
    size = X.shape[0]
    for _ in range(int(rng.integers(3, 8))):
        x, y = rng.uniform(0.05, 0.95, 2)
        half = rng.uniform(0.035, 0.07, 2)
        roof = ROOF_COLOURS[int(rng.integers(len(ROOF_COLOURS)))]
        canvas = blend(canvas, roof, _edge(X - x, half[0], size) * _edge(Y - y, half[1], size))
    return canvas


def _draw_objects(canvas: np.ndarray, plan: ImagePlan, rng: np.random.Generator) -> np.ndarray:
    size = canvas.shape[0]
    objects = plan.key_objects + plan.distractors
    shadow = Image.new("L", (size, size), 0)
    shadow_draw = ImageDraw.Draw(shadow)
    for obj in objects:
        for polygon in glyph_polygons(obj, size, offset=0.22):
            shadow_draw.polygon(polygon, fill=255)
    for x, y, radius in plan.tree_positions:
        r, dx = radius * size, 0.4 * radius * size
        shadow_draw.ellipse((x * size - r + dx, y * size - r + dx, x * size + r + dx, y * size + r + dx), fill=255)
    canvas = canvas * (1.0 - 0.45 / 255.0 * np.asarray(shadow, dtype=np.float32))[..., None]  # [size, size, 3]
    image = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for x, y, radius in plan.tree_positions:
        r = radius * size
        shade = np.clip(np.asarray(TREE) + rng.uniform(-0.04, 0.04, 3), 0, 1)
        draw.ellipse((x * size - r, y * size - r, x * size + r, y * size + r), fill=tuple(int(c * 255) for c in shade))
    for obj in objects:
        colour = np.clip(np.asarray(COLOURS[obj.colour]) + np.asarray(obj.colour_jitter), 0, 1)
        fill = tuple(int(round(c * 255)) for c in colour)
        outline = tuple(int(round(c * 160)) for c in colour)
        for polygon in glyph_polygons(obj, size):
            draw.polygon(polygon, fill=fill, outline=outline)
    return np.asarray(image, dtype=np.float32) / 255.0


def _weather(rng, canvas: np.ndarray, plan: ImagePlan, X, Y) -> np.ndarray:
    size = X.shape[0]
    if plan.shadows:
        wobble = value_noise(rng, size, 6)
        darkness = sum(d * gaussian_mask(X, Y, x, y, r) for x, y, r, d in plan.shadows) * (0.6 + 0.8 * wobble)
        canvas = canvas * (1.0 - np.clip(darkness, 0.0, 0.7))[..., None]
    if plan.clouds:
        puffs = 0.5 + value_noise(rng, size, 10)
        cover = sum(o * gaussian_mask(X, Y, x, y, r) for x, y, r, o in plan.clouds) * puffs
        canvas = blend(canvas, np.float32(0.97), np.clip(cover, 0.0, 0.92))
    return canvas


def render(plan: ImagePlan, size: int, rng: np.random.Generator) -> Image.Image:
    """Draw `plan` as a size × size RGB image."""
    canvas_size = size * SUPERSAMPLE
    X, Y = coordinate_grid(canvas_size)
    canvas = texture_field(rng, plan.ground, X, Y)
    for texture, x, y, rx, ry in plan.patches:
        mask = blob_mask(X, Y, x, y, rx, ry, value_noise(rng, canvas_size, 4), softness=0.3)
        canvas = blend(canvas, texture_field(rng, texture, X, Y), mask)
    if "buildings" in plan.extras:
        canvas = _draw_buildings(rng, canvas, X, Y)
    for landmark in reversed(plan.landmarks):  # the mentioned landmark last, on top
        if landmark.geometry == "band":
            canvas = _draw_band(rng, canvas, landmark, X, Y)
        elif landmark.geometry == "area":
            canvas = _draw_area(rng, canvas, landmark, X, Y)
        elif landmark.geometry == "ring":
            canvas = _draw_ring(rng, canvas, landmark, X, Y, stands="stands" in plan.extras)
        elif landmark.geometry == "coast":
            canvas = _draw_coast(rng, canvas, landmark, X, Y, piers="piers" in plan.extras)
    canvas = _draw_objects(canvas, plan, rng)
    canvas = _weather(rng, canvas, plan, X, Y)
    brightness, contrast, *tint = plan.tone
    canvas = ((canvas - 0.5) * contrast + 0.5) * brightness * np.asarray(tint, dtype=np.float32)
    canvas = canvas + 0.012 * rng.standard_normal(canvas.shape, dtype=np.float32)  # sensor noise
    pixels = (np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # [canvas, canvas, 3]
    return Image.fromarray(pixels).reduce(SUPERSAMPLE)

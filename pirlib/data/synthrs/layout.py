"""SynthRS scene plans: everything one image shows, sampled from a seeded generator before anything is drawn.

A plan holds the scene class, the ground texture, the landmarks and their geometry, the key objects (shape, colour,
size, count, relation to a landmark: what the captions describe) and the semantic noise (paper §1: distractor objects,
texture patches, shadows and clouds that the captions never mention). Coordinates are fractions of the image side,
x to the right and y downwards; `render.py` draws a plan, `captions.py` describes it.

`--noise` scales the semantic noise: distractors ~ Poisson(5 noise), texture patches ~ Poisson(2 noise), shadow and
cloud blobs ~ Poisson(noise) each. noise 0 leaves only the scene and its key objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pirlib.data.synthrs.scenes import (
    COLOURS,
    LANDMARKS,
    MAX_COUNT,
    RELATIONS_BY_GEOMETRY,
    SCENES,
    SHAPES,
    SIZES,
    TEXTURES,
    SceneClass,
)

WATER_LANDMARKS = ("river", "bridge", "pond", "coast")  # boats ("elongated") float only on these
PAVED_BANDS = ("road", "runway", "bridge")  # vehicles and planes may stand on these
KEY_COLOUR_SHARE = 0.4  # probability that a distractor copies the key objects' colour
FOREIGN_LANDMARK_PROBABILITY = 0.35  # an unmentioned landmark of another class of the same group


@dataclass
class Landmark:
    name: str  # key of LANDMARKS
    geometry: str  # band | area | ring | coast | trees
    center: tuple[float, float]
    angle: float  # radians: band direction, area/ring orientation, coast shoreline direction
    half_width: float = 0.0  # band half width / ring thickness
    radii: tuple[float, float] = (0.0, 0.0)  # area and ring semi-axes; bridge: (half width of its river, 0)
    meander: tuple[float, float, float] = (0.0, 0.0, 0.0)  # amplitude, frequency, phase of a winding band/coast

    def band_point(self, along: float, across: float) -> tuple[float, float]:
        """Point at `along` on the band axis and `across` from its (winding) centre line."""
        amplitude, frequency, phase = self.meander
        across = across + amplitude * math.sin(frequency * along + phase)
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        return self.center[0] + along * cos - across * sin, self.center[1] + along * sin + across * cos


@dataclass
class PlacedObject:
    shape: str
    colour: str
    size: str
    x: float
    y: float
    angle: float  # radians
    colour_jitter: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class ImagePlan:
    label: int
    scene: str
    group: str
    ground: str  # texture name
    landmarks: list[Landmark]  # landmarks[0] is the one the relation refers to
    relation: str
    key_shape: str
    key_colour: str
    key_size: str
    key_count: int
    key_objects: list[PlacedObject]
    distractors: list[PlacedObject]
    tree_positions: list[tuple[float, float, float]]  # x, y, radius
    patches: list[tuple[str, float, float, float, float]]  # texture, x, y, rx, ry
    shadows: list[tuple[float, float, float, float]]  # x, y, radius, darkness
    clouds: list[tuple[float, float, float, float]]  # x, y, radius, opacity
    extras: list[str] = field(default_factory=list)
    tone: tuple[float, float, float, float, float] = (1.0, 1.0, 1.0, 1.0, 1.0)  # brightness, contrast, r/g/b tint


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def make_landmark(rng: np.random.Generator, name: str) -> Landmark:
    geometry = LANDMARKS[name]["geometry"]
    center = (float(rng.uniform(0.38, 0.62)), float(rng.uniform(0.38, 0.62)))
    angle = float(rng.uniform(0, math.pi))
    if geometry == "band":
        half_width = {"river": 0.09, "road": 0.05, "runway": 0.08, "bridge": 0.045}[name] * float(rng.uniform(0.8, 1.2))
        amplitude = float(rng.uniform(0.0, 0.06)) if name == "river" else 0.0
        meander = (amplitude, float(rng.uniform(3.0, 7.0)), float(rng.uniform(0, 2 * math.pi)))
        river = (float(rng.uniform(0.12, 0.2)), 0.0) if name == "bridge" else (0.0, 0.0)  # half width of the river
        return Landmark(name, geometry, center, angle, half_width=half_width, radii=river, meander=meander)
    if geometry == "area":
        radius = float(rng.uniform(0.17, 0.28))
        return Landmark(name, geometry, center, angle, radii=(radius, radius * float(rng.uniform(0.6, 1.0))))
    if geometry == "ring":
        radius = float(rng.uniform(0.28, 0.36))
        center = (float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.45, 0.55)))
        return Landmark(name, geometry, center, angle, 0.05, (radius, radius * float(rng.uniform(0.55, 0.7))))
    if geometry == "coast":
        meander = (float(rng.uniform(0.0, 0.05)), float(rng.uniform(2.0, 6.0)), float(rng.uniform(0, 2 * math.pi)))
        return Landmark(name, geometry, center, angle, meander=meander)
    return Landmark(name, geometry, center, angle)  # trees: planted around the key objects


def allowed_relations(landmark: str, shape: str, count: int) -> list[str]:
    """Relations that make physical sense for `count` objects of `shape` and this landmark."""
    relations = list(RELATIONS_BY_GEOMETRY[LANDMARKS[landmark]["geometry"]])
    if shape == "elongated":  # boats stay on water
        keep = {"river": ("on", "along", "both_sides"), "bridge": ("both_sides", "next_to"), "pond": ("middle_of",)}
        relations = [r for r in relations if r in keep.get(landmark, ("on", "along", "next_to"))]
    elif landmark == "bridge":  # beside a bridge is the river: only vehicles on the deck
        relations = ["on"] if shape in ("rectangular", "cross") else []
    elif landmark not in PAVED_BANDS or shape not in ("rectangular", "cross"):
        relations = [r for r in relations if r != "on"]
    if count < 2:
        relations = [r for r in relations if r != "both_sides"]
    return relations


def _landmark_for(rng: np.random.Generator, scene: SceneClass, shape: str, count: int) -> tuple[str, str]:
    options = []
    for name in scene.landmarks:
        if shape == "elongated" and name not in WATER_LANDMARKS:
            continue
        options += [(name, relation) for relation in allowed_relations(name, shape, count)]
    if not options:
        raise ValueError(f"SynthRS scene '{scene.name}': no landmark/relation fits key shape '{shape}'")
    return _pick(rng, options)


def _row(landmark: Landmark, count: int, spacing: float, along0: float, across: float) -> list[tuple[float, float]]:
    start = along0 - spacing * (count - 1) / 2
    return [landmark.band_point(start + k * spacing, across) for k in range(count)]


def _cluster(rng: np.random.Generator, cx: float, cy: float, count: int, spacing: float) -> list[tuple[float, float]]:
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    points = []
    for k in range(count):
        row, column = divmod(k, columns)
        jitter = rng.uniform(-0.15, 0.15, size=2) * spacing
        points.append(
            (cx + (column - (columns - 1) / 2) * spacing + jitter[0], cy + (row - (rows - 1) / 2) * spacing + jitter[1])
        )
    return points


def _key_positions(rng, landmark: Landmark, relation: str, shape: str, count: int, length: float):
    """Centres of the key objects, arranged as `relation` says with respect to `landmark`."""
    spacing = 1.7 * length
    extent = spacing * (math.ceil(math.sqrt(count)) - 1) / 2  # half size of a cluster of `count` objects
    along0 = float(rng.uniform(-0.12, 0.12))
    side = 1.0 if rng.random() < 0.5 else -1.0
    if landmark.name == "bridge" and shape == "elongated":  # boats on the river, beside the bridge that crosses it
        offsets = [landmark.half_width + 0.8 * length + k * spacing for k in range(count)]
        if relation == "both_sides":
            offsets = [(1 if k % 2 == 0 else -1) * offsets[k // 2] for k in range(count)]
        else:
            offsets = [side * offset for offset in offsets]
        return [landmark.band_point(float(rng.uniform(-0.3, 0.3)) * landmark.radii[0], o) for o in offsets]
    if landmark.geometry == "coast":
        sea = 1.0 if shape == "elongated" else -1.0  # boats on the sea (+across side), everything else on land
        offset = sea * {"on": 0.12, "along": 0.05, "next_to": 0.06 + extent}[relation]
        if relation == "next_to":
            return [landmark.band_point(along0 + dx, offset + dy) for dx, dy in _cluster(rng, 0, 0, count, spacing)]
        return _row(landmark, count, spacing, along0, offset)
    if landmark.geometry == "band":
        margin = landmark.half_width + 0.7 * length
        if relation == "on":
            return _row(landmark, count, spacing, along0, float(rng.uniform(-0.3, 0.3)) * landmark.half_width)
        if relation == "along":
            return _row(landmark, count, spacing, along0, side * margin)
        if relation == "both_sides":
            first = (count + 1) // 2
            return _row(landmark, first, spacing, along0, margin) + _row(
                landmark, count - first, spacing, along0, -margin
            )
        cluster = _cluster(rng, 0.0, 0.0, count, spacing)
        return [landmark.band_point(along0 + dx, side * (margin + extent) + dy) for dx, dy in cluster]
    if landmark.geometry in ("area", "ring"):
        cx, cy = landmark.center
        if relation == "next_to":
            theta = float(rng.uniform(0, 2 * math.pi))
            reach = max(landmark.radii) + landmark.half_width + 0.6 * spacing + extent
            cx, cy = cx + reach * math.cos(theta), cy + reach * math.sin(theta)
        return _cluster(rng, cx, cy, count, spacing)
    return _cluster(rng, float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65)), count, spacing)


def _trees(rng, relation: str, key_points, length: float) -> list[tuple[float, float, float]]:
    """Trees: a ring around the key objects (surrounded by) or a clump beside them (next to)."""
    xs, ys = zip(*key_points, strict=True)
    cx, cy = float(np.mean(xs)), float(np.mean(ys))
    extent = max(math.hypot(x - cx, y - cy) for x, y in key_points) + length
    radius = float(rng.uniform(0.022, 0.032))
    if relation == "surrounded_by":
        ring = extent + 1.6 * radius
        number = max(8, int(2 * math.pi * ring / (1.7 * radius)))
        return [
            (cx + ring * math.cos(a), cy + ring * math.sin(a), radius * float(rng.uniform(0.85, 1.15)))
            for a in np.linspace(0, 2 * math.pi, number, endpoint=False) + rng.uniform(0, 1)
        ]
    theta = float(rng.uniform(0, 2 * math.pi))
    tx, ty = cx + (extent + 3 * radius) * math.cos(theta), cy + (extent + 3 * radius) * math.sin(theta)
    clump = rng.normal(0, 1.6 * radius, size=(int(rng.integers(6, 12)), 2))
    return [(tx + dx, ty + dy, radius * float(rng.uniform(0.8, 1.2))) for dx, dy in clump]


def _fit_inside(points: list[tuple[float, float]], length: float) -> list[tuple[float, float]]:
    """Shift the group so that every object lies inside the image (keeps the arrangement)."""
    margin = 0.6 * length + 0.01
    xs, ys = zip(*points, strict=True)
    dx = max(0.0, margin - min(xs)) - max(0.0, max(xs) - (1 - margin))
    dy = max(0.0, margin - min(ys)) - max(0.0, max(ys) - (1 - margin))
    return [(min(max(x + dx, margin), 1 - margin), min(max(y + dy, margin), 1 - margin)) for x, y in points]


def _distractors(rng, scene: SceneClass, key_colour: str, key_points, noise: float) -> list[PlacedObject]:
    """Unmentioned objects with shapes atypical of the scene, often in the key objects' colour."""
    atypical = [shape for shape in SHAPES if shape not in scene.key_shapes]
    colours = sorted(COLOURS)
    placed = []
    for _ in range(int(rng.poisson(5.0 * noise))):
        size = _pick(rng, sorted(SIZES))
        for _attempt in range(8):
            x, y = (float(v) for v in rng.uniform(0.06, 0.94, size=2))
            if all(math.hypot(x - kx, y - ky) > 2.2 * SIZES["large"] for kx, ky in key_points):
                break
        colour = key_colour if rng.random() < KEY_COLOUR_SHARE else _pick(rng, colours)
        jitter = tuple(float(v) for v in rng.uniform(-0.05, 0.05, size=3))
        placed.append(
            PlacedObject(_pick(rng, atypical), colour, size, x, y, float(rng.uniform(0, 2 * math.pi)), jitter)
        )
    return placed


def _semantic_noise(rng: np.random.Generator, scene: SceneClass, noise: float) -> tuple[list, list, list]:
    """Texture patches (of textures foreign to the scene), shadow blobs and clouds, all scaled by `noise`."""
    other_textures = sorted(t for t in TEXTURES if t not in scene.ground)
    patches = [
        (
            _pick(rng, other_textures),
            *(float(v) for v in rng.uniform(0.1, 0.9, size=2)),
            *(float(v) for v in rng.uniform(0.06, 0.18, size=2)),
        )
        for _ in range(int(rng.poisson(2.0 * noise)))
    ]
    shadows = [
        (
            *(float(v) for v in rng.uniform(0.0, 1.0, size=2)),
            float(rng.uniform(0.1, 0.25)),
            float(rng.uniform(0.25, 0.5)),
        )
        for _ in range(int(rng.poisson(noise)))
    ]
    clouds = [
        (
            *(float(v) for v in rng.uniform(0.0, 1.0, size=2)),
            float(rng.uniform(0.12, 0.3)),
            float(rng.uniform(0.4, 0.85)),
        )
        for _ in range(int(rng.poisson(noise)))
    ]
    return patches, shadows, clouds


def sample_plan(rng: np.random.Generator, label: int, noise: float) -> ImagePlan:
    """Everything one image of scene class `label` shows, drawn from `rng`."""
    scene = SCENES[label]
    shape = _pick(rng, scene.key_shapes)
    colour = _pick(rng, sorted(COLOURS))
    size = _pick(rng, sorted(SIZES))
    count = int(rng.integers(1, MAX_COUNT + 1))
    landmark_name, relation = _landmark_for(rng, scene, shape, count)
    length = SIZES[size]

    landmark = make_landmark(rng, landmark_name)
    landmarks = [landmark]
    for other in scene.landmarks:
        if other not in (landmark_name, "trees") and rng.random() < 0.5:
            landmarks.append(make_landmark(rng, other))
    peers = [s for s in SCENES if s.group == scene.group and s.name != scene.name]
    if rng.random() < FOREIGN_LANDMARK_PROBABILITY:
        foreign = _pick(rng, _pick(rng, peers).landmarks)
        if foreign not in ("trees", *(lm.name for lm in landmarks)):
            landmarks.append(make_landmark(rng, foreign))

    points = _fit_inside(_key_positions(rng, landmark, relation, shape, count, length), length)
    along_band = landmark.geometry in ("band", "coast") and relation in ("on", "along", "both_sides")
    base_angle = landmark.angle if along_band else float(rng.uniform(0, 2 * math.pi))
    keys = [
        PlacedObject(
            shape,
            colour,
            size,
            x,
            y,
            base_angle + float(rng.normal(0, 0.12)),
            tuple(float(v) for v in rng.uniform(-0.04, 0.04, size=3)),
        )
        for x, y in points
    ]
    trees = _trees(rng, relation, points, length) if landmark_name == "trees" else []
    if "trees" in scene.landmarks and landmark_name != "trees" and rng.random() < 0.5:
        trees = [(float(x), float(y), 0.025) for x, y in rng.uniform(0.05, 0.95, size=(int(rng.integers(3, 9)), 2))]

    patches, shadows, clouds = _semantic_noise(rng, scene, noise)
    tone = (
        float(rng.uniform(0.85, 1.15)),
        float(rng.uniform(0.85, 1.15)),
        *(float(v) for v in rng.uniform(0.94, 1.06, 3)),
    )
    return ImagePlan(
        label=label,
        scene=scene.name,
        group=scene.group,
        ground=_weighted(rng, scene.ground),
        landmarks=landmarks,
        relation=relation,
        key_shape=shape,
        key_colour=colour,
        key_size=size,
        key_count=count,
        key_objects=keys,
        distractors=_distractors(rng, scene, colour, points, noise),
        tree_positions=trees,
        patches=patches,
        shadows=shadows,
        clouds=clouds,
        extras=list(scene.extras),
        tone=tone,
    )

"""SynthRS vocabulary: scene classes, their confusable groups, ground textures, landmarks and key-object kinds.

SynthRS stands in for RSITMD / RSICD (paper §4.1) when no benchmark can be downloaded. It is built to have the problem
PIR addresses (paper §1, §3.2): small key objects that are typical of the scene amid semantic noise that the captions
never mention. Scene classes come in groups that share ground textures, landmarks and key-object shapes, so that,
as in the real benchmarks ("high intra-class diversity, low inter-class dissimilarity"), a scene is only recognisable
from the combination of cues and classes of one group are confused with one another.

Everything here is data: `render.py` draws it, `layout.py` samples it, `captions.py` names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Key-object colours (caption word -> RGB in [0, 1]); distractors use the same palette.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.14, 0.12),
    "white": (0.96, 0.96, 0.94),
    "blue": (0.14, 0.34, 0.92),
    "yellow": (0.96, 0.86, 0.14),
    "orange": (0.98, 0.54, 0.08),
    "purple": (0.56, 0.18, 0.72),
}

# Key-object shapes (glyphs drawn by render.py). Distractors use the same shapes.
SHAPES: tuple[str, ...] = ("round", "square", "rectangular", "triangular", "cross", "elongated")

# Object sizes: the glyph's long side as a fraction of the image side. Both are small (about one 16 px token at 112 px).
SIZES: dict[str, float] = {"small": 0.065, "large": 0.105}

MAX_COUNT = 6  # key objects per image: 1..MAX_COUNT

# Default nouns of each shape (singular, plural); a scene class may override them.
DEFAULT_NOUNS: dict[str, tuple[tuple[str, str], ...]] = {
    "round": (("storage tank", "storage tanks"), ("tank", "tanks")),
    "square": (("building", "buildings"), ("house", "houses")),
    "rectangular": (("car", "cars"), ("vehicle", "vehicles")),
    "triangular": (("tent", "tents"), ("hut", "huts")),
    "cross": (("plane", "planes"), ("airplane", "airplanes"), ("aircraft", "aircraft")),
    "elongated": (("boat", "boats"), ("ship", "ships")),
}

# Ground textures: base RGB and the amplitude of their low-frequency variation. "urban" and "crops" get a pattern.
TEXTURES: dict[str, tuple[tuple[float, float, float], float]] = {
    "grass": ((0.33, 0.50, 0.24), 0.10),
    "dry_grass": ((0.56, 0.58, 0.33), 0.10),
    "soil": ((0.55, 0.43, 0.31), 0.09),
    "sand": ((0.84, 0.78, 0.60), 0.07),
    "concrete": ((0.62, 0.62, 0.60), 0.07),
    "asphalt": ((0.36, 0.37, 0.39), 0.05),
    "urban": ((0.55, 0.52, 0.50), 0.16),
    "crops": ((0.45, 0.55, 0.28), 0.14),
}

WATER = (0.14, 0.28, 0.38)
TREE = (0.13, 0.30, 0.13)

# Landmarks: the large layout element the relation refers to. geometry: band | area | ring | coast | trees.
# words: how captions name it.
LANDMARKS: dict[str, dict] = {
    "river": {"geometry": "band", "words": ("river", "waterway")},
    "road": {"geometry": "band", "words": ("road", "street")},
    "runway": {"geometry": "band", "words": ("runway", "airstrip")},
    "bridge": {"geometry": "band", "words": ("bridge",)},
    "pond": {"geometry": "area", "words": ("pond", "lake")},
    "lawn": {"geometry": "area", "words": ("lawn", "grass field")},
    "field": {"geometry": "area", "words": ("field", "crop field")},
    "parking_lot": {"geometry": "area", "words": ("parking lot", "parking area")},
    "plaza": {"geometry": "area", "words": ("square", "plaza")},
    "track": {"geometry": "ring", "words": ("track", "running track")},
    "coast": {"geometry": "coast", "words": ("sea", "coastline", "shore")},
    "trees": {"geometry": "trees", "words": ("trees", "green trees")},
}

# Relations usable with each landmark geometry (the object arrangement render.py draws for it).
RELATIONS_BY_GEOMETRY: dict[str, tuple[str, ...]] = {
    "band": ("on", "along", "both_sides", "next_to"),
    "area": ("middle_of", "next_to"),
    "ring": ("middle_of", "next_to"),
    "coast": ("on", "along", "next_to"),
    "trees": ("surrounded_by", "next_to"),
}


@dataclass(frozen=True)
class SceneClass:
    name: str
    group: str  # scene classes of one group share textures, landmarks and shapes (the confusion zones)
    words: tuple[str, ...]  # how captions name the scene
    ground: dict[str, float]  # ground texture -> sampling weight
    landmarks: tuple[str, ...]  # layout elements (keys of LANDMARKS)
    key_shapes: tuple[str, ...]  # shapes typical of the scene (its key objects)
    nouns: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # per-shape noun overrides
    extras: tuple[str, ...] = ()  # unmentioned layout detail: "stands", "buildings", "piers", "stripes"

    def noun_options(self, shape: str) -> tuple[tuple[str, str], ...]:
        return self.nouns.get(shape, DEFAULT_NOUNS[shape])


_WATERFRONT = {"grass": 1.0, "sand": 1.0, "soil": 0.6, "concrete": 0.6}
_GREEN = {"grass": 1.0, "dry_grass": 1.0, "soil": 0.6, "crops": 0.5}
_SPORTS = {"grass": 1.0, "concrete": 1.0, "dry_grass": 0.5, "soil": 0.4}
_URBAN = {"concrete": 1.0, "asphalt": 0.7, "urban": 1.0, "soil": 0.3}


def _weights(base: dict[str, float], **boost: float) -> dict[str, float]:
    return {name: weight * boost.get(name, 1.0) for name, weight in base.items()}


SCENES: tuple[SceneClass, ...] = (
    # waterfront: water beside grass, sand or concrete; boats everywhere
    SceneClass(
        "river",
        "waterfront",
        ("river area", "riverside"),
        _weights(_WATERFRONT, grass=2.0),
        ("river",),
        ("elongated", "square"),
    ),
    SceneClass(
        "bridge",
        "waterfront",
        ("bridge area", "river crossing"),
        _WATERFRONT,
        ("bridge",),
        ("rectangular", "elongated"),
    ),
    SceneClass(
        "beach",
        "waterfront",
        ("beach",),
        _weights(_WATERFRONT, sand=3.0),
        ("coast",),
        ("triangular", "elongated"),
        nouns={"triangular": (("umbrella", "umbrellas"), ("parasol", "parasols"))},
    ),
    SceneClass(
        "port",
        "waterfront",
        ("port", "harbor"),
        _weights(_WATERFRONT, concrete=3.0),
        ("coast",),
        ("elongated", "round"),
        extras=("piers",),
    ),
    # green: grass, meadow and fields with ponds, lawns and trees
    SceneClass(
        "pond",
        "green",
        ("pond area", "lakeside"),
        _GREEN,
        ("pond", "trees"),
        ("elongated", "triangular"),
        nouns={"triangular": (("pavilion", "pavilions"), ("hut", "huts"))},
    ),
    SceneClass(
        "park",
        "green",
        ("park",),
        _weights(_GREEN, grass=2.0),
        ("pond", "lawn", "trees"),
        ("triangular", "square"),
        nouns={"triangular": (("pavilion", "pavilions"), ("tent", "tents"))},
    ),
    SceneClass(
        "meadow",
        "green",
        ("meadow", "pasture"),
        _weights(_GREEN, dry_grass=2.0),
        ("lawn", "trees"),
        ("triangular", "round"),
        nouns={"round": (("haystack", "haystacks"), ("bale", "bales"))},
    ),
    SceneClass(
        "farmland",
        "green",
        ("farmland", "farm"),
        _weights(_GREEN, crops=3.0),
        ("field", "road"),
        ("square", "round"),
        nouns={"round": (("silo", "silos"), ("storage tank", "storage tanks"))},
        extras=("stripes",),
    ),
    # sports: tracks on grass or concrete
    SceneClass(
        "playground",
        "sports",
        ("playground",),
        _SPORTS,
        ("track", "lawn"),
        ("rectangular", "triangular"),
        nouns={"rectangular": (("court", "courts"), ("tennis court", "tennis courts"))},
    ),
    SceneClass(
        "stadium",
        "sports",
        ("stadium",),
        _weights(_SPORTS, concrete=2.0),
        ("track",),
        ("rectangular", "square"),
        extras=("stands",),
    ),
    SceneClass(
        "school",
        "sports",
        ("school", "campus"),
        _SPORTS,
        ("track", "road"),
        ("square", "rectangular"),
        nouns={"rectangular": (("court", "courts"), ("basketball court", "basketball courts"))},
        extras=("buildings",),
    ),
    # urban: concrete, asphalt and roofs, with roads, plazas, lots and runways
    SceneClass(
        "residential",
        "urban",
        ("residential area", "neighborhood"),
        _weights(_URBAN, urban=2.0),
        ("road", "trees"),
        ("square", "rectangular"),
        extras=("buildings",),
    ),
    SceneClass(
        "commercial",
        "urban",
        ("commercial area", "downtown"),
        _URBAN,
        ("plaza", "road"),
        ("square", "round"),
        nouns={"round": (("round building", "round buildings"), ("dome", "domes"))},
    ),
    SceneClass(
        "industrial",
        "urban",
        ("industrial area", "factory"),
        _weights(_URBAN, concrete=2.0),
        ("road",),
        ("round", "square"),
        nouns={"square": (("factory", "factories"), ("warehouse", "warehouses"))},
    ),
    SceneClass(
        "parking",
        "urban",
        ("parking lot", "car park"),
        _weights(_URBAN, asphalt=2.0),
        ("parking_lot", "road"),
        ("rectangular", "square"),
    ),
    SceneClass(
        "airport",
        "urban",
        ("airport", "airfield"),
        _weights(_URBAN, concrete=2.0),
        ("runway",),
        ("cross", "rectangular"),
    ),
)

CLASS_NAMES: tuple[str, ...] = tuple(scene.name for scene in SCENES)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(scene.group for scene in SCENES))

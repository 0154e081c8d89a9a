"""SynthRS captions: fine-grained RSITMD-like sentences about an image's key objects, from varied templates.

A caption names the key objects (a noun, always; count, size, colour and a shape adjective, each optional) and,
depending on the template, the scene and the relation of the objects to a landmark, with synonyms and different
word orders. It never mentions the semantic noise (distractors, texture patches, shadows, clouds). Every caption comes
with the attributes it mentions (`mentions`), which the oracle ladder (oracle.py) uses.

Captions are lowercase words without punctuation, i.e. already normal under `pre_caption` (docs/official_behaviour.md
§1).
"""

from __future__ import annotations

import re

import numpy as np

from pirlib.data.synthrs.layout import ImagePlan
from pirlib.data.synthrs.scenes import LANDMARKS, SCENES

COUNT_WORDS = {
    1: ("a", "one", "a single"),
    2: ("two", "a pair of"),
    3: ("three",),
    4: ("four",),
    5: ("five",),
    6: ("six",),
}
VAGUE_COUNTS = ("some", "several", "a group of")  # used for 2..6 objects when the count is not mentioned
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
SHAPE_WORDS = {
    "round": ("round", "circular"),
    "square": ("square",),
    "rectangular": ("rectangular",),
    "triangular": ("triangular",),
    "cross": ("cross shaped",),
    "elongated": ("long", "slender"),
}
RELATION_WORDS = {
    "on": ("on {lm}",),
    "along": ("along {lm}", "lined up along {lm}", "in a row along {lm}"),
    "both_sides": ("on both sides of {lm}", "on either side of {lm}", "on the two sides of {lm}"),
    "next_to": ("next to {lm}", "beside {lm}", "near {lm}", "close to {lm}"),
    "middle_of": ("in the middle of {lm}", "in the center of {lm}", "inside {lm}"),
    "surrounded_by": ("surrounded by {lm}", "with {lm} around them", "encircled by {lm}"),
}
LANDMARK_ADJECTIVES = {  # always true of how render.py draws the landmark
    "river": ("dark", "long"),
    "road": ("grey", "straight"),
    "runway": ("long", "straight", "wide"),
    "bridge": ("long", "grey"),
    "pond": ("dark", "irregular"),
    "lawn": ("green", "bright green"),
    "field": ("striped", "cultivated"),
    "parking_lot": ("striped", "grey"),
    "plaza": ("paved", "light grey"),
    "track": ("red", "oval"),
    "coast": ("dark", "calm"),
    "trees": ("dense", "lush"),
}
GROUND_CLAUSES = {  # the ground texture, optionally appended
    "grass": ("on the green grass", "and the ground is covered with grass"),
    "dry_grass": ("on the yellowish grass", "and the grass around is dry"),
    "soil": ("on the bare brown soil", "and the ground is bare soil"),
    "sand": ("on the sandy ground", "and the ground is sandy"),
    "concrete": ("on the grey concrete ground", "and the ground is paved"),
    "asphalt": ("on the dark asphalt", "and the ground is dark grey"),
    "urban": ("in a densely built area", "among many roofs"),
    "crops": ("among striped crop fields", "and the fields around are cultivated"),
}
ADJECTIVE_PROBABILITY = 0.3
GROUND_CLAUSE_PROBABILITY = 0.3
PARTICIPLES = {"rectangular": ("parked",), "cross": ("parked", "standing"), "elongated": ("moored", "floating")}
MENTION_PROBABILITY = {"count": 0.8, "colour": 0.85, "size": 0.5, "shape_word": 0.25}

# Templates: {obj} objects, {be} is/are (+ participle), {there} there is/are, {rel} relation + landmark,
# {lm} the landmark alone, {scene} the scene word.
TEMPLATES = (
    "{obj} {be} {rel} in the {scene}",
    "in this {scene} {there} {obj} {rel}",
    "a {scene} with {obj} {rel}",
    "{obj} {be} {rel}",
    "there {be0} {obj} {rel} in the {scene}",
    "{rel} {there} {obj}",
    "{obj} {rel} in a {scene}",
    "this is a {scene} where {obj} {be} {rel}",
    "we can see {obj} {rel} in the {scene}",
    "{obj} and {lm} are in the {scene}",
    "the {scene} has {obj} {rel}",
    "{obj} {be0} situated {rel}",
    "{obj} can be seen in the {scene}",
    "in the {scene} {obj} {be} {rel}",
    "{lm} with {obj} {rel_short} in a {scene}",
    "it is a {scene} with {obj} {rel}",
    "an aerial view of {obj} {rel}",
    "this picture shows {obj} {rel} in a {scene}",
)
_RELATION_SHORT = {  # the relation seen from the landmark: "a river with three boats on it"
    "on": "on it",
    "along": "along it",
    "both_sides": "on both sides",
    "next_to": "beside it",
    "middle_of": "in the middle",
    "surrounded_by": "among them",
}
_ARTICLE = re.compile(r"\ba (?=[aeiou])")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _landmark_phrase(rng: np.random.Generator, landmark: str) -> str:
    word = _pick(rng, LANDMARKS[landmark]["words"])
    if rng.random() < ADJECTIVE_PROBABILITY:
        word = _pick(rng, LANDMARK_ADJECTIVES[landmark]) + " " + word
    return _pick(rng, ("some " + word, word, "many " + word)) if landmark == "trees" else "the " + word


def _object_phrase(rng: np.random.Generator, plan: ImagePlan, mentions: dict) -> str:
    scene = SCENES[plan.label]
    singular, plural = _pick(rng, scene.noun_options(plan.key_shape))
    count = plan.key_count
    words = []
    if count == 1 or rng.random() < MENTION_PROBABILITY["count"]:
        words.append(_pick(rng, COUNT_WORDS[count]))
        mentions["count"] = count
    else:
        words.append(_pick(rng, VAGUE_COUNTS))
    if rng.random() < MENTION_PROBABILITY["size"]:
        words.append(_pick(rng, SIZE_WORDS[plan.key_size]))
        mentions["size"] = plan.key_size
    if rng.random() < MENTION_PROBABILITY["colour"]:
        words.append(plan.key_colour)
        mentions["colour"] = plan.key_colour
    if rng.random() < MENTION_PROBABILITY["shape_word"] and _pick(rng, SHAPE_WORDS[plan.key_shape]) not in singular:
        words.append(_pick(rng, SHAPE_WORDS[plan.key_shape]))
    words.append(singular if count == 1 else plural)
    return " ".join(words)


def caption(plan: ImagePlan, rng: np.random.Generator) -> tuple[str, dict]:
    """One caption of `plan` and the attributes it mentions."""
    scene = SCENES[plan.label]
    mentions: dict = {
        "scene": False,
        "shape": plan.key_shape,
        "count": None,
        "colour": None,
        "size": None,
        "relation": None,
        "landmark": None,
    }
    template = _pick(rng, TEMPLATES)
    landmark = plan.landmarks[0].name
    lm = _landmark_phrase(rng, landmark)
    plural = plan.key_count > 1
    participle = _pick(rng, ("",) * 2 + PARTICIPLES.get(plan.key_shape, ("located",)))
    be = ("are" if plural else "is") + (" " + participle if participle else "")
    values = {
        "obj": _object_phrase(rng, plan, mentions),
        "be": be,
        "be0": "are" if plural else "is",
        "there": "there are" if plural else "there is",
        "rel": _pick(rng, RELATION_WORDS[plan.relation]).format(lm=lm),
        "rel_short": _RELATION_SHORT[plan.relation],
        "lm": lm,
        "scene": _pick(rng, scene.words),
    }
    if "{scene}" in template:
        mentions["scene"] = True
    if "{rel" in template:
        mentions["relation"] = plan.relation
    if "{rel" in template or "{lm}" in template:
        mentions["landmark"] = landmark
    text = template.format(**values)
    if rng.random() < GROUND_CLAUSE_PROBABILITY:
        text += " " + _pick(rng, GROUND_CLAUSES[plan.ground])
    text = _ARTICLE.sub("an ", " ".join(text.split()))
    return text, mentions


def describe(plan: ImagePlan, rng: np.random.Generator, number: int = 5, max_attempts: int = 200) -> list:
    """`number` distinct captions of `plan`: a list of (caption, mentions)."""
    captions: dict[str, dict] = {}
    for _ in range(max_attempts):
        text, mentions = caption(plan, rng)
        captions.setdefault(text, mentions)
        if len(captions) == number:
            return list(captions.items())
    raise RuntimeError(
        f"SynthRS: only {len(captions)} distinct captions for a {plan.scene} image after "
        f"{max_attempts} attempts; the templates are too few"
    )

"""SynthRS: the procedurally generated remote-sensing image-caption dataset that is pirlib's offline default.

`generate_synthrs(out, SynthSettings(...))` writes a dataset directory (`python -m pirlib synth` is its command line);
`oracle_ladder(out)` measures how much each caption attribute is worth for retrieval; `scene_probe(out)` shows how
separable the scenes are from global image statistics.
"""

from __future__ import annotations

from pirlib.data.synthrs.datasheet import caption_datasheet, format_datasheet, index_datasheet
from pirlib.data.synthrs.generate import SynthSettings, generate_synthrs, is_generated
from pirlib.data.synthrs.oracle import oracle_ladder
from pirlib.data.synthrs.probe import scene_probe
from pirlib.data.synthrs.scenes import CLASS_NAMES, GROUPS, SCENES

__all__ = [
    "CLASS_NAMES",
    "GROUPS",
    "SCENES",
    "SynthSettings",
    "caption_datasheet",
    "format_datasheet",
    "generate_synthrs",
    "index_datasheet",
    "is_generated",
    "oracle_ladder",
    "scene_probe",
]

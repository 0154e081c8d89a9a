"""`python -m pirlib convert-official --checkpoint X --out DIR`: an official PIR checkpoint → a pirlib checkpoint.

Writes DIR/model.safetensors and DIR/checkpoint.json (the inferred config, with `text.use_attention_mask: false` as
the official model) via `pirlib.checkpoint.save_model`; `pirlib.checkpoint.load_model(DIR)` rebuilds the model.
Prints one line of JSON: {"out", "source", "parameters", "use_vir", "use_lca"}. A missing file or a key the
converter cannot account for prints the reason to stderr and returns 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="official checkpoint, e.g. checkpoint_best.pth")
    parser.add_argument("--out", required=True, help="output pirlib checkpoint directory")
    parser.add_argument("--vision-config", help="official Swin JSON config (e.g. configs/config_swinT_224.json)")
    parser.add_argument("--text-config", help="official BERT JSON config (e.g. configs/config_bert.json)")


def _read_json(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the JSON config ({error})") from error


def run(args: argparse.Namespace) -> int:
    from pirlib.checkpoint import save_model
    from pirlib.models.weights import WeightsError
    from pirlib.official import load_official_checkpoint

    try:
        model, config = load_official_checkpoint(
            args.checkpoint, _read_json(args.vision_config), _read_json(args.text_config)
        )
    except (WeightsError, ValueError) as error:
        print(f"pirlib convert-official: {error}", file=sys.stderr)
        return 1
    source = str(Path(args.checkpoint).resolve())
    save_model(model, config, args.out, metadata={"source": source, "converted_from": "official PIR checkpoint"})
    summary = {
        "out": str(args.out),
        "source": source,
        "parameters": sum(p.numel() for p in model.parameters()),
        "use_vir": config.model.use_vir,
        "use_lca": config.model.use_lca,
    }
    print(json.dumps(summary))
    return 0

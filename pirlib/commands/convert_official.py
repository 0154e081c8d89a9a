"""`python -m pirlib convert-official --checkpoint X --out DIR`: an official PIR checkpoint → a pirlib checkpoint.

Writes DIR/model.safetensors and DIR/checkpoint.json (the inferred config, with `text.use_attention_mask: false` as
the official model) via `pirlib.checkpoint.save_model`; `pirlib.checkpoint.load_model(DIR)` rebuilds the model.
Prints one line of JSON: {"out", "source", "parameters", "use_vir", "use_lca"}. A missing, empty, corrupt or
non-official file, or a key the converter cannot account for, is refused with one line naming the file (the file is
read with `torch.load(weights_only=True)`: a file holding code is never executed). An --out that already holds
anything is refused unless --overwrite, which replaces only the files of a pirlib checkpoint there
(`pirlib.checkpoint.CHECKPOINT_ENTRIES`) once the conversion has succeeded: other files stay, and an --out that is the
official checkpoint or would replace it is refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="official checkpoint, e.g. checkpoint_best.pth")
    parser.add_argument("--out", type=Path, required=True, help="output pirlib checkpoint directory")
    parser.add_argument("--vision-config", help="official Swin JSON config (e.g. configs/config_swinT_224.json)")
    parser.add_argument("--text-config", help="official BERT JSON config (e.g. configs/config_bert.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace what --out already holds")


def _read_json(path: str | None, flag: str) -> dict | None:
    from pirlib.config import ConfigError

    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON
        raise ConfigError(f"cannot read the JSON config ({path}: {error}): check {flag}") from error


def read_checkpoint_file(path: Path) -> dict:
    """`torch.load(path, weights_only=True)`, every failure a WeightsError naming the file (and never torch's advice
    to load with weights_only=False)."""
    import torch

    from pirlib.models.weights import WeightsError

    advice = "pass the checkpoint_best.pth written by the official PIR code (--checkpoint)"
    if not path.is_file():
        raise WeightsError(f"official checkpoint not found ({path}): {advice}")
    if path.stat().st_size == 0:
        raise WeightsError(f"the official checkpoint is an empty file ({path}): {advice}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types (pickle, zip, EOF, runtime) for a foreign file
        raise WeightsError(
            f"not a readable PyTorch checkpoint of tensors ({path}: {type(error).__name__}, corrupt, truncated or not "
            f"a checkpoint): {advice}"
        ) from None


def _checked_out(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """(--out made absolute, what it holds), refusing an --out whose writing would replace the input."""
    from pirlib.checkpoint import CHECKPOINT_ENTRIES
    from pirlib.config import ConfigError
    from pirlib.output_folders import absolute

    out, source = absolute(args.out), absolute(args.checkpoint)
    if out.is_file() or out == source:
        raise ConfigError(f"--out is a file ({args.out}): choose a directory for the pirlib checkpoint")
    if any(source == out / name or out / name in source.parents for name in CHECKPOINT_ENTRIES):
        raise ConfigError(
            f"--out would replace the official checkpoint ({args.checkpoint}): move it out of {args.out}, or choose "
            f"another --out"
        )
    return out, sorted(out.iterdir()) if out.is_dir() else []


def run(args: argparse.Namespace) -> int:
    from pirlib.checkpoint import remove_checkpoint_entries, save_model
    from pirlib.models.weights import WeightsError
    from pirlib.official import load_official_checkpoint
    from pirlib.output_folders import claim_output

    out, existing = _checked_out(args)
    with claim_output(out, existing, args.overwrite):
        checkpoint = read_checkpoint_file(args.checkpoint)
        vision, text = _read_json(args.vision_config, "--vision-config"), _read_json(args.text_config, "--text-config")
        try:
            model, config = load_official_checkpoint(checkpoint, vision, text)
        except WeightsError as error:
            raise WeightsError(f"{error} ({args.checkpoint}): pass a checkpoint of the official PIR code") from error
        except KeyError as error:  # a dict of tensors without (all) the official model's keys
            raise WeightsError(
                f"not an official PIR checkpoint, or an incomplete one: it has no {error} ({args.checkpoint}): pass "
                f"a whole checkpoint of the official PIR code"
            ) from error
        source = str(args.checkpoint.resolve())
        remove_checkpoint_entries(out)
        save_model(model, config, out, metadata={"source": source, "converted_from": "official PIR checkpoint"})
    summary = {
        "out": str(args.out),
        "source": source,
        "parameters": sum(p.numel() for p in model.parameters()),
        "use_vir": config.model.use_vir,
        "use_lca": config.model.use_lca,
    }
    print(json.dumps(summary))
    return 0

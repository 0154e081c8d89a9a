"""`python -m pirlib embed`: export a checkpoint's image and caption embeddings of one split, with ids, scene labels
and captions, for the UMAP and confusion analyses of the notebooks.

The `.npz` holds image_embeddings [n_images, D], text_embeddings [n_captions, D] (float32, L2-normalised),
image_ids (ids in the dataset's dataset.json), caption_image_ids (the dataset id of each caption's image),
caption_image_index (row of that image in image_embeddings), image_labels, caption_labels, class_names, captions.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory, or a run (uses best/)")
    parser.add_argument("--data", type=Path, help="prepared dataset directory (default: the checkpoint's data.root)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz file")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="default: test")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from pirlib.config import ConfigError
    from pirlib.evaluation import evaluation_data_root
    from pirlib.output_folders import claim_output, reading

    if args.out.suffix != ".npz":
        raise ConfigError(f"the output must be a .npz file (--out {args.out}): end the name with .npz")
    if args.out.is_dir():
        raise ConfigError(f"--out is a directory ({args.out}): name the .npz file to write")
    with claim_output(args.out, [args.out], args.overwrite), reading(evaluation_data_root(args.checkpoint, args.data)):
        return _embed(args)


def _embed(args: argparse.Namespace) -> int:
    import numpy as np

    from pirlib.data.images import verify_images
    from pirlib.evaluation import embed_retrieval_set, load_for_evaluation
    from pirlib.io import atomic_write
    from pirlib.training.runtime import resolve_precision

    model, config, tokenizer, dataset, _ = load_for_evaluation(args.checkpoint, args.data, args.split, args.device)
    verify_images([dataset.index.image_path(i) for i in dataset.image_ids], f"{args.split} images")
    device = next(model.parameters()).device
    precision = resolve_precision(config.train.precision, device)
    images, texts = embed_retrieval_set(model, dataset, tokenizer, config, device, precision)
    arrays = {
        "image_embeddings": images.numpy(),
        "text_embeddings": texts.numpy(),
        "image_ids": np.asarray(dataset.image_ids, dtype=np.int64),
        "caption_image_ids": np.asarray([dataset.image_ids[i] for i in dataset.txt2img], dtype=np.int64),
        "caption_image_index": np.asarray(dataset.txt2img, dtype=np.int64),
        "image_labels": np.asarray(dataset.image_labels, dtype=np.int64),
        "caption_labels": np.asarray(dataset.caption_labels, dtype=np.int64),
        "class_names": np.asarray(dataset.index.classes, dtype=str),
        "captions": np.asarray(dataset.captions, dtype=str),
    }

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(args.out, write)
    print(f"wrote {args.out}: {len(dataset)} images and {len(dataset.captions)} captions, dimension {images.shape[1]}")
    return 0

"""Duplicate captions, the retrieval ceilings they impose, and caption / image overlap of the real benchmarks.

Computed from the published RSITMD and RSICD "precomp" caption files after the official `pre_caption` (blank
captions dropped, as `pirlib prepare` does); no image is needed. Tables of this module are in notebook 01 and in
data/README.md (`audit_markdown`).

The perfect model. Its text embedding depends on the sentence only, so identical captions score identically, and it
ranks every image holding the query's exact sentence first. Among those holders it ranks first the images holding
the sentence more often; for an image query it ranks first the sentence of the image that the fewest other images
hold. Its score of (image i, caption with sentence s) is 1 + 1 / (1 + o), o being the number of captions with
sentence s held by images other than i, when image i holds s, and 0 otherwise. Exact ties remain wherever a
sentence belongs to several images (the copies of a sentence tie, and so do holders holding it equally often);
`protocol_ceilings` counts them both ways (`pirlib.metrics` tie rules), which bounds what the official code's
arbitrary tie order reports. `one_ranking_text_to_image` gives what a single deterministic order of the holders
reaches in text → image: only one of the images holding a sentence can be first for all its copies.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pirlib.data.captions import MAX_WORDS
from pirlib.data.prepare import normalise_captions
from pirlib.data.readers import read_precomp
from pirlib.metrics import PROTOCOLS, RECALL_AT, TIE_RULES, tie_range

BENCHMARKS = ("RSITMD", "RSICD")
SAME_IMAGE_MIN_CAPTIONS = 3  # two images sharing this many distinct sentences are taken for one image

Images = Sequence[tuple[str, Sequence[str]]]  # (file, normalised captions) per image


@dataclass
class Benchmark:
    name: str  # "RSITMD" or "RSICD"
    splits: dict[str, list[tuple[str, tuple[str, ...]]]]  # "train" / "test" -> (file, normalised captions) per image


def read_benchmark(name: str, directory: str | os.PathLike) -> Benchmark:
    """A benchmark's precomp files, captions normalised by `pre_caption`; images left with no caption are dropped."""
    raw = read_precomp(Path(directory))
    captions, _blank = normalise_captions(raw, max_words=MAX_WORDS)
    splits: dict[str, list] = {"train": [], "test": []}
    for image, kept in zip(raw, captions, strict=True):
        if kept:
            splits[image.split].append((image.file, kept))
    return Benchmark(name, splits)


def duplicate_counts(images: Images) -> dict[str, int]:
    """Captions, distinct captions, images holding a sentence more than once, images whose captions are all one
    sentence, sentences held by >= 2 images, the captions those cover, and the most images holding one sentence."""
    copies = Counter(caption for _, captions in images for caption in captions)
    holders = Counter(caption for _, captions in images for caption in set(captions))
    shared = [caption for caption, count in holders.items() if count >= 2]
    return {
        "captions": sum(copies.values()),
        "distinct captions": len(copies),
        "images with a repeated sentence": sum(len(set(c)) < len(c) for _, c in images),
        "images whose captions are all identical": sum(len(set(c)) == 1 < len(c) for _, c in images),
        "sentences shared by >= 2 images": len(shared),
        "captions with a shared sentence": sum(copies[caption] for caption in shared),
        "most images sharing one sentence": max(holders.values()),
    }


def _sentence_counts(images: Images) -> tuple[np.ndarray, list[int], list[str]]:
    """(copies [n_images, n_sentences] of each distinct sentence per image, sentence of each caption, captions)."""
    captions = [caption for _, image_captions in images for caption in image_captions]
    number = {sentence: k for k, sentence in enumerate(dict.fromkeys(captions))}
    counts = np.zeros((len(images), len(number)), dtype=np.int64)  # [n_images, n_sentences]
    for row, (_, image_captions) in enumerate(images):
        for caption in image_captions:
            counts[row, number[caption]] += 1
    return counts, [number[caption] for caption in captions], captions


def perfect_similarity(images: Images) -> tuple[np.ndarray, list[list[int]], list[int], list[str]]:
    """The perfect model's scores [n_images, n_captions], with img2txt, txt2img and the captions (module docstring)."""
    counts, sentence, captions = _sentence_counts(images)  # [n_images, n_sentences]
    others = counts.sum(axis=0, keepdims=True) - counts  # copies held by the other images
    per_sentence = np.where(counts > 0, 1.0 + 1.0 / (1.0 + others), 0.0)  # [n_images, n_sentences]
    txt2img = [row for row, (_, image_captions) in enumerate(images) for _ in image_captions]
    img2txt: list[list[int]] = [[] for _ in images]
    for column, row in enumerate(txt2img):
        img2txt[row].append(column)
    return per_sentence[:, sentence], img2txt, txt2img, captions


def protocol_ceilings(images: Images) -> dict[tuple[str, str], dict[str, float]]:
    """The perfect model's metrics (%) per (protocol, tie rule)."""
    similarity, img2txt, txt2img, captions = perfect_similarity(images)
    ceilings = {}
    for protocol in PROTOCOLS:
        bounds = tie_range(similarity, img2txt, txt2img, protocol=protocol, captions=captions)
        ceilings.update({(protocol, rule): bounds[rule] for rule in TIE_RULES})
    return ceilings


def one_ranking_text_to_image(images: Images) -> dict[str, float]:
    """Official text → image R@1/5/10 (%) of the best single order of the images per sentence: all copies of a
    sentence share one ranking, so a sentence's hits at K are the copies held by the K images holding it most."""
    counts, _, captions = _sentence_counts(images)  # [n_images, n_sentences]
    ordered = -np.sort(-counts, axis=0)  # [n_images, n_sentences], most copies first
    return {f"t2i_r{k}": 100.0 * ordered[:k].sum() / len(captions) for k in RECALL_AT}


def caption_overlap(benchmarks: Sequence[Benchmark]) -> pd.DataFrame:
    """Per (test split, training split): distinct test sentences that occur in that training split, and the test
    captions they cover (counts and % of the test split)."""
    rows = []
    for tested in benchmarks:
        test_captions = [caption for _, captions in tested.splits["test"] for caption in captions]
        distinct = set(test_captions)
        for source in benchmarks:
            seen = {caption for _, captions in source.splits["train"] for caption in captions}
            common = distinct & seen
            covered = sum(caption in common for caption in test_captions)
            rows.append(
                {
                    "test split": tested.name,
                    "training split": source.name,
                    "test sentences seen in training": len(common),
                    "of distinct test sentences (%)": 100.0 * len(common) / len(distinct),
                    "test captions covered": covered,
                    "of test captions (%)": 100.0 * covered / len(test_captions),
                }
            )
    return pd.DataFrame(rows).set_index(["test split", "training split"])


def shared_images(first: Benchmark, second: Benchmark) -> pd.DataFrame:
    """Images of `first` that are images of `second`, per (split of first, split of second), found two ways: the
    same file name without extension, and (since the names are numbered differently) sharing at least
    SAME_IMAGE_MIN_CAPTIONS distinct sentences. Counts the pairs, the distinct images of each benchmark among them,
    and the pairs that share any sentence at all."""
    files = {
        name: {file: (split, set(captions)) for split, images in benchmark.splits.items() for file, captions in images}
        for name, benchmark in ((first.name, first), (second.name, second))
    }
    holders: dict[str, dict[str, list[str]]] = {first.name: defaultdict(list), second.name: defaultdict(list)}
    for name, images in files.items():
        for file, (_, captions) in images.items():
            for caption in captions:
                holders[name][caption].append(file)
    shared_sentences: Counter = Counter()
    for caption, files_of_first in holders[first.name].items():
        for file_a in files_of_first:
            for file_b in holders[second.name].get(caption, ()):
                shared_sentences[file_a, file_b] += 1
    stem = {name: {Path(file).stem: file for file in images} for name, images in files.items()}
    by_name = [(stem[first.name][s], stem[second.name][s]) for s in stem[first.name].keys() & stem[second.name].keys()]
    by_captions = [pair for pair, count in shared_sentences.items() if count >= SAME_IMAGE_MIN_CAPTIONS]
    rows = []
    for way, pairs in (("same file name", by_name), (f">= {SAME_IMAGE_MIN_CAPTIONS} shared sentences", by_captions)):
        for split_a in ("train", "test"):
            for split_b in ("train", "test"):
                chosen = [
                    (a, b)
                    for a, b in pairs
                    if files[first.name][a][0] == split_a and files[second.name][b][0] == split_b
                ]
                rows.append(
                    {
                        "matched by": way,
                        f"{first.name} split": split_a,
                        f"{second.name} split": split_b,
                        "image pairs": len(chosen),
                        f"{first.name} images": len({a for a, _ in chosen}),
                        f"{second.name} images": len({b for _, b in chosen}),
                        "pairs sharing any sentence": sum(shared_sentences[pair] > 0 for pair in chosen),
                    }
                )
    return pd.DataFrame(rows).set_index(["matched by", f"{first.name} split", f"{second.name} split"])


def read_benchmarks(datasets_dir: str | os.PathLike) -> list[Benchmark]:
    """RSITMD and RSICD from `datasets_dir/rsitmd` and `datasets_dir/rsicd` (the reference folder's layout)."""
    return [read_benchmark(name, Path(datasets_dir) / name.lower()) for name in BENCHMARKS]


def counts_table(benchmarks: Sequence[Benchmark]) -> pd.DataFrame:
    """`duplicate_counts` of each test split, with the single-order text → image R@1/5/10 ceiling."""
    rows = {}
    for benchmark in benchmarks:
        images = benchmark.splits["test"]
        best = one_ranking_text_to_image(images)
        rows[f"{benchmark.name} test"] = {
            "images": len(images),
            **duplicate_counts(images),
            **{f"official t2i R@{k}, one order (%)": best[f"t2i_r{k}"] for k in RECALL_AT},
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split")


def counts_by_row(counts: pd.DataFrame) -> pd.DataFrame:
    """`counts_table` transposed for reading, one count per row, as text: integers with thousands separators,
    percentages with two decimals."""
    text = {
        column: [f"{value:.2f}" if "(%)" in column else f"{value:,}" for value in values]
        for column, values in counts.items()
    }
    return pd.DataFrame(text, index=counts.index).T.rename_axis("")


def ceilings_table(benchmarks: Sequence[Benchmark]) -> pd.DataFrame:
    """The perfect model's test metrics (%) per (benchmark, protocol, tie rule)."""
    rows = {}
    for benchmark in benchmarks:
        for (protocol, rule), metrics in protocol_ceilings(benchmark.splits["test"]).items():
            rows[benchmark.name, protocol, rule] = metrics
    frame = pd.DataFrame(rows).T
    frame.index.names = ["test split", "protocol", "ties"]
    return frame


def audit_tables(datasets_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """All tables of the audit: "counts", "ceilings", "overlap", "shared images"."""
    benchmarks = read_benchmarks(datasets_dir)
    return {
        "counts": counts_table(benchmarks),
        "ceilings": ceilings_table(benchmarks),
        "overlap": caption_overlap(benchmarks),
        "shared images": shared_images(*benchmarks),
    }


def audit_markdown(datasets_dir: str | os.PathLike) -> str:
    """The audit tables as Markdown (the text of data/README.md's tables)."""
    from pirlib.markdown import markdown_table

    tables = audit_tables(datasets_dir)
    sections = [
        markdown_table(counts_by_row(tables["counts"])),
        markdown_table(tables["ceilings"]),
        markdown_table(tables["overlap"], float_format=".1f"),
        markdown_table(tables["shared images"]),
    ]
    return "\n".join(sections)

"""VIR against the SynthRS ground truth (paper §3.2): does the scene prior's belief keep the key objects and drop the
semantic noise, and where does the prior's cross-attention look?

Each vision token of a test image has a kind — global, key, distractor, landmark, background — from the image's
attributes (`pirlib.data.synthrs.token_map`); VIR's intermediates come from `PIR.encode_image(..., return_details=
True)`. For one model on the test images:

- belief AUC (the Mann-Whitney form of scikit-learn's `roc_auc_score`): inside each image, the belief of its
  key-object tokens scored against that of its distractor tokens (resp. background tokens), averaged over the images
  that have both kinds. Within an image, because rank & filter ranks the tokens of each image separately. 0.5 is a
  random ranking, 1 every key token above every distractor.
- key-object survival: the share of all key-object tokens of the test images that rank & filter keeps, against
  what a random filter keeps: filter_size / N of every kind (40 / 50 = 80 % in the tiny and paper profiles).
- cross-attention shares: in each Spatial-PAE step, the prior query's attention mass (mean over heads; every query
  row is the same) on the kept tokens of each kind, averaged over images, against the share those tokens have of
  the kept tokens (what uniform attention would give) and of all N tokens.

`run_vir_metrics` does the whole computation for a trained run (its selected checkpoint) or for the untrained
reference (a freshly initialised PIR with the run's scene prior), and keeps its result in the run directory
(`vir_ground_truth.json`, keyed by the checkpoint's SHA-256, the test data's, the device and the reference seed), so
that notebooks 04 and 05 compute each run's metrics once; `study_vir_metrics` does it for every run of a study with
VIR and the untrained reference, `vir_metrics_by_seed` for the runs of one variant and their references, keyed by
seed; `vir_summary_table` gives mean ± std over seeds; `belief_examples` gathers what the belief-map figure
(`pirlib.tutorial.ground_truth_plots`) draws.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from pirlib.checkpoint import WEIGHTS_FILE, load_config_from_checkpoint, load_model
from pirlib.config import Config
from pirlib.data import RetrievalDataset, load_index, test_transform
from pirlib.data.format import INDEX_FILE, DatasetIndex
from pirlib.data.synthrs.token_map import (
    ATTRIBUTES_FILE,
    TOKEN_KINDS,
    TokenMapConfig,
    load_attribute_records,
    token_kind_table,
)
from pirlib.io import file_sha256, keyed_json

CACHE_FILE = "vir_ground_truth.json"  # in a run directory: [{"key": ..., "result": run_vir_metrics}]
METRICS_VERSION = 1  # part of the cache key: raise it when vir_metrics changes what it computes


@dataclass
class VirOutputs:
    """VIR's rank & filter and cross-attention on a set of images (numpy, CPU)."""

    belief: np.ndarray  # [n, N] softmax of the belief logits
    kept: np.ndarray  # [n, filter_size] token indices that survive rank & filter
    attention: np.ndarray  # [steps, n, filter_size] prior-query attention over the kept tokens, mean over heads


@torch.no_grad()
def collect_vir_outputs(
    model: torch.nn.Module, dataset: RetrievalDataset, batch_size: int = 64, device: str | torch.device = "cpu"
) -> VirOutputs:
    """Run VIR over every image of `dataset` (in order) with the model in eval mode."""
    model.eval()
    beliefs, kept, attention = [], [], []
    for images in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        details = model.encode_image(images.to(device), return_details=True)
        beliefs.append(details.belief.float().cpu())  # [B, N]
        kept.append(details.kept.cpu())  # [B, filter_size]
        steps = [weights[:, :, 0].float().mean(dim=1) for weights in details.cross_attention_weights]  # [B, F] each
        attention.append(torch.stack(steps).cpu())  # [steps, B, filter_size]
    return VirOutputs(torch.cat(beliefs).numpy(), torch.cat(kept).numpy(), torch.cat(attention, dim=1).numpy())


def belief_auc(belief: np.ndarray, kinds: np.ndarray, negative: str) -> tuple[float, int]:
    """(mean over images of the within-image AUC of key-object tokens against `negative` tokens, images used).

    belief, kinds: [n, N]. NaN when no image has both kinds. The AUC of one image is the probability that a key
    token's belief exceeds a `negative` token's, ties counting half: the Mann-Whitney form of scikit-learn's
    `roc_auc_score` (the tests check one against the other), computed from all key/negative pairs at once because
    roc_auc_score's input checks cost 5 ms for each image."""
    positive_code, negative_code = TOKEN_KINDS.index("key"), TOKEN_KINDS.index(negative)
    scores = []
    for image_belief, image_kinds in zip(belief, kinds, strict=True):
        key = image_belief[image_kinds == positive_code][:, None]  # [k, 1]
        other = image_belief[image_kinds == negative_code][None, :]  # [1, m]
        if key.size and other.size:
            scores.append(float(np.mean(key > other) + 0.5 * np.mean(key == other)))
    return (float(np.mean(scores)) if scores else float("nan")), len(scores)


def kept_mask(kept: np.ndarray, num_tokens: int) -> np.ndarray:
    """[n, N] bool: token survives rank & filter, from the kept indices [n, filter_size]."""
    mask = np.zeros((len(kept), num_tokens), dtype=bool)
    np.put_along_axis(mask, kept, True, axis=1)
    return mask


def key_survival(kept: np.ndarray, kinds: np.ndarray) -> float:
    """Share of all key-object tokens (pooled over the images) that survive rank & filter; NaN without any."""
    key = kinds == TOKEN_KINDS.index("key")  # [n, N]
    total = int(key.sum())
    return float((kept_mask(kept, kinds.shape[1]) & key).sum() / total) if total else float("nan")


def random_survival(num_tokens: int, filter_size: int) -> float:
    """Share of the tokens of any kind that a uniformly random choice of `filter_size` of `num_tokens` keeps."""
    return filter_size / num_tokens


def attention_shares(outputs: VirOutputs, kinds: np.ndarray) -> pd.DataFrame:
    """Per kind (rows): share of all N tokens, share of the kept tokens, and the attention mass of each step."""
    kept_kinds = np.take_along_axis(kinds, outputs.kept, axis=1)  # [n, filter_size]
    frame = {}
    for code, kind in enumerate(TOKEN_KINDS):
        row = {
            "share of tokens": float((kinds == code).mean()),
            "share of kept tokens": float((kept_kinds == code).mean()),
        }
        for step, weights in enumerate(outputs.attention):  # weights [n, filter_size]
            row[f"attention, step {step + 1}"] = float((weights * (kept_kinds == code)).sum(axis=1).mean())
        frame[kind] = row
    return pd.DataFrame.from_dict(frame, orient="index").rename_axis("token kind")


def vir_metrics(outputs: VirOutputs, kinds: np.ndarray) -> dict[str, float]:
    """The flat metrics of one model: AUCs, survival against random, attention shares of key and distractor tokens."""
    num_tokens, filter_size = kinds.shape[1], outputs.kept.shape[1]
    auc_distractor, images_distractor = belief_auc(outputs.belief, kinds, "distractor")
    auc_background, images_background = belief_auc(outputs.belief, kinds, "background")
    metrics = {
        "AUC key vs distractor": auc_distractor,
        "AUC key vs background": auc_background,
        "key-object survival": key_survival(outputs.kept, kinds),
        "random survival": random_survival(num_tokens, filter_size),
        "images with key and distractor tokens": images_distractor,
        "images with key and background tokens": images_background,
    }
    shares = attention_shares(outputs, kinds)
    for kind in ("key", "distractor"):
        metrics[f"{kind}: share of kept tokens"] = shares.loc[kind, "share of kept tokens"]
        for column in shares.columns[2:]:
            metrics[f"{kind}: {column}"] = shares.loc[kind, column]
    return metrics


def split_token_kinds(
    data_root: str | os.PathLike, grid_side: int, split: str = "test", token_config: TokenMapConfig | None = None
) -> tuple[DatasetIndex, list[int], np.ndarray]:
    """(the dataset index, the image ids of `split` in index order, their token kinds [n, 1 + g*g])."""
    index = load_index(data_root)
    image_ids = index.split_ids(split)
    stamps = tuple(_file_stamp(Path(data_root) / name) for name in (INDEX_FILE, ATTRIBUTES_FILE))
    return index, image_ids, _token_kinds(str(Path(data_root).resolve()), stamps, grid_side, split, token_config)


def _file_stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=8)
def _token_kinds(
    data_root: str, stamps: tuple, grid_side: int, split: str, token_config: TokenMapConfig | None
) -> np.ndarray:
    """The token kinds of split_token_kinds, computed once per dataset version (`stamps`: its files' mtime and size)
    and grid: every run of a study asks for the same table. Read-only, as it is shared."""
    index, records = load_index(data_root), load_attribute_records(data_root)
    kinds = token_kind_table([records[index.images[i].file] for i in index.split_ids(split)], grid_side, token_config)
    kinds.setflags(write=False)
    return kinds


def model_vir_metrics(
    model: torch.nn.Module,
    config: Config,
    data_root: str | os.PathLike,
    device: str | torch.device = "cpu",
    token_config: TokenMapConfig | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """(vir_metrics, attention_shares) of a PIR model with VIR on the test images of the SynthRS at `data_root`."""
    if getattr(model, "vision_instruction", None) is None:
        raise ValueError("VIR ground truth: this model has no VIR (model.use_vir = false)")
    grid_side = round((model.vision_encoder.num_tokens - 1) ** 0.5)
    index, image_ids, kinds = split_token_kinds(data_root, grid_side, "test", token_config)
    dataset = RetrievalDataset(index, image_ids, test_transform(config.vision.image_size))
    outputs = collect_vir_outputs(model, dataset, config.train.eval_batch_size, device)
    return vir_metrics(outputs, kinds), attention_shares(outputs, kinds)


def untrained_reference(trained: torch.nn.Module, config: Config, seed: int) -> torch.nn.Module:
    """A freshly initialised PIR of `config` (torch seed `seed`) with the scene prior of `trained`, in eval mode."""
    from pirlib.models import PIR

    torch.manual_seed(seed)
    model = PIR(config)
    model.scene_prior.load_state_dict(trained.scene_prior.state_dict())
    return model.to(next(trained.parameters()).device).eval()


def run_vir_metrics(
    run_dir: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    device: str = "cpu",
    untrained_seed: int | None = None,
) -> dict[str, float]:
    """vir_metrics of a training run's selected checkpoint (best/, else last/) on the test images, or, with
    `untrained_seed`, of the untrained reference built from that run (its config and scene prior).

    `data_root` defaults to the run config's data.root (relative to where the run was started)."""
    from pirlib.evaluation import find_checkpoint

    checkpoint = find_checkpoint(run_dir)
    root = Path(data_root) if data_root is not None else Path(load_config_from_checkpoint(checkpoint).data.root)
    key = _cache_key(checkpoint, root, device, untrained_seed)

    def compute() -> dict[str, float]:
        model, config = load_model(checkpoint, device=device)
        if untrained_seed is not None:
            model = untrained_reference(model, config, untrained_seed)
        return model_vir_metrics(model, config, root, device)[0]

    return keyed_json(Path(run_dir) / CACHE_FILE, key, compute)


def _cache_key(checkpoint: Path, data_root: Path, device: str, untrained_seed: int | None) -> dict:
    """What run_vir_metrics' result depends on: the weights, the test images' attributes and index, the device."""
    return {
        "metrics_version": METRICS_VERSION,
        "checkpoint": checkpoint.name,
        "weights_sha256": file_sha256(checkpoint / WEIGHTS_FILE),
        "dataset_sha256": file_sha256(data_root / INDEX_FILE),
        "attributes_sha256": file_sha256(data_root / ATTRIBUTES_FILE),
        "device": str(device),
        "untrained_seed": untrained_seed,
    }


def study_vir_metrics(
    manifest: Mapping[str, Sequence[str | os.PathLike]],
    data_root: str | os.PathLike,
    device: str = "cpu",
    labels: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """{model: [run_vir_metrics of each run]} for every variant of a study manifest ({variant: [run dirs]}) whose
    model has VIR, plus an "untrained PIR (reference)" row: the untrained reference of each run of the first such
    variant, at that run's seed (its config and scene prior). `labels` renames variants (e.g. VARIANT_LABELS)."""
    from pirlib.config import load_config

    rows: dict[str, list[dict[str, float]]] = {}
    reference_runs: list[Path] = []
    for variant, runs in manifest.items():
        if not load_config(Path(runs[0]) / "config.yaml").model.use_vir:
            continue
        rows[(labels or {}).get(variant, variant)] = [run_vir_metrics(run, data_root, device) for run in runs]
        reference_runs = reference_runs or [Path(run) for run in runs]
    if not rows:
        raise ValueError("VIR ground truth: no variant of this study has VIR (model.use_vir = false everywhere)")
    rows["untrained PIR (reference)"] = [
        run_vir_metrics(run, data_root, device, untrained_seed=load_config(run / "config.yaml").train.seed)
        for run in reference_runs
    ]
    return rows


def belief_examples(
    model: torch.nn.Module,
    config: Config,
    data_root: str | os.PathLike,
    image_ids: Sequence[int],
    device: str | torch.device = "cpu",
) -> dict[str, list]:
    """The keyword arguments of `plotting_ground_truth.belief_ground_truth_figure` for the images `image_ids` of
    the dataset: display images, VIR's belief and kept tokens, token kinds, outlines, and titles (scene)."""
    from pirlib.data import CLIP_MEAN, CLIP_STD
    from pirlib.data.synthrs.token_map import landmark_mask, object_polygons, token_kinds
    from pirlib.tutorial.plots import to_display_image

    index, records = load_index(data_root), load_attribute_records(data_root)
    dataset = RetrievalDataset(index, image_ids, test_transform(config.vision.image_size))
    images = torch.stack([dataset[k] for k in range(len(dataset))])  # [n, 3, H, W]
    with torch.no_grad():
        details = model.eval().encode_image(images.to(device), return_details=True)
    grid_side = round((model.vision_encoder.num_tokens - 1) ** 0.5)
    chosen = [records[index.images[i].file] for i in image_ids]
    side = images.shape[-1]
    return {
        "images": [to_display_image(image, CLIP_MEAN, CLIP_STD) for image in images],
        "beliefs": list(details.belief.float().cpu()),
        "kinds": [token_kinds(record, grid_side) for record in chosen],
        "outlines": [(object_polygons(record, side), landmark_mask(record, side)) for record in chosen],
        "kept": list(details.kept.cpu()),
        "titles": [index.classes[index.images[i].label] for i in image_ids],
    }


def _mean_std_text(values: Sequence[float], digits: int) -> str:
    """'mean ± std' (sample std) of the seeds; a value the same for every seed (e.g. random survival) alone."""
    from pirlib.tutorial.stats import format_mean_std

    if all(value == values[0] for value in values):
        return f"{values[0]:.0f}" if float(values[0]).is_integer() else f"{values[0]:.{digits}f}"
    return format_mean_std(values, digits)


def vir_summary_table(rows: Mapping[str, Sequence[dict[str, float]]], digits: int = 3) -> pd.DataFrame:
    """One row per model: 'mean ± std' over its seeds of every metric of `vir_metrics`, and the number of seeds."""
    table = {}
    for name, runs in rows.items():
        table[name] = {key: _mean_std_text([run[key] for run in runs], digits) for key in runs[0]}
        table[name]["seeds"] = len(runs)
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("model (SynthRS test)")


def vir_metrics_by_seed(
    runs: Sequence[str | os.PathLike], data_root: str | os.PathLike, device: str = "cpu"
) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, float]]]:
    """(trained, untrained): `run_vir_metrics` of each run of one variant with VIR, and of the untrained reference
    built from that run at its seed, both keyed by the run's seed, for comparisons paired by seed. The same cache
    entries as `study_vir_metrics` when `runs` are its first variant with VIR (read, not recomputed)."""
    from pirlib.config import load_config

    trained, untrained = {}, {}
    for run in runs:
        seed = load_config(Path(run) / "config.yaml").train.seed
        trained[seed] = run_vir_metrics(run, data_root, device)
        untrained[seed] = run_vir_metrics(run, data_root, device, untrained_seed=seed)
    return trained, untrained

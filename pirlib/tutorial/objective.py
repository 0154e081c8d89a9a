"""PIR's training objective and one training step, spelled out (paper §3.4 and §4.1; docs/official_behaviour.md §3).

- `worked_example`: the three losses of `pirlib.losses` on a tiny seeded batch (4 images, 2 captions each, 3 scenes),
  computed once by hand in float64 NumPy, in the notation of the equations (similarity S, positives Y, softmax of
  S / τ, scene centres c^I and c^T, the hinge of the triplet loss), and once by the package, in the objective the
  training loop calls (`RetrievalObjective`, which reads the clamped temperatures from a PIR model).
- `training_step`: the first batch a run of `config` trains on, through the package's own step (`wrap_for_training`,
  `optimisation_step`, `build_optimizer`, `build_scheduler`), from the run's initial weights: the forward shapes, the
  loss terms, the gradient norm of each module of the model and what the AdamW step changed.
  `plot_step_norms` draws the gradient and update norms per module.
- `learning_rate_schedule`, `plot_learning_rate_schedule`: the warm-up / decay schedule of a whole run.

The data functions return plain data (dicts, DataFrames, strings) and the plot functions a figure; nothing is printed.
"""

from __future__ import annotations

import copy
import random
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from torch import nn

from pirlib.config import Config, ConfigError, apply_overrides, seed_of
from pirlib.losses import RetrievalObjective, triplet_loss
from pirlib.optim import build_optimizer, build_scheduler, parameter_groups
from pirlib.tutorial.runs import evaluation_steps

IMAGES_PER_SCENE = {"scene A": 2, "scene B": 1, "scene C": 1}  # the worked example's 4 images
CAPTIONS_PER_IMAGE = 2
EXAMPLE_DIM = 6  # embedding size of the worked example

MODULE_LABELS = {  # the PIR attribute → what it is (paper §3)
    "vision_encoder": "vision encoder (Swin)",
    "vision_projection": "vision projection to the common space",
    "scene_prior": "scene prior (frozen)",
    "vision_instruction": "VIR (prior projection, Spatial-PAE, head)",
    "text_encoder": "text encoder (BERT, no prior)",
    "text_projection": "text projection to the common space",
    "language_cycle": "LCA (Temporal-PAE cycles, head)",
    "raw_temperature": "temperature τ (contrastive)",
    "raw_affiliation_temperature": "temperature τ₂ (affiliation)",
}


# ------------------------------------------------------------------------------------------------- worked example


def example_batch(seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded batch of 8 image–caption pairs: each image twice (its two captions), images 0 and 1 of scene A.

    Image vectors are a scene direction plus image noise, captions their image plus caption noise; the two rows of an
    image differ slightly, as dropout and augmentation make them in training (with identical rows the multi-positive
    targets would give the same loss as the diagonal ones). All rows L2-normalised:
    → {"image_feat" [N, D], "text_feat" [N, D] float32, "image_ids" [N], "labels" [N]}."""
    generator = np.random.default_rng(seed)
    scene_directions = generator.normal(size=(len(IMAGES_PER_SCENE), EXAMPLE_DIM))  # [scenes, D]
    image_labels = np.repeat(np.arange(len(IMAGES_PER_SCENE)), list(IMAGES_PER_SCENE.values()))  # [images]
    images = scene_directions[image_labels] + 0.8 * generator.normal(size=(len(image_labels), EXAMPLE_DIM))
    image_ids = np.repeat(np.arange(len(image_labels)), CAPTIONS_PER_IMAGE)  # [N]: pair k shows image image_ids[k]
    captions = images[image_ids] + 0.6 * generator.normal(size=(len(image_ids), EXAMPLE_DIM))  # [N, D]
    views = images[image_ids] + 0.15 * generator.normal(size=(len(image_ids), EXAMPLE_DIM))  # [N, D]

    def unit(rows: np.ndarray) -> np.ndarray:
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    return {
        "image_feat": unit(views),  # [N, D]: row k is the image of pair k
        "text_feat": unit(captions),  # [N, D]
        "image_ids": image_ids,
        "labels": image_labels[image_ids],
    }


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    """log softmax_j(Z_ij) over each row: Z_ij − log Σ_k exp Z_ik (shifted by the row maximum)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def hand_contrastive(image: np.ndarray, text: np.ndarray, image_ids: np.ndarray, tau: float) -> dict:
    """L_CL = −1/(2N) Σ_i Σ_j Y_ij [log softmax_j(S_i· / τ) + log softmax_j(Sᵀ_i· / τ)], Y = M / rowsum(M),
    M_ij = [id_i = id_j], S = I Tᵀ."""
    similarity = image @ text.T  # S [N, N]: image i against caption j
    positives = (image_ids[:, None] == image_ids[None, :]).astype(float)  # M [N, N]
    targets = positives / positives.sum(axis=1, keepdims=True)  # Y [N, N], rows sum to 1
    image_to_text = -(targets * log_softmax_rows(similarity / tau)).sum(axis=1).mean()
    text_to_image = -(targets * log_softmax_rows(similarity.T / tau)).sum(axis=1).mean()
    return {"S": similarity, "M": positives, "Y": targets, "loss": (image_to_text + text_to_image) / 2}


def hand_affiliation(image: np.ndarray, text: np.ndarray, labels: np.ndarray, tau: float) -> dict:
    """L_AL = −1/(2N) Σ_a [log softmax_b(I_a·c^T_b / τ₂)_a + log softmax_b(c^I_a·T_b / τ₂)_a]; c^I_a, c^T_a: mean
    image and caption of the batch samples with a's scene label (not renormalised)."""
    same_scene = (labels[:, None] == labels[None, :]).astype(float)  # A [N, N]
    image_centres = same_scene @ image / same_scene.sum(axis=1, keepdims=True)  # c^I [N, D]
    text_centres = same_scene @ text / same_scene.sum(axis=1, keepdims=True)  # c^T [N, D]
    image_to_centre = np.diag(log_softmax_rows(image @ text_centres.T / tau)).mean()  # U_ab = I_a · c^T_b / τ₂
    centre_to_text = np.diag(log_softmax_rows(image_centres @ text.T / tau)).mean()  # V_ab = c^I_a · T_b / τ₂
    floor = np.log(same_scene.sum(axis=1)).mean()  # mean_a log n_label(a): identical centres tie the softmax
    return {"c^I": image_centres, "c^T": text_centres, "floor": floor, "loss": -(image_to_centre + centre_to_text) / 2}


def hand_triplet(image: np.ndarray, text: np.ndarray, margin: float) -> dict:
    """L_TRI = Σ_i Σ_{j≠i} [m + S_ij − S_ii]₊ + Σ_j Σ_{i≠j} [m + S_ij − S_jj]₊; max violation keeps each row's
    (column's) largest hinge."""
    similarity = image @ text.T  # S [N, N]
    positive = np.diag(similarity)  # d_i = S_ii
    off_diagonal = 1 - np.eye(len(similarity))
    cost_text = np.maximum(0, margin + similarity - positive[:, None]) * off_diagonal  # image i, wrong caption j
    cost_image = np.maximum(0, margin + similarity - positive[None, :]) * off_diagonal  # caption j, wrong image i
    return {
        "sum": cost_text.sum() + cost_image.sum(),
        "max violation": cost_text.max(axis=1).sum() + cost_image.max(axis=0).sum(),
    }


def _temperature_holder(config: Config) -> nn.Module:
    """A PIR of `config` with a random prior: what `RetrievalObjective` reads the clamped temperatures from."""
    from pirlib.models import PIR

    return PIR(apply_overrides(config, ["prior.checkpoint=null"]))


def worked_example(config: Config, seed: int = 0) -> dict:
    """Hand (float64) against `pirlib.losses` (float32) on `example_batch(seed)`, with `config`'s loss settings and
    the model's initial temperatures.

    → {"pairs": DataFrame (image id, scene per pair), "S": similarity, "Y": positives, "c^T": text centres (DataFrames),
    "affiliation floor": float, "settings": {τ, τ₂, w, m}, "terms": DataFrame (hand, pirlib, |difference|, relative
    difference per loss term), "clamp": `temperature_clamp`}."""
    batch = example_batch(seed)
    model = _temperature_holder(config)
    tau, tau2 = model.temperature.item(), model.affiliation_temperature.item()
    loss = config.loss
    ids = batch["image_ids"] if loss.use_image_ids else np.arange(len(batch["image_ids"]))
    image, text = batch["image_feat"].astype(np.float64), batch["text_feat"].astype(np.float64)
    contrastive = hand_contrastive(image, text, ids, tau)
    affiliation = hand_affiliation(image, text, batch["labels"], tau2)
    triplet = hand_triplet(image, text, loss.triplet_margin)

    tensors = {key: torch.from_numpy(value) for key, value in batch.items()}
    arguments = (tensors["image_feat"], tensors["text_feat"], tensors["image_ids"], tensors["labels"])
    with torch.no_grad():
        package = RetrievalObjective(replace(loss, objective="contrastive"))(model, *arguments)
        package_triplet = RetrievalObjective(replace(loss, objective="triplet", triplet_max_violation=False))(
            model, *arguments
        )["triplet"]
        hardest = triplet_loss(tensors["image_feat"], tensors["text_feat"], loss.triplet_margin, max_violation=True)
    hand = {
        "contrastive L_CL (τ)": contrastive["loss"],
        "affiliation L_AL (τ₂)": affiliation["loss"],
        "objective L_CL + w·L_AL": contrastive["loss"] + loss.affiliation_weight * affiliation["loss"],
        "triplet (sum over negatives)": triplet["sum"],
        "triplet (max violation)": triplet["max violation"],
    }
    package_values = [package["contrastive"], package["affiliation"], package["loss"], package_triplet, hardest]
    terms = pd.DataFrame(
        {"hand (float64)": list(hand.values()), "pirlib (float32)": [float(v) for v in package_values]},
        index=list(hand),
    )
    terms["|difference|"] = (terms["hand (float64)"] - terms["pirlib (float32)"]).abs()
    terms["relative difference"] = terms["|difference|"] / terms["hand (float64)"].abs()

    labels = list(IMAGES_PER_SCENE)
    pair_names = [f"pair {k}" for k in range(len(ids))]
    pairs = pd.DataFrame(
        {"image id": batch["image_ids"], "scene": [labels[label] for label in batch["labels"]]}, index=pair_names
    )
    return {
        "pairs": pairs,
        "S": pd.DataFrame(contrastive["S"], index=pair_names, columns=pair_names),
        "Y": pd.DataFrame(contrastive["Y"], index=pair_names, columns=pair_names),
        "c^T": pd.DataFrame(affiliation["c^T"], index=pair_names),
        "affiliation floor": float(affiliation["floor"]),
        "settings": {"τ": tau, "τ₂": tau2, "w": loss.affiliation_weight, "m": loss.triplet_margin},
        "terms": terms,
        "clamp": temperature_clamp(config, model),
    }


def temperature_clamp(config: Config, model: nn.Module) -> pd.DataFrame:
    """Raw temperatures below [min_temperature, max_temperature] (half the minimum), at the initial `model.temperature`
    and above (1.5 × the maximum): the hand clamp min(max(raw, min), max) against what `model.temperature` reads."""
    low, high = config.model.min_temperature, config.model.max_temperature
    rows = {}
    saved = model.raw_temperature.detach().clone()
    with torch.no_grad():
        for raw in (low / 2, config.model.temperature, 1.5 * high):
            model.raw_temperature.fill_(raw)
            hand = min(max(raw, low), high) if config.model.clamp_temperatures else raw
            rows[raw] = {"hand clamp": hand, "model.temperature": model.temperature.item()}
        model.raw_temperature.copy_(saved)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("raw temperature")
    table["|difference|"] = (table["hand clamp"] - table["model.temperature"]).abs()
    return table


# ------------------------------------------------------------------------------------------------- one training step


def module_groups(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """The trainable parameters by the model attribute that holds them: each submodule in model order, then each
    parameter of the model itself (the temperatures); attributes without a trainable parameter are left out."""
    attributes = [(name, list(child.named_parameters(prefix=name))) for name, child in model.named_children()]
    attributes += [(name, [(name, parameter)]) for name, parameter in model.named_parameters(recurse=False)]
    groups = {name: [(key, p) for key, p in members if p.requires_grad] for name, members in attributes}
    return {name: members for name, members in groups.items() if members}


def _norm(tensors: list[torch.Tensor]) -> float:
    """√Σ ||t||² in float64."""
    return float(torch.stack([tensor.detach().double().norm() for tensor in tensors]).norm()) if tensors else 0.0


def _run_config(config: Config, seed: int | None) -> tuple[Config, str]:
    """`config` at `seed`, with a random prior when its checkpoint file does not exist → (config, which prior)."""
    overrides = [] if seed is None else [f"train.seed={seed}"]
    checkpoint = config.prior.checkpoint
    if checkpoint and Path(checkpoint).is_file():
        prior = f"pretrained ({Path(checkpoint).name})"
    else:
        overrides.append("prior.checkpoint=null")
        prior = f"random ({checkpoint} does not exist yet)" if checkpoint else "random (prior.checkpoint is null)"
    return apply_overrides(config, overrides), prior


def first_batch(config: Config, tokenizer) -> dict[str, torch.Tensor]:
    """The first batch of epoch 1 of a run of `config`: the positions `epoch_batches` draws, through the training
    transform and the collator (the DataLoader path of `fit`; `data.gpu_resident` gives the same pairs)."""
    from pirlib.data import CaptionCollator, PairDataset, load_index, split_train_validation, train_transform
    from pirlib.training.sampling import SeededSamples, epoch_batches

    index = load_index(config.data.root)
    train_ids, _ = split_train_validation(index, config.data.validation_fraction, seed_of(config.train, "split"))
    pairs = PairDataset(index, train_ids, train_transform(config.vision.image_size, config.data.augment))
    positions = epoch_batches(
        pairs.labels, config.train.batch_size, seed_of(config.train, "data"), 0, config.data.group_by_scene
    )[0]
    samples = SeededSamples(pairs, seed_of(config.train, "data"))
    return CaptionCollator(tokenizer, config.text.max_tokens)([samples[(0, position)] for position in positions])


def forward_shapes(model: nn.Module, batch: dict[str, torch.Tensor]) -> pd.DataFrame:
    """The tensors of one forward pass through PIR (VIR and LCA intermediates), by shape; no gradient."""
    from pirlib.models.vir import rank_and_filter

    images, input_ids = batch["images"], batch["input_ids"]
    mask = model.text_mask(batch["attention_mask"])
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # dropout draws of the step itself stay untouched
        vision_tokens = model.vision_encoder(images)  # [B, N, C_vision]
        vir = model.encode_image(images, return_details=True)
        kept, _, _ = rank_and_filter(vir.tokens, vir.prior, model.config.model.filter_size)  # [B, filter_size, D]
        text_tokens = model.text_encoder(input_ids, mask)  # [B, L, C_text]
        lca = model.encode_text(input_ids, batch["attention_mask"], return_details=True)
    rows = {
        "images": (images, "[B, 3, H, W]"),
        "vision tokens (Swin)": (vision_tokens, "[B, N, C_vision]"),
        "X: projected vision tokens": (vir.tokens, "[B, N, D]"),
        "after rank & filter": (kept, "[B, filter_size, D]"),
        "after Spatial-PAE": (vir.cross_attention[-1], "[B, filter_size, D]"),
        "image embedding": (vir.embedding, "[B, D]"),
        "text tokens (BERT)": (text_tokens, "[B, L, C_text]"),
        "T0: projected text tokens": (lca.tokens, "[B, L, D]"),
        "after LCA (Temporal-PAE)": (lca.cross_attention[-1], "[B, L, D]"),
        "text embedding": (lca.embedding, "[B, D]"),
    }
    return pd.DataFrame(
        {"shape": [str(tuple(tensor.shape)) for tensor, _ in rows.values()], "axes": [a for _, a in rows.values()]},
        index=list(rows),
    ).rename_axis("tensor")


def _advance(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> None:
    """Move the schedule `steps` steps on without an optimiser step (no weight changes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
        for _ in range(steps):
            scheduler.step()


def training_step(config: Config, seed: int | None = None, at_step: int | None = None) -> dict:
    """One `optimisation_step` of a run of `config` (at `seed`), on its first batch and from its initial weights,
    taken where the schedule is at step `at_step` (1-based; default: the end of the warm-up, the peak rate; step 1
    has rate 0, so its update is 0). The model must have VIR and LCA (the PIR variant).

    → {"prior": which scene prior, "device", "precision", "step": at_step, "total steps",
    "shapes": `forward_shapes`, "losses": the step's loss terms, "temperatures": τ and τ₂ (clamped) before / after,
    "modules": DataFrame per model attribute (parameters, gradient norm, update norm, relative update, lr·√n),
    "optimizer": DataFrame per AdamW parameter group (learning rate of the step, weight decay, update norm)}."""
    from pirlib.data import build_tokenizer
    from pirlib.models import PIR
    from pirlib.training.loop import device_batch, optimisation_step, wrap_for_training
    from pirlib.training.runtime import Runtime, precision_name, resolve_device, resolve_precision
    from pirlib.training.sampling import mixed_seed

    config, prior = _run_config(config, seed)
    if not (config.model.use_vir and config.model.use_lca):
        raise ConfigError("training_step shows VIR and LCA: model.use_vir and model.use_lca must be true")
    train = config.train
    device = resolve_device(train.device)
    runtime = Runtime(device, 0, 1, resolve_precision(train.precision, device), False)
    tokenizer = build_tokenizer(config.text, config.data.root)
    batch = first_batch(config, tokenizer)

    init_seed = seed_of(train, "init")  # as `fit` seeds them: the run's initial weights
    random.seed(init_seed)
    np.random.seed(init_seed)
    torch.manual_seed(init_seed)
    model = PIR(copy.deepcopy(config), vocab_size=len(tokenizer)).to(device)
    if train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, train)
    schedule = learning_rate_schedule(config)
    total_steps = int(schedule["step"].max())
    at_step = warmup_end(schedule) if at_step is None else at_step
    if not 1 <= at_step <= total_steps:
        raise ValueError(f"at_step must be between 1 and the run's {total_steps} steps, got {at_step}")
    scheduler = build_scheduler(optimizer, total_steps, train.warmup_fraction)
    _advance(scheduler, at_step - 1)
    torch.manual_seed(mixed_seed(seed_of(train, "dropout"), 0))  # the dropout stream of rank 0
    step_module = wrap_for_training(model, RetrievalObjective(config.loss), runtime, compile_model=False)

    model.train()
    shapes = forward_shapes(model, device_batch(batch, device, train.channels_last))
    groups = module_groups(model)
    before = {name: parameter.detach().clone() for members in groups.values() for name, parameter in members}
    rates = [group["lr"] for group in optimizer.param_groups]
    temperatures_before = {"τ": model.temperature.item(), "τ₂": model.affiliation_temperature.item()}
    values, _ = optimisation_step(step_module, optimizer, scheduler, batch, device, train.channels_last)

    modules = {}
    for attribute, members in groups.items():
        updates = [parameter.detach() - before[name] for name, parameter in members]
        count = sum(parameter.numel() for _, parameter in members)
        rate = _rate_of(optimizer, rates, members[0][1])
        modules[attribute] = {
            "module": MODULE_LABELS.get(attribute, attribute),
            "parameters": count,
            "gradient norm": _norm([parameter.grad for _, parameter in members if parameter.grad is not None]),
            "update norm": _norm(updates),
            "update / weight norm": _norm(updates) / max(_norm([before[name] for name, _ in members]), 1e-12),
            "lr·√n": rate * count**0.5,
        }
    losses = pd.DataFrame({"value": values}).rename_axis("term")
    after = {"τ": model.temperature.item(), "τ₂": model.affiliation_temperature.item()}
    temperatures = pd.DataFrame({"used by the step": temperatures_before, "after the step": after})
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    optimizer_rows = {}
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        updates = [parameter.detach() - before[names[id(parameter)]] for parameter in group["params"]]
        optimizer_rows[group["name"]] = {
            "tensors": len(group["params"]),
            "parameters": sum(parameter.numel() for parameter in group["params"]),
            "learning rate of the step": rate,
            "weight decay": group["weight_decay"],
            "update norm": _norm(updates),
            "learning rate of the next step": group["lr"],
        }
    return {
        "prior": prior,
        "device": str(device),
        "precision": precision_name(runtime.autocast_dtype),
        "step": at_step,
        "total steps": total_steps,
        "shapes": shapes,
        "losses": losses,
        "temperatures": temperatures,
        "modules": pd.DataFrame.from_dict(modules, orient="index").rename_axis("attribute"),
        "optimizer": pd.DataFrame.from_dict(optimizer_rows, orient="index").rename_axis("AdamW group"),
    }


def _rate_of(optimizer: torch.optim.Optimizer, rates: list[float], parameter: nn.Parameter) -> float:
    """The learning rate (of `rates`, one per group) of the group that holds `parameter`."""
    return next(
        rate
        for group, rate in zip(optimizer.param_groups, rates, strict=True)
        if any(p is parameter for p in group["params"])
    )


# ------------------------------------------------------------------------------------------------- schedule


def learning_rate_schedule(config: Config) -> pd.DataFrame:
    """The learning rate of every step of a run of `config` (its budget: `train.epochs` over the training pairs
    after the validation hold-out), from `build_optimizer` + `build_scheduler` stepped as `fit` steps them.

    The AdamW groups come from `pirlib.optim.parameter_groups` on a stand-in with one pretrained module
    (`vision_encoder`) and one new module (`vision_instruction`), so their rates are those the model's groups get.
    → DataFrame: "step" (1-based), one column per AdamW group (the rate that step uses), "trained" (False after
    `train.max_steps` stops the run)."""
    total = evaluation_steps(apply_overrides(config, ["train.max_steps=null"]), 1)[-1]
    stop = evaluation_steps(config, 1)[-1]
    stand_in = nn.ModuleDict({"vision_encoder": nn.Linear(2, 2), "vision_instruction": nn.Linear(2, 2)})
    optimizer = torch.optim.SGD(parameter_groups(stand_in, config.train), lr=config.train.learning_rate)
    scheduler = build_scheduler(optimizer, total, config.train.warmup_fraction)
    rows = []
    for step in range(1, total + 1):
        rows.append({"step": step, **{group["name"]: group["lr"] for group in optimizer.param_groups}})
        optimizer.step()  # no gradients: nothing moves
        scheduler.step()
    table = pd.DataFrame(rows)
    table["trained"] = table["step"] <= stop
    return table


def warmup_end(schedule: pd.DataFrame) -> int:
    """The step where the warm-up ends: the first step at the peak rate."""
    rates = schedule.drop(columns=["step", "trained"])
    return int(schedule["step"][rates.sum(axis=1).idxmax()])


def plot_learning_rate_schedule(schedule: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The schedule of `learning_rate_schedule`: one line per distinct rate (labelled with the AdamW groups that share
    it), the warm-up's end marked, and the steps after `train.max_steps` stops the run shaded."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    curves: dict[tuple, list[str]] = {}
    for column in schedule.columns.drop(["step", "trained"]):
        curves.setdefault(tuple(schedule[column]), []).append(column)
    for names in curves.values():
        ax.plot(schedule["step"], schedule[names[0]], linewidth=1.6, label=", ".join(names))
    end = warmup_end(schedule)
    ax.axvline(end, color="grey", linestyle="--", linewidth=1)
    ax.annotate(f"warm-up ends: step {end}", (end, 0), xytext=(4, 4), textcoords="offset points", fontsize=8)
    if not schedule["trained"].all():
        stop = int(schedule.loc[schedule["trained"], "step"].max())
        ax.axvspan(
            stop, schedule["step"].max(), color="grey", alpha=0.12, label=f"not trained: max_steps stops at {stop}"
        )
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.set_xlabel("training step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"Learning rate of each step: linear warm-up from 0, linear decay to 0 ({len(schedule)} steps)")
    ax.legend(frameon=False, fontsize=8, title="AdamW parameter groups", title_fontsize=8, loc="upper right")
    ax.spines[["top", "right"]].set_visible(False)
    ax.figure.tight_layout()
    return ax.figure


def plot_step_norms(modules: pd.DataFrame, step: int) -> Figure:
    """Left: the gradient norm of each module (`training_step`'s "modules"); right: its AdamW update norm beside
    lr·√n, the norm of an update that moves every element by the learning rate (Adam's first step does about that,
    whatever the gradient's size). Log scales, one marker per value."""
    labels = modules["module"].tolist()[::-1]
    positions = np.arange(len(labels))
    figure, (gradient_axis, update_axis) = plt.subplots(1, 2, figsize=(12, 0.42 * len(labels) + 1.6), sharey=True)
    gradient_axis.plot(modules["gradient norm"].to_numpy()[::-1], positions, "o", color="tab:blue")
    gradient_axis.set_xlabel("gradient norm (log scale)")
    gradient_axis.set_yticks(positions, labels, fontsize=8)
    gradient_axis.set_title(f"Gradient of each module at step {step}", fontsize=10)
    update_axis.plot(modules["lr·√n"].to_numpy()[::-1], positions, "s", color="grey", markersize=9, alpha=0.5,
                     label="lr·√n (every element moved by the learning rate)")  # fmt: skip
    update_axis.plot(modules["update norm"].to_numpy()[::-1], positions, "o", color="tab:orange", label="update norm")
    update_axis.set_xlabel("norm of the change (log scale)")
    update_axis.set_title("What the AdamW step changed", fontsize=10)
    update_axis.legend(frameon=False, fontsize=8, loc="lower right")
    for axis in (gradient_axis, update_axis):
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(axis="y", color="0.9", linewidth=0.8)
        axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return figure

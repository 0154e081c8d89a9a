"""The config dataclasses: every field with the paper's default, and the seeds of a run's random sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


class ConfigError(ValueError):
    """A config file, key or value is wrong; the message says which and what to do."""


@dataclass
class VisionConfig:
    """Swin Transformer image encoder (timm). Paper: Swin-T, 224 px, 7×7 grid + mean token = 50 tokens."""

    model_name: str = "swin_tiny_patch4_window7_224"  # timm architecture name
    pretrained: str | None = None  # None: random init; a local file (.pth/.safetensors, Microsoft or timm keys)
    image_size: int = 224  # input resolution in pixels
    patch_size: int = 4  # patch embedding stride
    embed_dim: int = 96  # channels of the first stage (96 for Swin-T)
    depths: tuple[int, ...] = (2, 2, 6, 2)  # blocks per stage
    num_heads: tuple[int, ...] = (3, 6, 12, 24)  # attention heads per stage
    window_size: int = 7  # local attention window
    drop_path_rate: float = 0.1  # stochastic depth, linear over all blocks


@dataclass
class PriorConfig:
    """Frozen scene-recognition CNN whose pooled feature instructs VIR (paper: AID-pretrained ResNet-50)."""

    model_name: str = "resnet50"  # timm architecture name
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm.create_model arguments (e.g. channels)
    checkpoint: str | None = None  # local weights (official `conv_encoder.N.*`, torchvision or timm naming)
    batchnorm_train_mode: bool = False  # official behaviour: BatchNorm statistics drift during training
    cache_features: bool = False  # compute the frozen prior's feature once per training image instead of every step
    # (same values: needs data.gpu_resident, data.augment false and batchnorm_train_mode false, else ignored)


@dataclass
class PriorTrainingConfig:
    """Pretraining of the scene prior on scene classification (`pirlib pretrain-prior`; the paper uses a ResNet-50
    pretrained on AID, these settings make one on the dataset's own scenes or on a scene corpus)."""

    epochs: int = 10  # passes over the training images
    batch_size: int = 64  # images per step
    learning_rate: float = 2e-3  # AdamW peak learning rate, cosine decay to 0
    weight_decay: float = 0.05  # AdamW weight decay
    randaugment: bool = False  # the official RandAugment on top of crop and flip (blurs the colour cues of scenes)
    seed: int | None = None  # None: train.seed


@dataclass
class TextConfig:
    """BERT text encoder (transformers `BertModel`, no pooler). Paper: bert-base-uncased."""

    pretrained: str | None = None  # None: random init; a local directory or hub name for `from_pretrained`
    tokenizer: str = "bert-base-uncased"  # local directory / hub name, or "wordpiece" (trained on the captions)
    vocab_size: int = 30522  # ignored when the tokenizer or pretrained weights define it
    hidden_size: int = 768  # BERT width
    num_layers: int = 12  # transformer layers
    num_heads: int = 12  # attention heads
    intermediate_size: int = 3072  # feed-forward width
    max_position_embeddings: int = 512  # longest sequence the position table holds
    dropout: float = 0.1  # hidden and attention dropout
    max_tokens: int = 47  # captions are truncated to this many tokens
    use_attention_mask: bool = True  # official code passes no mask (padding is attended): set False for parity
    train_padding_embedding: bool = False  # train the [PAD] word-embedding row (official BERT has no padding_idx)


@dataclass
class ModelConfig:
    """The common space, VIR and LCA (paper §3)."""

    embed_dim: int = 512  # dimension D of the common subspace
    use_vir: bool = True  # Vision Instruction Representation; False with use_lca False is the baseline
    use_lca: bool = True  # Language Cycle Attention
    prior_fusion: bool = (
        False  # control without VIR: image embedding + linear(scene-prior feature) (needs use_vir false)
    )
    filter_size: int = 40  # tokens kept by rank & filter (of 50 in the paper)
    num_instruction_layers: int = 2  # Spatial-PAE steps in VIR (official `instru_num`)
    num_cycles: int = 3  # Temporal-PAE cycles in LCA (official `cycle_num`)
    num_attention_heads: int = 8  # heads of the PAE attention blocks
    dropout: float = 0.2  # PAE dropout, also on attention probabilities (official `dropout_r`)
    temperature: float = 0.07  # initial learnable temperature of the contrastive loss (official `temp1`)
    affiliation_temperature: float = 0.07  # initial learnable temperature of the affiliation loss (`temp2`)
    min_temperature: float = 0.01  # learnable temperatures are clamped to [min, max] (official: never clamped)
    max_temperature: float = 1.0  # upper clamp of the learnable temperatures
    clamp_temperatures: bool = True  # apply the [min, max] clamp; False for the official unclamped temperatures


@dataclass
class LossConfig:
    """Training objective (paper §3.4): contrastive + affiliation_weight × affiliation, or triplet."""

    objective: Literal["contrastive", "triplet"] = "contrastive"  # main alignment loss
    affiliation_weight: float = 1.0  # weight of the cluster-wise affiliation loss (official `center_factor`); 0 = off
    use_image_ids: bool = True  # contrastive positives = all captions of the same image (multi-positive)
    triplet_margin: float = 0.2  # margin of the triplet loss
    triplet_max_violation: bool = False  # hardest negative only (VSE++) instead of the sum over negatives


@dataclass
class DataConfig:
    """Dataset location and loading."""

    root: str = "data/synthrs"  # a prepared dataset directory (`pirlib synth` or `pirlib prepare` output)
    validation_fraction: float = 0.1  # training images held out for honest model selection (0 = official protocol)
    group_by_scene: bool = False  # batches drawn scene by scene (hard in-batch negatives)
    num_workers: int = 2  # DataLoader worker processes
    gpu_resident: bool = False  # keep decoded uint8 images on the GPU and augment there
    augment: bool = True  # official training augmentation (random resized crop, flip, RandAugment)


@dataclass
class TrainConfig:
    """Optimisation and run control. Paper: AdamW, lr 6e-5, batch 128, 50 epochs, 10% linear warm-up."""

    epochs: int = 50  # passes over the training captions
    batch_size: int = 128  # global batch of image-caption pairs (split over ranks)
    learning_rate: float = 6e-5  # peak learning rate
    lr_mult: float = 2.0  # learning-rate multiplier of newly initialised modules
    apply_lr_mult: bool = True  # official code declares lr_mult but never applies it: False for official behaviour
    weight_decay: float = 0.01  # AdamW decay (not on biases, norms and temperatures)
    official_weight_decay: bool = False  # official rule: decay every tensor whose name has no official no-decay part
    official_adamw: bool = False  # transformers-4 AdamW of the official code (eps before bias correction, late decay)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    eps: float = 1e-8  # AdamW epsilon
    warmup_fraction: float = 0.1  # share of steps with linear warm-up, then linear decay to 0
    max_steps: int | None = None  # cap on total optimisation steps (counting steps before a resume)
    seed: int = 42  # seeds every random source below that is left at None
    split_seed: int | None = None  # the validation hold-out of the training images (None: seed)
    init_seed: int | None = None  # the initial weights of every module (None: seed)
    data_seed: int | None = None  # the data order and the augmentation (None: seed)
    dropout_seed: int | None = None  # the dropout and drop-path masks (None: seed)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16
    compile: bool = False  # torch.compile the model
    channels_last: bool = True  # channels-last image tensors and convolution weights (faster on GPU and CPU)
    eval_every_epochs: int = 1  # validation (and test) evaluation period; 0 = only at the end
    checkpoint_every_steps: int = 0  # extra mid-epoch last/ checkpoints every this many steps (0 = none)
    save_last_every_epochs: int = 1  # last/ (the --resume checkpoint) period in epochs; 0 = only where training stops
    eval_batch_size: int = 256  # batch size when embedding images and captions for evaluation
    weight_average_decay: float = 0.0  # EMA of the weights, evaluated and saved as best/ (0: off, as in the paper)


def uses_scene_prior(model: ModelConfig) -> bool:
    """Whether a model with these settings has the frozen scene prior (VIR, or the prior-fusion control)."""
    return model.use_vir or model.prior_fusion


SEED_SOURCES = ("split", "init", "data", "dropout")  # the random sources of a run, each with its own seed field


def seed_of(train: TrainConfig, source: str) -> int:
    """The seed of one random source of a run (`SEED_SOURCES`): its own field, else `train.seed`."""
    if source not in SEED_SOURCES:
        raise ValueError(f"unknown random source '{source}': expected one of {', '.join(SEED_SOURCES)}")
    own = getattr(train, f"{source}_seed")
    return train.seed if own is None else own


@dataclass
class Config:
    """A whole PIR run."""

    name: str = "pir"  # a label for the run
    vision: VisionConfig = field(default_factory=VisionConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    prior_training: PriorTrainingConfig = field(default_factory=PriorTrainingConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

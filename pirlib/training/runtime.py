"""Where and how training runs: device ("auto" = CUDA when available), precision ("auto" = bf16 autocast on CUDA and
on CPUs with native bf16 arithmetic, fp32 elsewhere; on CUDA it also decides TF32), and the torchrun process group
(DDP when WORLD_SIZE > 1: gloo on CPU, nccl on GPU).

Under DDP, work that only the main process does (claiming the run directory, checking the images, training the
tokenizer, evaluating, saving) runs inside `Runtime.shared_outcome()`: every rank leaves such a block with the same
outcome, so an error on one rank ends every rank at once with the same message instead of leaving the others
waiting at the next collective.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from pirlib.config import ConfigError, TrainConfig
from pirlib.distributed import first_failure, peer_error


@dataclass
class Runtime:
    device: torch.device
    rank: int  # global rank (0 without torchrun)
    world_size: int  # number of processes (1 without torchrun)
    autocast_dtype: torch.dtype | None  # None = full fp32
    owns_process_group: bool  # True when this runtime initialised torch.distributed (and must tear it down)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @contextlib.contextmanager
    def shared_outcome(self) -> Iterator[None]:
        """A block that every rank leaves with the same outcome. The ranks may do different work inside (`if
        runtime.is_main:`); at its end they exchange whether they failed (a collective, so it is also a barrier),
        and when any rank raised, every rank raises the error of the lowest failing rank: that rank its own, the
        others a copy (a user error as itself, so the command line prints the same line on every rank; a bug as
        `RankFailed`). One process: the block as it is."""
        error = None
        try:
            yield
        except Exception as raised:
            error = raised
        if self.distributed:
            failure = first_failure(error)
            if failure is not None:
                with contextlib.suppress(RuntimeError):  # every rank has the outcome before one tears the group down
                    dist.barrier()
            if failure is not None and failure[0] != self.rank:
                raise peer_error(*failure) from None
        if error is not None:
            raise error

    def close(self) -> None:
        if self.owns_process_group and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(name: str, local_rank: int = 0, key: str = "train.device") -> torch.device:
    """ "auto" → CUDA when available, else cpu; "cuda:N" must exist. CUDA without an index is cuda:local_rank
    (torchrun's LOCAL_RANK) when the process sees that many devices, cuda:0 when it sees one (a launcher that shows
    each process its own GPU through CUDA_VISIBLE_DEVICES), else an error. `key` names the setting in errors (the
    config field, or a command's flag such as --device)."""
    setting = f"{key} {name}" if key.startswith("--") else f"{key}={name}"  # as the user wrote it
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        index = name.partition(":")[2]
        if not torch.cuda.is_available():
            raise ConfigError(f"CUDA is not available ({setting}): use auto or cpu")
        count = torch.cuda.device_count()
        if name != "cuda" and not (index.isdigit() and int(index) < count):
            raise ConfigError(f"no such CUDA device ({setting}): this machine has cuda:0 to cuda:{count - 1}")
        if ":" in name:
            return torch.device(name)
        if local_rank < count:
            return torch.device(f"cuda:{local_rank}")
        if count == 1:
            return torch.device("cuda:0")
        raise ConfigError(
            f"no CUDA device for LOCAL_RANK {local_rank} ({setting}): this process sees cuda:0 to cuda:{count - 1}; "
            f"start at most {count} processes per machine, or show each process one GPU (CUDA_VISIBLE_DEVICES)"
        )
    if name != "cpu":
        raise ConfigError(f"unknown device ({setting}): expected auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 dot-product instructions
ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512")


def cpu_has_native_bf16(cpuinfo: str | None = None, environ: dict[str, str] | None = None) -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX) and oneDNN, which runs PyTorch's bf16 matrix
    products and convolutions on the CPU, may use it: with ONEDNN_MAX_CPU_ISA capped below those instructions bf16 is
    emulated, slower than fp32. (ATEN_CPU_CAPABILITY changes the elementwise kernels only, not this choice.)"""
    environ = os.environ if environ is None else environ
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: no way to tell, take the safe choice
            return False
    flags = set(cpuinfo.split())
    if not any(flag in flags for flag in NATIVE_BF16_FLAGS):
        return False
    onednn_cap = environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return not onednn_cap or onednn_cap in ("ALL", "DEFAULT", *ONEDNN_BF16_ISAS)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """ "auto" → bf16 autocast on CUDA and on CPUs with native bf16, fp32 elsewhere; "bf16" forces autocast;
    "fp32" disables it. Returns the autocast dtype (None: fp32)."""
    if precision == "fp32":
        return None
    if precision == "auto" and device.type != "cuda" and not cpu_has_native_bf16():
        return None
    return torch.bfloat16


def precision_name(dtype: torch.dtype | None) -> str:
    """The config value that selects `dtype` explicitly ("bf16" or "fp32")."""
    return "fp32" if dtype is None else "bf16"


def resolved_precision(config: TrainConfig) -> str:
    """`config.precision` with "auto" decided for this machine ("bf16" or "fp32"), for storing in a run's config."""
    return precision_name(resolve_precision(config.precision, resolve_device(config.device)))


def set_cuda_float32_math(autocast_dtype: torch.dtype | None) -> None:
    """TF32 for float32 matrix products and convolutions on CUDA only under bf16 autocast; in fp32 every float32
    product is a float32 product (PyTorch's default would give cuDNN convolutions TF32), so an fp32 run is what its
    name says. Process-wide; call it only for CUDA work: CPU kernels are left as they are."""
    allow = autocast_dtype is not None
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def setup_runtime(config: TrainConfig) -> Runtime:
    """Join the torchrun process group when WORLD_SIZE > 1 (or reuse an initialised one), pick device and precision
    (and, on CUDA, TF32 to match it)."""
    if dist.is_initialized():
        world_size, rank = dist.get_world_size(), dist.get_rank()
    else:
        world_size, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if config.batch_size % world_size:
        raise ConfigError(
            f"train.batch_size={config.batch_size} is not divisible by the {world_size} processes; "
            f"the per-rank batch is batch_size / world_size"
        )
    device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    owns = world_size > 1 and not dist.is_initialized()
    if owns:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    autocast_dtype = resolve_precision(config.precision, device)
    if device.type == "cuda":
        set_cuda_float32_math(autocast_dtype)
    return Runtime(device, rank, world_size, autocast_dtype, owns)

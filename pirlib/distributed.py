"""Process-group helpers. Single-process code never touches `torch.distributed` beyond `is_available()`."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True only inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` [N, ...] from every rank along dim 0 -> [world_size * N, ...], in rank order.

    The local slice is the input tensor itself, so gradients flow to this rank's inputs; the other ranks' slices
    are constants here (each rank back-propagates through its own slice, and DDP averages the gradients).
    Identity with one process.
    """
    if not is_distributed():
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    gathered[dist.get_rank()] = tensor
    return torch.cat(gathered, dim=0)

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


class _AllGatherWithGradient(torch.autograd.Function):
    """all_gather whose backward sums, over ranks, the gradient each rank's loss sends to every slice."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        return torch.cat(gathered, dim=0)  # [world_size * N, ...]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()  # [world_size * N, ...]
        dist.all_reduce(grad)  # every rank's loss depends on every slice
        size = grad.shape[0] // dist.get_world_size()
        return grad[dist.get_rank() * size : (dist.get_rank() + 1) * size]  # [N, ...]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` [N, ...] from every rank along dim 0 -> [world_size * N, ...], in rank order.

    Each rank computes the loss of the whole gathered batch; the backward all-reduces (sums) the gradient of the
    gathered tensor and returns this rank's slice, so rank r holds W x the single-process gradient of its features
    and DDP's average over the W ranks equals the single-process gradient, consistently with the learnable
    temperatures (which every rank differentiates in full). Identity with one process.
    """
    if not is_distributed():
        return tensor
    return _AllGatherWithGradient.apply(tensor)

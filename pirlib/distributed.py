"""Process-group helpers. Single-process code never touches `torch.distributed` beyond `is_available()`."""

from __future__ import annotations

import pickle

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True only inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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


class RankFailed(RuntimeError):
    """Another rank failed with an unexpected error (a bug); its traceback is in that rank's output."""


def _sendable(error: Exception) -> Exception:
    """`error` when it survives pickling (what `all_gather_object` does to it), else a `RankFailed` naming it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RankFailed(f"{type(error).__name__}: {error}")
    return error


def first_failure(error: Exception | None) -> tuple[int, Exception] | None:
    """Every rank says whether it failed (a collective: every rank must call it at the same point) → (the lowest
    failing rank, its error as received) or None when no rank failed."""
    received: list[Exception | None] = [None] * dist.get_world_size()
    dist.all_gather_object(received, None if error is None else _sendable(error))
    return next(((rank, failure) for rank, failure in enumerate(received) if failure is not None), None)


def peer_error(rank: int, error: Exception) -> Exception:
    """What a rank raises for the failure of `rank`: a user error (bad input, an output in use, a full disk) as
    itself, so that every rank reports the same line; anything else as `RankFailed`."""
    from pirlib.commands import user_errors

    if isinstance(error, (*user_errors(), OSError)):
        return error
    return RankFailed(f"rank {rank} failed ({type(error).__name__}: {error}): its traceback is in that rank's output")

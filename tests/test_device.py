"""Device choice (`resolve_device`) under the launchers' ways of showing GPUs to a process, and the CUDA float32
math that follows the precision (`set_cuda_float32_math`), checked without a GPU."""

from __future__ import annotations

import pytest
import torch

from pirlib.config import ConfigError
from pirlib.training.runtime import resolve_device, set_cuda_float32_math


@pytest.fixture
def cuda_devices(monkeypatch):
    """Pretend this process sees `count` CUDA devices."""

    def pretend(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return pretend


@pytest.mark.parametrize("name", ["auto", "cuda"])
def test_local_rank_picks_the_device_when_the_process_sees_them_all(cuda_devices, name):
    cuda_devices(4)
    assert resolve_device(name, local_rank=0) == torch.device("cuda:0")
    assert resolve_device(name, local_rank=3) == torch.device("cuda:3")


@pytest.mark.parametrize("name", ["auto", "cuda"])
def test_one_visible_device_per_process_is_cuda_0(cuda_devices, name):
    cuda_devices(1)  # CUDA_VISIBLE_DEVICES=<this rank's GPU>
    assert resolve_device(name, local_rank=5) == torch.device("cuda:0")


def test_a_local_rank_beyond_the_visible_devices_is_one_clear_error(cuda_devices):
    cuda_devices(2)
    with pytest.raises(ConfigError, match=r"no CUDA device for LOCAL_RANK 2 \(train.device=auto\): .*cuda:0 to cuda:1"):
        resolve_device("auto", local_rank=2)


def test_explicit_devices(cuda_devices):
    cuda_devices(2)
    assert resolve_device("cuda:1", local_rank=0) == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="no such CUDA device"):
        resolve_device("cuda:2")
    cuda_devices(0)
    assert resolve_device("auto", local_rank=3) == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.fixture
def restore_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_tf32_only_under_bf16(restore_tf32):
    set_cuda_float32_math(None)  # fp32: float32 products stay float32 (cuDNN would allow TF32 by default)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    set_cuda_float32_math(torch.bfloat16)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32

"""`train.precision: auto`: bf16 autocast only where the CPU computes bf16 natively and PyTorch may use it."""

from __future__ import annotations

import torch

from pirlib.config import load_config
from pirlib.training.runtime import cpu_has_native_bf16, precision_name, resolve_precision, resolved_precision

ZEN4 = "flags : fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS = "flags : fpu avx2 avx512f amx_bf16 amx_tile"
SKYLAKE = "flags : fpu sse2 avx2 avx512f avx512bw"


def test_native_bf16_needs_the_instructions():
    assert cpu_has_native_bf16(ZEN4, {}) and cpu_has_native_bf16(SAPPHIRE_RAPIDS, {})
    assert not cpu_has_native_bf16(SKYLAKE, {})
    assert not cpu_has_native_bf16("", {})


def test_a_capped_kernel_path_counts_as_no_native_bf16():
    assert not cpu_has_native_bf16(ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert not cpu_has_native_bf16(ZEN4, {"ONEDNN_MAX_CPU_ISA": "avx512_core"})
    assert cpu_has_native_bf16(ZEN4, {"ATEN_CPU_CAPABILITY": "avx2"})  # elementwise kernels only
    assert cpu_has_native_bf16(SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})
    assert cpu_has_native_bf16(ZEN4, {"ONEDNN_MAX_CPU_ISA": "ALL", "ATEN_CPU_CAPABILITY": "avx512"})


def test_explicit_settings_win_and_auto_follows_the_machine(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("auto", torch.device("cuda")) is torch.bfloat16
    monkeypatch.setattr("pirlib.training.runtime.cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) is None
    assert resolved_precision(load_config(None, ["train.device=cpu"]).train) == "fp32"
    monkeypatch.setattr("pirlib.training.runtime.cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) is torch.bfloat16
    assert resolved_precision(load_config(None, ["train.device=cpu"]).train) == "bf16"
    assert precision_name(None) == "fp32" and precision_name(torch.bfloat16) == "bf16"

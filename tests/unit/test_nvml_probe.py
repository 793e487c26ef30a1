"""Lightning's NVML-based CUDA check is dropped where no NVIDIA driver exists (gan_lab.runner)."""
from __future__ import annotations

import ctypes
import os

import lightning  # noqa: F401  (sets PYTORCH_NVML_BASED_CUDA_CHECK=1, as in every training run)
import torch

from gan_lab.runner import skip_nvml_probe_without_driver


def _driver() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return True
    except OSError:
        return False


def test_the_probe_is_dropped_only_without_a_driver_and_cuda_is_still_answered_right(monkeypatch):
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    available = torch.cuda.is_available()
    skip_nvml_probe_without_driver()
    kept = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"
    assert kept == (_driver() or not torch.backends.cuda.is_built())
    assert torch.cuda.is_available() == available  # the same answer either way


def test_a_users_own_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "0")
    skip_nvml_probe_without_driver()
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "0"

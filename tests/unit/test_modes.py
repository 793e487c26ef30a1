"""Mode metrics of the 2-D mixtures against hand-counted examples."""
import pytest
import torch

from tests.conftest import mixture_means
from gan_lab.metrics.modes import mode_metrics


def test_mode_metrics_count_high_quality_samples_and_covered_modes():
    means = mixture_means("ring8")
    std = 0.01
    samples = torch.stack([
        means[0] + torch.tensor([0.02, 0.0]),  # 2 std away: high quality, mode 0
        means[0] + torch.tensor([0.0, -0.029]),  # 2.9 std: high quality, mode 0 again
        means[3] + torch.tensor([0.031, 0.0]),  # 3.1 std: low quality, does not cover mode 3
        means[5],  # exactly on mode 5
        torch.zeros(2),  # the centre of the ring: far from every mode
    ])
    assert mode_metrics(samples, means, std) == {"modes_covered": 2, "high_quality_fraction": pytest.approx(3 / 5)}


def test_real_data_covers_every_mode():
    from tests.conftest import load_mixture

    data = load_mixture("grid25", std=0.05, num_train=2500, num_val=10)
    result = mode_metrics(data.train_x, mixture_means("grid25"), 0.05)
    assert result["modes_covered"] == 25 and result["high_quality_fraction"] > 0.98  # 3-sigma in 2-D: 98.9%

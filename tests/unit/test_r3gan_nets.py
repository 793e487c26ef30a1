"""model=r3gan (Huang et al. 2024 §3; brownvc/R3GAN R3GAN/Networks.py): shapes for 28 and 32 px with 1 and 3
channels, the fix-up initialisation (every residual branch zero at init), no normalisation layers, and the
bilinear resampling filter."""
import math

import pytest
import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.r3gan import ACTIVATION_GAIN, R3GANDiscriminator, R3GANGenerator, Resample, ResidualBlock, lowpass_kernel

NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_28_and_32_pixels_with_1_and_3_channels(size, channels):
    G, D = R3GANGenerator(z_dim=64, image_size=size, channels=channels), R3GANDiscriminator(image_size=size, channels=channels)
    x = G(G.sample_z(5))
    assert x.shape == (5, channels, size, size) and G.example_shape == (channels, size, size)
    logits, features = D(x)
    assert logits.shape == (5,) and features.shape == (5, D.feature_dim)
    K = R3GANDiscriminator(image_size=size, channels=channels, out_dim=10)(x)[0]  # a K-logit D (task=semi_supervised)
    assert K.shape == (5, 10)


def test_28_px_uses_the_last_3_widths_and_32_px_all_4():
    widths = [64, 32, 16, 8]
    G28, G32 = R3GANGenerator(image_size=28, widths=widths), R3GANGenerator(image_size=32, widths=widths)
    assert G28.basis.shape == (32, 7, 7) and G32.basis.shape == (64, 4, 4)
    assert G28.to_image.in_channels == G32.to_image.in_channels == 8
    assert R3GANDiscriminator(image_size=28, widths=widths).from_image.out_channels == 8
    assert R3GANDiscriminator(image_size=28, widths=widths).feature_dim == 32


@pytest.mark.parametrize("make", [lambda: R3GANGenerator(image_size=32), lambda: R3GANDiscriminator(image_size=32)])
def test_every_residual_branch_outputs_zero_at_init_and_the_block_is_the_identity(make):
    net = make()
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 4
    for block in blocks:
        assert torch.count_nonzero(block.conv3.weight) == 0  # ActivationGain=0
        x = torch.randn(3, block.conv1.in_channels, 8, 8)
        assert torch.count_nonzero(block.branch(x)) == 0 and torch.equal(block(x), x)


def test_msr_init_scales_the_branch_by_the_number_of_blocks():
    block = ResidualBlock(64, expansion=2, channels_per_group=16, kernel_size=3, num_blocks=16)
    gain = ACTIVATION_GAIN * 16 ** -0.25  # VarianceScalingParameter ** (-1 / (2 * 3 - 2))
    assert block.conv1.weight.std().item() == pytest.approx(gain / math.sqrt(64), rel=0.05)
    assert block.conv2.weight.std().item() == pytest.approx(gain / math.sqrt(16 * 9), rel=0.05)
    assert block.conv2.groups == 128 // 16 and block.conv1.bias is None
    assert all(torch.count_nonzero(b) == 0 for b in (block.act1.bias, block.act2.bias))


@pytest.mark.parametrize("make", [lambda: R3GANGenerator(image_size=28), lambda: R3GANDiscriminator(image_size=28)])
def test_no_normalisation_layers(make):
    assert not any(isinstance(m, NORMS) for m in make().modules())


def test_resampling_is_bilinear_with_the_1_3_3_1_filter():
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    assert torch.allclose(lowpass_kernel((1, 2, 1)), torch.outer(k, k) / 64)
    ones = torch.ones(2, 3, 8, 8)
    up, down = Resample(up=True)(ones), Resample(up=False)(ones)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    assert torch.allclose(up[..., 1:-1, 1:-1], torch.ones(1)) and torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1))  # DC kept
    # upsampling a single pixel spreads it with 4 k k^T / 64 (the zero-insertion gain 4), channel by channel
    impulse = torch.zeros(1, 2, 4, 4)
    impulse[0, 1, 2, 2] = 1.0
    assert torch.allclose(Resample(up=True)(impulse)[0, 1, 3:7, 3:7], 4 * torch.outer(k, k) / 64)
    assert torch.count_nonzero(Resample(up=True)(impulse)[0, 0]) == 0


def test_bad_sizes_and_groups_are_refused():
    with pytest.raises(ConfigError, match="set data.image_size=28"):
        R3GANGenerator(image_size=27)
    with pytest.raises(ConfigError, match="channels_per_group=5"):
        R3GANDiscriminator(image_size=28, channels_per_group=5)
    with pytest.raises(ConfigError, match="widths"):
        R3GANGenerator(image_size=32, widths=[16, 8])

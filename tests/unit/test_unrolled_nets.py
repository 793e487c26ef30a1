"""model=dcgan_unrolled: Unrolled GAN's small Stacked-MNIST nets as PacGAN's Table 3 re-ran them (github.com/fjxmlzn/PacGAN
stacked_MNIST_experiments/unrolled_GAN_experiment/D=0.25G/model.py). The parameter counts are the original's layer
list counted by hand (every conv / linear with a bias, every TF batch_norm with scale and offset)."""
import pytest
import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets import UnrolledDiscriminator, UnrolledGenerator
from gan_lab.nets.layers.packing import PackedDiscriminator
from tests.conftest import compose_cfg


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_the_generator_has_the_originals_layers_and_shapes():
    G = UnrolledGenerator()
    # linear 256 -> 4*4*64 (+bias), bn 64; deconv 64 -> 32, 32 -> 16, 16 -> 8 (3x3, +bias) each with bn; conv 8 -> 3 (3x3, +bias)
    expected = (256 * 1024 + 1024) + 2 * 64 + (64 * 32 * 9 + 32) + 2 * 32 + (32 * 16 * 9 + 16) + 2 * 16 + (16 * 8 * 9 + 8) + 2 * 8 + (8 * 3 * 9 + 3)
    assert n_params(G) == expected == 287_875
    shapes = []
    x = G.sample_z(5)
    for layer in G.net:
        x = layer(x)
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 7, 7), (16, 14, 14), (8, 28, 28), (3, 28, 28)]
    assert x.min() >= -1 and x.max() <= 1 and G.z_dim == 256 and G.example_shape == (3, 28, 28)


@pytest.mark.parametrize("width, expected", [
    # conv 3 -> w, w -> 2w, 2w -> 4w (3x3 stride 2, +bias), each with bn (scale, offset); linear 4w*4*4 -> 1 (+bias)
    (2, (3 * 2 * 9 + 2) + 4 + (2 * 4 * 9 + 4) + 8 + (4 * 8 * 9 + 8) + 16 + (128 + 1)),   # "D is 1/4 size of G": 585
    (4, (3 * 4 * 9 + 4) + 8 + (4 * 8 * 9 + 8) + 16 + (8 * 16 * 9 + 16) + 32 + (256 + 1)),  # "1/2 size": 1,773
])
def test_the_discriminator_has_the_originals_layers(width, expected):
    D = UnrolledDiscriminator(width=width)
    assert n_params(D) == expected
    assert D.feature_dim == 4 * width * 16
    logits, features = D(torch.randn(6, 3, 28, 28))
    assert logits.shape == (6,) and features.shape == (6, D.feature_dim)
    assert [m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)] == [0.3] * 3
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3  # BN on the input layer too, as the original


def test_weights_are_normal_002_and_biases_zero():
    torch.manual_seed(0)
    G = UnrolledGenerator()
    assert G.net[0].weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(torch.count_nonzero(m.bias) == 0 for m in G.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)))


def test_packing_widens_the_first_convolution():
    D = PackedDiscriminator(UnrolledDiscriminator(), 2)
    logits, _ = D(torch.randn(8, 3, 28, 28))
    assert logits.shape == (4,)


def test_other_sizes_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match="data.image_size=28"):
        UnrolledGenerator(image_size=32)
    with pytest.raises(ConfigError, match="give 4 widths"):
        UnrolledGenerator(widths=[8, 8])


def test_the_protocol_brings_the_setups_optimiser_and_sizes():
    cfg = compose_cfg(["experiment=stacked_mnist_unrolled"], fast=False)
    assert (cfg.optim.d.lr, cfg.optim.g.lr, list(cfg.optim.g.betas)) == (2e-4, 1e-4, [0.5, 0.99])
    assert (cfg.data.batch_size, cfg.model.z_dim, cfg.model.discriminator.width, cfg.trainer.max_steps) == (128, 256, 2, 500_000)
    assert cfg.ema.half_life_kimg == 0 and cfg.data.name == "stacked_mnist" and cfg.metrics.num_samples == 25600  # no EMA: the raw G, as the original
    cpu = compose_cfg(["experiment=stacked_mnist_unrolled_cpu"], fast=False)
    assert cpu.model.name == "dcgan_unrolled" and cpu.ensemble.seeds == 1 and cpu.trainer.max_steps < 500_000

"""Shapes of every model at every supported size, and the DCGAN architecture guidelines."""
import pytest
import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets import DCGANDiscriminator, DCGANGenerator, Maxout, MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
def test_dcgan_shapes(size, channels, upsample):
    g = DCGANGenerator(z_dim=16, image_size=size, channels=channels, width=8, upsample=upsample)
    d = DCGANDiscriminator(image_size=size, channels=channels, width=8)
    x = g(g.sample_z(3))
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1.0  # tanh output
    logits, features = d(x)
    assert logits.shape == (3,)
    assert features.shape == (3, d.feature_dim)


def test_dcgan_rejects_sizes_it_cannot_make():
    with pytest.raises(ConfigError, match=r"data.image_size=50: dcgan makes 28, 32 or 64 pixel images \(set data.image_size=64\)"):
        DCGANGenerator(image_size=50)


def test_dcgan_follows_radford_guidelines():
    g, d = DCGANGenerator(image_size=64, width=8), DCGANDiscriminator(image_size=64, width=8)
    # no BatchNorm on D's input layer, LeakyReLU(0.2) in D, ReLU + tanh in G
    assert isinstance(d.body[0], nn.Conv2d) and isinstance(d.body[1], nn.LeakyReLU) and d.body[1].negative_slope == 0.2
    assert isinstance(g.net[-1], nn.Tanh) and not isinstance(g.net[-2], nn.BatchNorm2d)
    assert not any(isinstance(m, nn.MaxPool2d) for m in d.modules())
    weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)


def test_upsample_generator_has_no_strided_transposed_convolution():
    g = DCGANGenerator(image_size=32, width=8, upsample="nearest")
    transposed = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 1 and transposed[0].stride == (1, 1)  # only the 1x1 -> 4x4 projection
    assert sum(isinstance(m, nn.Upsample) for m in g.modules()) == 3


def test_layer_norm_critic_has_no_batchnorm():
    d = DCGANDiscriminator(image_size=32, width=8, norm="layer")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())


@pytest.mark.parametrize(("image_size", "channels", "shape"), [(28, 1, (1, 28, 28)), (None, None, (2,))])
def test_mlp_shapes(image_size, channels, shape):
    g = MLPGenerator(image_size, channels, z_dim=10, hidden=[32, 32])
    d = MLPDiscriminator(image_size, channels, hidden=[16, 16])
    x = g(g.sample_z(4))
    assert x.shape == (4, *shape)
    logits, features = d(x)
    assert logits.shape == (4,) and features.shape == (4, 16)
    assert isinstance(g.net[-1], nn.Tanh) == (len(shape) == 3)  # output=auto: tanh for images, linear for points


def test_maxout_takes_the_max_over_pieces():
    layer = Maxout(2, 1, pieces=3)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        layer.linear.bias.zero_()
    out = layer(torch.tensor([[2.0, 5.0], [-3.0, -4.0]]))
    assert out.flatten().tolist() == [5.0, 7.0]  # max(2, 5, -7), max(-3, -4, 7)

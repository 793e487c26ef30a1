"""R3GAN's generator and discriminator (Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is dead; long live
the GAN! A Modern GAN Baseline", §3, Config E; brownvc/R3GAN ``R3GAN/Networks.py``), scaled down to 28 and 32
pixel images, 1 or 3 channels, and CPU widths (``model=r3gan``; its loss is ``loss=rpgan``, chosen apart).

As ``Networks.py``:

* G (``Generator``): ``GenerativeBasis``, a learned ``[W, s, s]`` basis scaled per channel by a linear map of z
  (s = 7 at 28 px, 4 at 32 px), then per stage 2x upsampling and ``blocks`` residual blocks, and a 1x1
  convolution to the image channels (``AggregationLayer``: a linear output, no tanh).
* D (``Discriminator``): a 1x1 convolution from the image (``ExtractionLayer``), then per stage ``blocks``
  residual blocks and 2x downsampling; the last stage ends in ``DiscriminativeBasis``, an s x s depthwise
  convolution to ``[B, W]`` (the features f(x)) and a linear layer to the logit (``self.head``).
* ``ResidualBlock``: x + conv1x1(act(conv_kxk(act(conv1x1(x))))), the ConvNeXt-style inverted bottleneck
  (C -> E C -> E C -> C, E = ``expansion`` = 2) with a grouped k x k convolution (groups of ``channels_per_group``
  channels: the CIFAR-10 preset's 2 * 768 / 96 = 16); ``BiasedActivation`` (a bias, then leaky ReLU 0.2)
  after the first two convolutions; no biases in the convolutions, no normalisation layers at all.
* Initialisation (``MSRInitializer``): N(0, gain^2 / fan_in), the block's first two convolutions with
  gain = sqrt(2 / (1 + 0.2^2)) L^(-1/4), L the number of blocks of the net (``VarianceScalingParameter``,
  fix-up's scaling for 3 layers per branch), and the branch's last convolution zero (``ActivationGain=0``): every
  residual branch outputs zero at init. The other layers have gain 1; the generative basis is N(0, 1).
* Resampling (``Resamplers.py``, ``InterpolativeUpsampler`` / ``InterpolativeDownsampler`` with
  ``ResamplingFilter=[1, 2, 1]``): the low-pass kernel k k^T / sum, k = [1, 2, 1] * [1, 1] = [1, 3, 3, 1], applied
  per channel by a stride-2 transposed convolution (x 4, the zero-insertion gain) up, a stride-2 convolution
  down: bilinear resampling, the original's ``*Reference`` classes (``upfirdn2d`` computes the same).

Scaled down (the CIFAR-10 preset, ``train.py --preset=CIFAR10``: 4 stages of width 768, 2 blocks per stage, 96
groups, z of 64): ``widths`` per stage, lowest resolution first, falling with the resolution as R3GAN's FFHQ
presets' (a 1x1 convolution where the width changes: ``UpsampleLayer`` / ``DownsampleLayer``; D has G's widths at
each resolution, ``reversed(WidthPerStage)``), ``blocks`` per stage, chosen for a CPU (``conf/model/r3gan.yaml``
has the timings). A 28 px image has 3 stages (7, 14, 28) and uses the last 3 widths, a 32 px one 4 (4, 8, 16, 32).
Deviations: the basis is 7 x 7 at 28 px (R3GAN's is always 4 x 4); R3GAN's mixed precision (``FP16Stages``) and
class conditioning (``ConditionEmbeddingDimension``) are left out (``task=conditional`` adds gan-lab's own heads).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Discriminator, Generator

# image size -> spatial size of the basis (7 * 2^2 = 28, 4 * 2^3 = 32)
BASE_SIZE = {28: 7, 32: 4}
#: the leaky ReLU's variance-preserving gain, R3GAN's ``BiasedActivation.Gain``
ACTIVATION_GAIN = math.sqrt(2 / (1 + 0.2 ** 2))


def msr_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """R3GAN's ``MSRInitializer``: weights from N(0, (gain / sqrt(fan_in))^2), fan_in = in / groups * k * k."""
    fan_in = layer.weight.shape[1] * layer.weight[0][0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    return layer


def conv(in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """R3GAN's ``Convolution``: stride 1, "same" padding, no bias."""
    return msr_init(nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, groups=groups, bias=False), gain)


class BiasedActivation(nn.Module):
    """A per-channel bias (zero at init), then leaky ReLU 0.2 (``FusedOperators.BiasedActivation``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)


class ResidualBlock(nn.Module):
    """x + conv1x1(act(grouped conv kxk(act(conv1x1(x))))); the last convolution zero at init."""

    def __init__(self, channels: int, expansion: int, channels_per_group: int, kernel_size: int, num_blocks: int) -> None:
        super().__init__()
        expanded = channels * expansion
        gain = ACTIVATION_GAIN * num_blocks ** (-1 / (2 * 3 - 2))  # 3 linear layers per branch
        self.conv1 = conv(channels, expanded, 1, gain=gain)
        self.act1 = BiasedActivation(expanded)
        self.conv2 = conv(expanded, expanded, kernel_size, groups=expanded // channels_per_group, gain=gain)
        self.act2 = BiasedActivation(expanded)
        self.conv3 = conv(expanded, channels, 1, gain=0.0)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def lowpass_kernel(weights: tuple[int, ...] = (1, 2, 1)) -> torch.Tensor:
    """``CreateLowpassKernel(weights, Inplace=False)``: k = weights * [1, 1], the kernel k k^T / sum."""
    k = torch.tensor(weights, dtype=torch.float64)
    k = F.conv1d(k.view(1, 1, -1), torch.ones(1, 1, 2, dtype=torch.float64), padding=1).flatten()  # full convolution with [1, 1]
    kernel = torch.outer(k, k)
    return (kernel / kernel.sum()).float()


class Resample(nn.Module):
    """2x bilinear up- or downsampling of every channel with the low-pass kernel (``Interpolative*Reference``)."""

    def __init__(self, up: bool, weights: tuple[int, ...] = (1, 2, 1)) -> None:
        super().__init__()
        self.up, self.radius = up, len(weights) // 2
        self.register_buffer("kernel", lowpass_kernel(weights), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, 2H, 2W] (up) or [B, C, H/2, W/2]
        c = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(c, 1, *self.kernel.shape)
        if self.up:
            return F.conv_transpose2d(x, 4 * kernel, stride=2, padding=self.radius, groups=c)
        return F.conv2d(x, kernel, stride=2, padding=self.radius, groups=c)


def _stages(image_size: int) -> tuple[int, int]:
    if image_size not in BASE_SIZE:
        nearest = min(BASE_SIZE, key=lambda s: abs(s - image_size))
        raise ConfigError(f"data.image_size={image_size}: r3gan makes 28 or 32 pixel images (set data.image_size={nearest})")
    base = BASE_SIZE[image_size]
    return base, int(math.log2(image_size // base)) + 1


def _widths(widths: list[int], stages: int, player: str, expansion: int, channels_per_group: int) -> list[int]:
    """The widths of the ``stages`` stages, lowest resolution first: the last ``stages`` entries of ``widths``
    (the last is the output resolution's, as R3GAN's ``WidthPerStage`` ends at the image's resolution)."""
    widths = [int(w) for w in widths]
    if len(widths) < stages or min(widths) < 1:
        raise ConfigError(f"model.{player}.widths={widths}: give {stages} positive widths or more, lowest resolution first "
                          f"(a {stages}-stage net uses the last {stages}), e.g. model.{player}.widths=[64,64,32,16]")
    widths = widths[-stages:]
    for w in widths:
        if channels_per_group < 1 or (w * expansion) % channels_per_group:
            raise ConfigError(f"model.{player}.channels_per_group={channels_per_group}: must divide every expanded width "
                              f"({[v * expansion for v in widths]}: widths x expansion {expansion}), e.g. model.{player}.channels_per_group=8")
    return widths


class R3GANGenerator(Generator):
    def __init__(self, z_dim: int = 64, image_size: int = 32, channels: int = 3, widths: list[int] = (16, 16, 8, 4),
                 blocks: int = 1, expansion: int = 2, channels_per_group: int = 8, kernel_size: int = 3) -> None:
        super().__init__()
        base, stages = _stages(image_size)
        widths = _widths(widths, stages, "generator", expansion, channels_per_group)
        self.z_dim, self.base = z_dim, base
        self.example_shape = (channels, image_size, image_size)
        self.basis = nn.Parameter(torch.randn(widths[0], base, base))  # GenerativeBasis.Basis, N(0, 1)
        self.basis_scale = msr_init(nn.Linear(z_dim, widths[0], bias=False))
        num_blocks = blocks * stages
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            if i:  # UpsampleLayer: a 1x1 convolution where the width changes, then 2x upsampling
                layers += ([conv(widths[i - 1], width)] if width != widths[i - 1] else []) + [Resample(up=True)]
            layers += [ResidualBlock(width, expansion, channels_per_group, kernel_size, num_blocks) for _ in range(blocks)]
        self.body = nn.Sequential(*layers)
        self.to_image = conv(widths[-1], channels, 1)  # AggregationLayer: linear output

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, z_dim] -> [B, C, H, W]
        x = self.basis.unsqueeze(0) * self.basis_scale(z).view(z.shape[0], -1, 1, 1)  # [B, W_0, base, base]
        return self.to_image(self.body(x))


class R3GANDiscriminator(Discriminator):
    """``widths`` as G's, lowest resolution first (R3GAN's D: ``reversed(WidthPerStage)``)."""

    def __init__(self, image_size: int = 32, channels: int = 3, widths: list[int] = (16, 16, 8, 4), blocks: int = 1,
                 expansion: int = 2, channels_per_group: int = 8, kernel_size: int = 3, out_dim: int = 1) -> None:
        super().__init__()
        base, stages = _stages(image_size)
        widths = _widths(widths, stages, "discriminator", expansion, channels_per_group)[::-1]  # highest resolution first
        num_blocks = blocks * stages
        self.from_image = conv(channels, widths[0], 1)  # ExtractionLayer (first: trick=packing widens it)
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            layers += [ResidualBlock(width, expansion, channels_per_group, kernel_size, num_blocks) for _ in range(blocks)]
            if i < stages - 1:  # DownsampleLayer: 2x downsampling, then a 1x1 convolution where the width changes
                layers += [Resample(up=False)] + ([conv(width, widths[i + 1])] if widths[i + 1] != width else [])
        self.body = nn.Sequential(*layers)
        # DiscriminativeBasis: a depthwise base x base convolution to [B, W, 1, 1], then the linear head
        self.basis = msr_init(nn.Conv2d(widths[-1], widths[-1], base, groups=widths[-1], bias=False))
        self.feature_dim, self.out_dim = widths[-1], out_dim
        self.head = msr_init(nn.Linear(widths[-1], out_dim, bias=False))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, W_0]
        return self.basis(self.body(self.from_image(x))).flatten(1)

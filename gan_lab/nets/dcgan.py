"""DCGAN (Radford, Metz & Chintala 2015) for 28, 32 and 64 pixel images, 1 or 3 channels.

The architecture guidelines of §3: strided convolutions instead of pooling, BatchNorm in both
nets except G's output and D's input layer, ReLU in G with tanh output, LeakyReLU(0.2) in D,
no fully connected hidden layers, weights from N(0, 0.02).

``upsample="nearest"`` is the checkerboard-free generator of Odena, Dumoulin & Olah 2016
("Deconvolution and Checkerboard Artifacts"): each stride-2 transposed convolution becomes a
nearest-neighbour 2x upsampling followed by a 3x3 convolution (``model=dcgan_upsample``).

Deviation: D's last layer, a ``s x s`` valid convolution in the paper, is written as flatten +
``Linear`` (the same function) so that the feature vector f(x) is explicit for the tricks.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Discriminator, Generator, dcgan_init, norm_layer

# image size -> spatial size of the smallest feature map (7 * 2^2 = 28, 4 * 2^3 = 32, 4 * 2^4 = 64)
BASE_SIZE = {28: 7, 32: 4, 64: 4}


def _levels(image_size: int, model: str) -> tuple[int, int]:
    if image_size not in BASE_SIZE:
        nearest = min(BASE_SIZE, key=lambda s: abs(s - image_size))
        raise ConfigError(
            f"data.image_size={image_size}: {model} makes 28, 32 or 64 pixel images (set data.image_size={nearest})"
        )
    base = BASE_SIZE[image_size]
    return base, int(math.log2(image_size // base))


class DCGANGenerator(Generator):
    def __init__(self, z_dim: int = 100, image_size: int = 28, channels: int = 1, width: int = 64, upsample: str = "transposed", norm: str = "batch") -> None:
        super().__init__()
        if upsample not in ("transposed", "nearest"):
            raise ConfigError(f"model.generator.upsample={upsample}: use transposed or nearest")
        base, levels = _levels(image_size, "dcgan")
        self.z_dim = z_dim
        self.example_shape = (channels, image_size, image_size)
        ch = width * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            nn.Unflatten(1, (z_dim, 1, 1)),
            nn.ConvTranspose2d(z_dim, ch, base, 1, 0, bias=False),  # [B, z, 1, 1] -> [B, ch, base, base]
            norm_layer(norm, ch),
            nn.ReLU(True),
        ]
        for level in range(levels):
            last = level == levels - 1
            out = channels if last else ch // 2
            if upsample == "transposed":
                layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=last))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, out, 3, 1, 1, bias=last)]
            layers += [nn.Tanh()] if last else [norm_layer(norm, out), nn.ReLU(True)]
            ch = out
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, z_dim] -> [B, C, H, W]
        return self.net(z)


class DCGANDiscriminator(Discriminator):
    def __init__(self, image_size: int = 28, channels: int = 1, width: int = 64, norm: str = "batch", out_dim: int = 1) -> None:
        super().__init__()
        base, levels = _levels(image_size, "dcgan")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # no norm on D's input layer
        ch = width
        for _ in range(levels - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), norm_layer(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = ch * base * base
        self.out_dim = out_dim
        self.head = nn.Linear(self.feature_dim, out_dim)
        self.apply(dcgan_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, ch * base * base]
        return self.body(x)

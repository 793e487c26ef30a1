"""The original GAN of Goodfellow et al. 2014 (§5): multilayer perceptrons for G and D.

G: ReLU hidden layers (1200, 1200 for MNIST) and a tanh output for images in [-1, 1] (the
paper's sigmoid, rescaled to our pixel range) or a linear output for 2-D points.
D: maxout hidden layers (240 units x 5 pieces) with dropout (0.2 on the input, 0.5 on hidden
layers, the pylearn2 configuration of the paper's code); ``maxout_pieces=1`` gives
LeakyReLU(0.2) layers instead. Works on images (flattened) and on the 2-D toy data.

PacGAN's 2-D nets (Lin et al. 2018 §5.1; github.com/fjxmlzn/PacGAN, synthetic_data_experiments,
``pacgan_task.py`` and blocks' ``BatchNormalization``) are this MLP with options: a bias-free linear
before each batch norm (``linear_bias: false``), BN eps 1e-4 and population-statistics momentum 0.05
(``bn_eps``, ``bn_momentum``), every weight from N(0, 0.02) and biases 0 (``init_std: 0.02``; BN scale
1, shift 0), no dropout in D (``conf/experiment/mode_collapse_*.yaml``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Discriminator, Generator, example_shape_of


class Maxout(nn.Module):
    """Maxout unit layer (Goodfellow et al. 2013): the max over ``pieces`` affine maps."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in] -> [B, out]
        # max, not amax: the same values, and the same gradient but for exact ties (max sends it to one
        # piece, amax splits it); amax's backward (compare, divide, copies) was 37% of a 2-D GAN step on a CPU
        return self.linear(x).view(-1, self.out_features, self.pieces).max(dim=-1).values


def normal_init_(net: nn.Module, std: float) -> None:
    """PacGAN's init (``IsotropicGaussian(0.02)``, ``Constant(0)``): linear weights from N(0, ``std``),
    biases 0; batch norm scale 1, shift 0 (torch's own BN init)."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class MLPGenerator(Generator):
    """``output="auto"``: tanh for images, linear for 2-D points (``image_size`` null)."""

    def __init__(self, image_size: int | None = 28, channels: int | None = 1, z_dim: int = 100, hidden: Sequence[int] = (1200, 1200),
                 output: str = "auto", batch_norm: bool = False, linear_bias: bool = True, bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1, init_std: float | None = None) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.example_shape = example_shape_of(image_size, channels)
        if output == "auto":
            output = "tanh" if len(self.example_shape) == 3 else "linear"
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=linear_bias or not batch_norm)]
            layers += [nn.BatchNorm1d(h, eps=bn_eps, momentum=bn_momentum)] if batch_norm else []
            layers.append(nn.ReLU(True))
            width = h
        layers.append(nn.Linear(width, math.prod(self.example_shape)))
        if output == "tanh":
            layers.append(nn.Tanh())
        elif output != "linear":
            raise ConfigError(f"model.generator.output={output}: use auto, tanh or linear")
        self.net = nn.Sequential(*layers)
        if init_std is not None:
            normal_init_(self, init_std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, z_dim] -> [B, *example_shape]
        return self.net(z).view(-1, *self.example_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, image_size: int | None = 28, channels: int | None = 1, hidden: Sequence[int] = (240, 240), maxout_pieces: int = 5, input_dropout: float = 0.2, dropout: float = 0.5, out_dim: int = 1,
                 init_std: float | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        width = math.prod(example_shape_of(image_size, channels))
        for i, h in enumerate(hidden):
            if maxout_pieces > 1:
                layers.append(Maxout(width, h, maxout_pieces))
            else:
                layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, True)]
            if i < len(hidden) - 1:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.out_dim = out_dim
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, out_dim))
        if init_std is not None:
            normal_init_(self, init_std)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B, hidden[-1]]
        return self.body(x)

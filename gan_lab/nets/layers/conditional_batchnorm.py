"""Class-conditional BatchNorm in G (de Vries et al. 2017; Miyato & Koyama 2018 §4 / Appendix, "cGANs with
Projection Discriminator": "conditional batch normalization"; Brock et al. 2019 (BigGAN) §3 and Appendix B).

BatchNorm without its own affine parameters, then a gain and a bias chosen by the class ``y``:

    CBN(h, y) = gamma_y * (h - mu_B) / sqrt(var_B + eps) + beta_y,       gamma, beta: [K, C] embeddings

:func:`conditional_generator` is the transform ``task=conditional`` applies to the built G through the one net
builder (``gan_lab.build.build_nets``, like the tricks' transforms), so every checkpoint rebuilds it: each
``BatchNorm2d`` of G's ``net`` (DCGAN's) becomes a :class:`ConditionalBatchNorm2d`, and the returned
:class:`ConditionalGenerator` takes ``G(z, y)``.

Deviations: gamma_y and beta_y are plain per-class embeddings (Miyato & Koyama's chainer code), not BigGAN's
linear maps of a shared embedding and z; each class's gain and bias start as the replaced BatchNorm's (DCGAN's
N(1, 0.02) and 0), so a conditional G starts as the unconditional one. ``G(z)`` without ``y`` conditions
sample i on class ``i mod K`` (sample grids, metrics and the averaged G's statistics see every class).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Generator


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without affine, then the per-class affine ``gamma[y] * h + beta[y]``."""

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__()
        self.num_features, self.num_classes = num_features, num_classes
        self.norm = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)  # gamma: [K, C]
        self.bias = nn.Embedding(num_classes, num_features)  # beta:  [K, C]
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    @classmethod
    def replacing(cls, bn: nn.BatchNorm2d, num_classes: int) -> ConditionalBatchNorm2d:
        """A CBN with ``bn``'s options and statistics, every class's gain and bias starting at ``bn``'s affine."""
        cbn = cls(bn.num_features, num_classes, bn.eps, bn.momentum)
        with torch.no_grad():
            if bn.running_mean is not None:
                cbn.norm.running_mean.copy_(bn.running_mean)
                cbn.norm.running_var.copy_(bn.running_var)
            if bn.affine:
                cbn.gain.weight.copy_(bn.weight.expand(num_classes, -1))
                cbn.bias.weight.copy_(bn.bias.expand(num_classes, -1))
        return cbn

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [B, C, H, W], [B] -> [B, C, H, W]
        return self.gain(y)[:, :, None, None] * self.norm(h) + self.bias(y)[:, :, None, None]


class ConditionalGenerator(Generator):
    """G with class-conditional BatchNorm: ``forward(z, y)`` runs G's ``net`` passing ``y`` to every CBN."""

    def __init__(self, generator: Generator, num_classes: int) -> None:
        super().__init__()
        net = getattr(generator, "net", None)
        if not isinstance(net, nn.Sequential) or not any(isinstance(m, nn.BatchNorm2d) for m in net):
            raise ConfigError(f"task=conditional makes G's BatchNorm class-conditional and {type(generator).__name__} has "
                              "no BatchNorm2d in a sequential net: use model=dcgan (model.generator.norm=batch)")
        for i, layer in enumerate(net):
            if isinstance(layer, nn.BatchNorm2d):
                net[i] = ConditionalBatchNorm2d.replacing(layer, num_classes)
        self.generator, self.num_classes = generator, int(num_classes)
        self.z_dim, self.example_shape = generator.z_dim, generator.example_shape

    def sample_z(self, n, device=None, generator=None) -> torch.Tensor:
        return self.generator.sample_z(n, device=device, generator=generator)

    def default_labels(self, n: int, device: torch.device) -> torch.Tensor:
        """Sample i's class when none is given: ``i mod K``."""
        return torch.arange(n, device=device) % self.num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # [B, z_dim], [B] -> [B, C, H, W]
        h = z
        y = self.default_labels(z.shape[0], z.device) if y is None else y
        for layer in self.generator.net:
            h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


def conditional_generator(generator: Generator, num_classes: int) -> ConditionalGenerator:
    """The transform of ``task=conditional``: G with class-conditional BatchNorm (the builder's hook)."""
    return ConditionalGenerator(generator, num_classes)

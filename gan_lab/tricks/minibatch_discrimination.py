"""Minibatch discrimination (Salimans et al. 2016, §3.2) as a trick: D's head becomes
[f(x), o(x)] -> logits, with the layer of :class:`gan_lab.nets.layers.MinibatchDiscrimination`.

Defaults B = 100 kernels of C = 5 dimensions, as in the original CIFAR-10 code. The layer is
added in ``setup``, before the optimizers exist, so D's optimizer trains T. Under DDP each rank
computes o(x) within its own batch; T is a parameter of D, kept identical by DDP.
"""
from __future__ import annotations

from torch import nn

from gan_lab.nets.layers import MinibatchDiscrimination as MinibatchLayer
from gan_lab.tricks.base import Trick


class MinibatchDiscrimination(Trick):
    name = "minibatch_discrimination"

    def __init__(self, num_kernels: int = 100, kernel_dim: int = 5, init_std: float = 0.05) -> None:
        self.num_kernels, self.kernel_dim, self.init_std = num_kernels, kernel_dim, init_std

    def setup(self, module) -> None:
        D = module.discriminator
        layer = MinibatchLayer(D.feature_dim, self.num_kernels, self.kernel_dim, self.init_std)
        D.head = nn.Sequential(layer, nn.Linear(layer.out_features, D.out_dim))

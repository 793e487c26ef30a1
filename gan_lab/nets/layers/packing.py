"""Packing (Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative adversarial
networks", §3): D decides once for a *pack* of m examples of the same source (all real or all fake),
concatenated; its input layer is m times wider and nothing else changes.

As the original code (fjxmlzn/PacGAN):

* images: the m examples are concatenated along the channel axis, example j of a pack taking
  channels j*C .. (j+1)*C - 1 (``tf.concat(self.G_sep, 3)`` on NHWC in
  ``stacked_MNIST_experiments/VEEGAN_experiment/model.py``, and the real images stacked the same
  way); D's first convolution takes m*C channels;
* vectors (2-D points, and images seen by an MLP, flattened): the m vectors are concatenated,
  example j taking features j*D .. (j+1)*D - 1 (``tensor.concatenate(x_tildes, axis=1)`` in
  ``synthetic_data_experiments/PacGAN/pacgan/bricks.py``); D's first linear layer takes m*D inputs.

:func:`pack` does both with one reshape: a batch [B, C, ...] becomes [B/m, m*C, ...], consecutive
examples (m*i, ..., m*i + m - 1) forming pack i in that order. :class:`PackedDiscriminator` wraps a
D, widens its first ``Conv2d`` / ``Linear`` (the first in module order, which is the input layer of
every gan-lab D) and packs its input; it returns ``(logits [B/m, ...], features [B/m, ...])``: one
decision and one feature vector per pack.

Deviations:

* Packs are made *inside* a batch: a batch of B examples gives B/m decisions. The original draws
  m independent batches of B (m*B samples) for B decisions. Set ``data.batch_size`` to m times the
  original's batch size (e.g. 400 for PacGAN4's 100) to match it. The real data's dataloader
  shuffles, so the members of a pack are independent draws (without replacement within an epoch,
  where the original's 2-D data resamples each slot with replacement).
* G draws the m*B samples in one forward, so a G with BatchNorm normalises them together; the
  original applies G once per slot (statistics per slot).
* The widened layer is freshly initialised: with ``dcgan_init`` (N(0, 0.02), zero bias) in a
  :class:`~gan_lab.nets.dcgan.DCGANDiscriminator`, otherwise with PyTorch's default (fan-in
  scaled), which is what a D built natively with m times the input gets. A weight-normalised
  (parametrised) input layer is not widened (``model=ssgan_mnist``): refused with a ``ConfigError``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from gan_lab.errors import ConfigError, DataError
from gan_lab.nets.base import Discriminator, dcgan_init
from gan_lab.nets.dcgan import DCGANDiscriminator

__all__ = ["PackedDiscriminator", "pack", "input_layer", "batch_size_hint"]


def batch_size_hint(batch: int, m: int) -> str:
    lower, upper = batch // m * m, (batch // m + 1) * m
    return f"data.batch_size={lower} (or {upper})" if lower else f"data.batch_size={upper}"


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """[B, C, ...] -> [B/m, m*C, ...]: examples m*i .. m*i + m - 1 concatenated along axis 1 (channels for
    images, features for vectors), in that order. ``m=1`` returns ``x``."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ConfigError(
            f"trick=packing: D got a batch of {x.shape[0]} examples, which does not split into packs of "
            f"tricks.packing.m={m} (a pack must never mix real and fake examples): set {batch_size_hint(x.shape[0], m)}"
        )
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


def input_layer(net: nn.Module) -> tuple[str, nn.Conv2d | nn.Linear]:
    """The first ``Conv2d`` or ``Linear`` of ``net`` in module order, and its qualified name."""
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return name, module
    raise ConfigError(f"trick=packing widens D's first Conv2d or Linear layer, and {type(net).__name__} has none")


def _widened(layer: nn.Conv2d | nn.Linear, m: int) -> nn.Conv2d | nn.Linear:
    """A fresh layer like ``layer`` with m times its inputs (PyTorch's default init)."""
    bias = layer.bias is not None
    if isinstance(layer, nn.Conv2d):
        return nn.Conv2d(m * layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         layer.dilation, layer.groups, bias, layer.padding_mode)
    return nn.Linear(m * layer.in_features, layer.out_features, bias)


class PackedDiscriminator(Discriminator):
    """``discriminator`` seeing packs of ``m`` examples (PacGAN §3). Its modules live under ``net``
    (state-dict keys ``net.*``); ``head``, ``feature_dim`` and ``out_dim`` are the wrapped D's, so a trick
    that replaces the head (minibatch discrimination) works before or after packing. ``pack_size`` tells
    a gradient penalty to draw one interpolation coefficient and take one gradient norm per pack."""

    def __init__(self, discriminator: Discriminator, m: int) -> None:
        super().__init__()
        if m < 2:
            raise ConfigError(f"tricks.packing.m={m}: a packed D needs packs of 2 or more examples (PacGAN uses 2, 3, 4)")
        name, layer = input_layer(discriminator)
        if name == "head" or name.startswith("head."):
            raise ConfigError(
                "trick=packing widens D's first hidden layer, and this D has none before its head: "
                "give D a hidden layer (e.g. model.discriminator.hidden=[240,240])"
            )
        if parametrize.is_parametrized(layer):
            raise ConfigError(
                f"trick=packing widens D's input layer, and {type(discriminator).__name__}'s is weight-normalised "
                "(parametrised): use model=dcgan or model=gan_mlp"
            )
        wide = _widened(layer, m)
        if isinstance(discriminator, DCGANDiscriminator):
            dcgan_init(wide)
        discriminator.set_submodule(name, wide)
        self.net = discriminator
        self.pack_size = m
        self.feature_dim, self.out_dim = discriminator.feature_dim, discriminator.out_dim

    @property
    def head(self) -> nn.Module:  # type: ignore[override]
        return self.net.head

    def __setattr__(self, name: str, value) -> None:
        if name == "head":  # a head transform after packing replaces the wrapped D's head
            setattr(self.net, name, value)
        else:
            super().__setattr__(name, value)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B/m, feature_dim]
        return self.net.features(pack(x, self.pack_size))

    def forward(self, x: torch.Tensor, head: bool = True) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        return self.net(pack(x, self.pack_size), head=head)  # [B, ...] -> [B/m], [B/m, F] (head=False: [B/m, F])

    def logits(self, features: torch.Tensor) -> torch.Tensor:  # [B/m, F] -> [B/m]
        return self.net.logits(features)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """The wrapped D's data-dependent init on the packs of the largest multiple of m of ``x``'s
        examples (498 of the 500 real examples for m=3)."""
        usable = x.shape[0] // self.pack_size * self.pack_size
        if usable == 0:
            raise DataError(f"trick=packing: D initialises on {x.shape[0]} real examples, fewer than one pack of "
                            f"tricks.packing.m={self.pack_size}: use a larger data set or a smaller m")
        self.net.init_from_data(pack(x[:usable], self.pack_size))

    def extra_repr(self) -> str:
        return f"pack_size={self.pack_size}"

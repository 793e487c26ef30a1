"""Virtual batch normalization (Salimans et al. 2016, §3.5) as a trick: a transform of G.

Every BatchNorm layer of G becomes a :class:`gan_lab.nets.layers.virtual_batchnorm.VirtualBatchNorm`, and a
reference batch of latent codes z_ref (``reference_size`` of them, default the batch size) is
drawn once from a seeded generator and stored as a buffer of G (``vbn_reference_z``): it is in
every checkpoint, and identical on every DDP rank (same seed; DDP also broadcasts buffers).
Each call of G propagates [z_ref; z] and returns the outputs for z only, so every example is
normalised with the reference statistics of the current weights. This doubles G's cost for a
batch the size of the reference batch, which is why the paper uses VBN in G only.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.layers.virtual_batchnorm import VirtualBatchNorm
from gan_lab.tricks.base import Trick


def _replace_batchnorm(net: nn.Module) -> list[VirtualBatchNorm]:
    replaced = []
    for name, child in net.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            vbn = VirtualBatchNorm(child.num_features, eps=child.eps)
            setattr(net, name, vbn)
            replaced.append(vbn)
        else:
            replaced += _replace_batchnorm(child)
    return replaced


class VirtualBN(Trick):
    name = "virtual_bn"

    def __init__(self, reference_size: int = 64, seed: int = 0) -> None:
        if reference_size < 2:
            raise ConfigError(f"tricks.virtual_bn.reference_size={reference_size}: the reference batch needs >= 2 examples (e.g. 64)")
        self.reference_size, self.seed = reference_size, seed

    def transform_generator(self, generator: nn.Module) -> nn.Module:
        layers = _replace_batchnorm(generator)
        if not layers:
            raise ConfigError(
                f"trick=virtual_bn replaces G's BatchNorm layers, and this generator ({type(generator).__name__}) has none: "
                "use model=dcgan, or model=gan_mlp with model.generator.batch_norm=true"
            )
        n = self.reference_size
        for layer in layers:
            layer.ref_size = n
        z_ref = generator.sample_z(n, generator=torch.Generator().manual_seed(self.seed))
        generator.register_buffer("vbn_reference_z", z_ref)
        generator.register_forward_pre_hook(_with_reference)
        generator.register_forward_hook(_without_reference)
        return generator


def _stacked(net: nn.Module, z: torch.Tensor) -> bool:
    """An ensemble's G on member layers (``gan_lab.nets.ensemble``): z_ref stacked ``[M, n, ...]``, z member-major ``[M * B, ...]``
    (under vmap, or in a single run, z_ref is ``[n, ...]`` beside z ``[B, ...]``)."""
    return net.vbn_reference_z.dim() > z.dim()


def _with_reference(net: nn.Module, args: tuple) -> tuple:
    """G's input [z_ref; z] (per member: [z_ref_m; z_m] for each member m, member-major)."""
    z_ref, z = net.vbn_reference_z, args[0]
    if _stacked(net, z):
        return (torch.cat([z_ref, z.view(z_ref.shape[0], -1, *z.shape[1:])], dim=1).flatten(0, 1), *args[1:])
    return (torch.cat([z_ref, z]), *args[1:])


def _without_reference(net: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """G's output for z alone (the reference rows dropped; per member on member layers)."""
    z_ref = net.vbn_reference_z
    if _stacked(net, args[0]):  # args: the input after the pre-hook, [M * (n + B), ...]
        m, n = z_ref.shape[:2]
        return output.view(m, -1, *output.shape[1:])[:, n:].flatten(0, 1)
    return output[z_ref.shape[0]:]

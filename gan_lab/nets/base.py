"""What every generator and discriminator offers the training module and the tricks.

* A generator maps ``z`` ``[B, z_dim]`` to examples ``[B, *example_shape]``.
* A discriminator returns ``(logits, features)``: ``logits`` ``[B]`` (or ``[B, out_dim]`` for
  the K-class semi-supervised D) and ``features`` ``[B, feature_dim]``, its last hidden layer
  (the f(x) of feature matching and minibatch discrimination, Salimans et al. 2016 §3.1-3.2).
  The final layer is ``self.head`` (``feature_dim -> out_dim``), so tricks can replace it.
"""
from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    z_dim: int
    example_shape: tuple[int, ...]

    def sample_z(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal latent codes ``[n, z_dim]`` (DCGAN and most of the literature)."""
        return torch.randn(n, self.z_dim, device=device, generator=generator)


class Discriminator(nn.Module):
    feature_dim: int
    out_dim: int
    head: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B, feature_dim]
        raise NotImplementedError

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation on a batch of real examples, before training (the same
        batch on every DDP rank; a checkpoint's weights replace it). The head initialises itself
        if it can (a minibatch-discrimination head); subclasses add their own layers'."""
        self.init_head_from_data(self.features(x))

    @torch.no_grad()
    def init_head_from_data(self, features: torch.Tensor) -> None:
        init = getattr(self.head, "init_from_data", None)
        if init is not None:
            init(features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        logits = self.head(features)
        if self.out_dim == 1:
            logits = logits.squeeze(-1)
        return logits, features


def example_shape_of(image_size: int | None, channels: int | None) -> tuple[int, ...]:
    """``[C, H, W]`` for images; ``[2]`` for 2-D points (``image_size`` and ``channels`` null)."""
    if image_size is None:
        return (2,)
    return (int(channels), int(image_size), int(image_size))


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2015 §4: weights from N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def norm_layer(kind: str, channels: int, spatial: bool = True) -> nn.Module:
    """``batch`` | ``layer`` (LayerNorm over C,H,W: GroupNorm with one group) | ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")

"""What every generator and discriminator offers the training module and the tricks.

* A generator maps ``z`` ``[B, z_dim]`` to examples ``[B, *example_shape]``.
* A discriminator returns ``(logits, features)``: ``logits`` ``[B]`` (or ``[B, out_dim]`` for
  the K-class semi-supervised D) and ``features`` ``[B, feature_dim]``, its last hidden layer
  (the f(x) of feature matching and minibatch discrimination, Salimans et al. 2016 §3.1-3.2).
  The final layer is ``self.head`` (``feature_dim -> out_dim``), so tricks can replace it.
* ``augment`` (set by the net builder for ``augment=diffaugment`` through :meth:`Discriminator.set_augment`;
  absent otherwise) transforms every input of D's call in training mode, in a forward pre-hook, so
  all of D's callers (D's and G's phases, the gradient penalties, the tricks) see augmented images, as
  DiffAugment's reference augments inside D's call, and a D that wraps another (a packed D) augments
  each example before packing. It has no parameters or buffers: D's state-dict keys do not change.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    # ``augment`` is a submodule set by ``set_augment`` (no class attribute: it would shadow the submodule)

    def set_augment(self, augment: nn.Module) -> None:
        """Transform every input of D's call with ``augment`` in training mode (DiffAugment)."""
        if getattr(self, "augment", None) is None:
            self.register_forward_pre_hook(_augment_inputs)
        self.augment = augment

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B, feature_dim]
        raise NotImplementedError

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation on a batch of real examples, before training (the same
        batch on every DDP rank; a checkpoint's weights replace it). The head initialises itself
        if it can (a minibatch-discrimination head); subclasses add their own layers'.

        It sees the examples un-augmented (it calls ``features``, not D itself, whose call augments): the init is
        defined on the data distribution (Salimans & Kingma 2016 §3), it draws no random numbers, so
        a run with ``augment=diffaugment`` starts from the same weights as one without (a clean
        ablation), and the evaluated D (eval mode, no augmentation) sees un-augmented data too."""
        self.init_head_from_data(self.features(x))

    @torch.no_grad()
    def init_head_from_data(self, features: torch.Tensor) -> None:
        init = getattr(self.head, "init_from_data", None)
        if init is not None:
            init(features)

    def forward(self, x: torch.Tensor, head: bool = True) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        """(logits, features) of ``x``; ``head=False``: the features alone (the head is not run: a G phase
        whose loss reads only features, feature matching, skips e.g. minibatch discrimination's o(x))."""
        features = self.features(x)
        if not head:
            return features
        return self.logits(features), features

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """The head on ``features`` ``[B, feature_dim]``: D's raw outputs, ``[B]`` (``out_dim`` 1) or ``[B, out_dim]``.
        A batch-coupled head (minibatch discrimination) compares the examples of this call only."""
        logits = self.head(features)
        return logits.squeeze(-1) if self.out_dim == 1 else logits


def _augment_inputs(discriminator: Discriminator, args: tuple) -> tuple | None:
    """Forward pre-hook of an augmenting D: its input x -> augment(x) in training mode."""
    if discriminator.training:
        return (discriminator.augment(args[0]), *args[1:])
    return None


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


@contextlib.contextmanager
def frozen(net: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``net``'s parameters (no weight gradients are computed)."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def grad_norm(net: nn.Module) -> torch.Tensor:
    """The L2 norm of all of ``net``'s gradients (logged as ``train/{d,g}_grad_norm``)."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())

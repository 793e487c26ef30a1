"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", §3 and Fig. 4): the same random, differentiable transforms T on every image D sees, real
and fake, in D's step and in G's step, so D(T(x)) is trained and G gets gradients through T.

A port of the authors' ``DiffAugment_pytorch.py`` (mit-han-lab/data-efficient-gans,
``DiffAugment-biggan-cifar/DiffAugment_pytorch.py``), op by op and draw by draw, for ``[B, C, H, W]``
images in [-1, 1]:

* ``color``: brightness ``x + (r - 0.5)``, saturation ``(x - mean_C x) * 2r + mean_C x``, contrast
  ``(x - mean_CHW x) * (r + 0.5) + mean_CHW x``, one ``r ~ U[0, 1)`` per image for each;
* ``translation``: a shift of up to 1/8 of the image size in each direction (an integer in
  ``[-H // 8, H // 8]`` per image and axis), the uncovered pixels zero;
* ``cutout``: a zeroed square of half the image size, centred at a random pixel (clipped at the border).

Each image of a batch draws its own transform; the ops mix nothing across examples (a per-example
gradient penalty stays per example). The policy is a list, applied in its order; the random draws are
those of the reference in the same order (brightness, saturation, contrast; shift x, shift y; cutout
x, y), so a seed gives the reference's transforms. ``augment=diffaugment`` sets it on D
(``gan_lab.build.build_nets``); D's forward applies it in training mode only (evaluation, such as the
semi-supervised test error, sees the images themselves).

Deviations: the explicit-parameter functions (:func:`translate`, :func:`cut_out`, ...) are split from
the random draws so tests can check the maths on hand-chosen values; ``torch.meshgrid(indexing="ij")``
is written out (the reference relies on the old default); a policy is a list, not a comma string.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.errors import ConfigError


# ---- the ops on explicit random values ([B] or [B, 1, 1, 1] per image) ------------------------------
def brightness(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """x + (r - 0.5): a brightness offset in [-0.5, 0.5)."""
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def saturation(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(x - mean over channels) * 2r + mean over channels: saturation x [0, 2)."""
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def contrast(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(x - mean over C, H, W) * (r + 0.5) + mean: contrast x [0.5, 1.5)."""
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def translate(x: torch.Tensor, shift_x: torch.Tensor, shift_y: torch.Tensor) -> torch.Tensor:
    """out[b, :, i, j] = x[b, :, i + shift_x[b], j + shift_y[b]], zero where that falls outside.

    As the reference: gather from the image padded by one zero pixel, indices clamped into the padding.
    """
    b, _, h, w = x.shape
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(b, dtype=torch.long, device=x.device),
        torch.arange(h, dtype=torch.long, device=x.device),
        torch.arange(w, dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + shift_x.view(-1, 1, 1) + 1, 0, h + 1)
    grid_y = torch.clamp(grid_y + shift_y.view(-1, 1, 1) + 1, 0, w + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W]


def cut_out(x: torch.Tensor, offset_x: torch.Tensor, offset_y: torch.Tensor, ratio: tuple[int, int] = (1, 2)) -> torch.Tensor:
    """Zero rows ``offset_x - s//2 .. offset_x - s//2 + s - 1`` x the same columns (clipped), ``s = H * 1/2``."""
    b, _, h, w = x.shape
    size_x, size_y = h * ratio[0] // ratio[1], w * ratio[0] // ratio[1]
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(b, dtype=torch.long, device=x.device),
        torch.arange(size_x, dtype=torch.long, device=x.device),
        torch.arange(size_y, dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x.view(-1, 1, 1) - size_x // 2, min=0, max=h - 1)
    grid_y = torch.clamp(grid_y + offset_y.view(-1, 1, 1) - size_y // 2, min=0, max=w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


# ---- the random ops of the reference (one draw per image) --------------------------------------------
def _uniform(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return brightness(x, _uniform(x))


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    return saturation(x, _uniform(x))


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    return contrast(x, _uniform(x))


def rand_translation(x: torch.Tensor, ratio: tuple[int, int] = (1, 8)) -> torch.Tensor:
    shift_x, shift_y = x.size(2) * ratio[0] // ratio[1], x.size(3) * ratio[0] // ratio[1]
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], device=x.device)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], device=x.device)
    return translate(x, translation_x, translation_y)


def rand_cutout(x: torch.Tensor, ratio: tuple[int, int] = (1, 2)) -> torch.Tensor:
    size_x, size_y = x.size(2) * ratio[0] // ratio[1], x.size(3) * ratio[0] // ratio[1]
    offset_x = torch.randint(0, x.size(2) + (1 - size_x % 2), size=[x.size(0), 1, 1], device=x.device)
    offset_y = torch.randint(0, x.size(3) + (1 - size_y % 2), size=[x.size(0), 1, 1], device=x.device)
    return cut_out(x, offset_x, offset_y, ratio)


AUGMENT_FNS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


class DiffAugment(nn.Module):
    """T(x) for a policy such as ``["color", "translation", "cutout"]`` (the paper's choice for
    limited data, §4). No parameters and no buffers: D's state-dict keys are those without it."""

    def __init__(self, policy: Sequence[str] = ("color", "translation", "cutout")) -> None:
        super().__init__()
        unknown = [p for p in policy if p not in AUGMENT_FNS]
        if unknown:
            raise ConfigError(f"augment.policy: unknown op {unknown[0]!r}: use any of {', '.join(AUGMENT_FNS)} "
                              "(e.g. augment.policy=[color,translation,cutout])")
        self.policy = list(policy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H, W]
        if x.dim() != 4:
            raise ConfigError(f"augment=diffaugment transforms images [B, C, H, W] and D got {list(x.shape)}: use augment=none")
        for name in self.policy:
            for op in AUGMENT_FNS[name]:
                x = op(x)
        return x.contiguous()

    def extra_repr(self) -> str:
        return f"policy={self.policy}"

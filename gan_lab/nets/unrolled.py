"""The small Stacked-MNIST nets of Unrolled GAN (Metz et al. 2017, §3.3.2 and Appendix E), as PacGAN re-ran
them for its Table 3 (Lin et al. 2018 §5.2; github.com/fjxmlzn/PacGAN stacked_MNIST_experiments/
unrolled_GAN_experiment/D=0.25G/model.py, ``generator`` and ``discriminator``, read line by line).

The setup makes mode collapse likely on purpose: D is much smaller than G ("D is 1/4 size of G": D's convolutions
have 2, 4 and 8 channels; "1/2 size": 4, 8 and 16), so a plain DCGAN loses most of the 1,000 modes (PacGAN
Table 3: 78.5 ± 17.6 modes with the 1/4 D, 487.7 ± 34.6 with the 1/2 D) and what a method adds shows.

* G: z (256, N(0, I)) -> linear to 4x4x64 -> BN, ReLU -> 3x3 transposed convolutions to 7x7x32, 14x14x16 and
  28x28x8, each BN, ReLU -> 3x3 convolution to 3 channels -> tanh.
* D: three 3x3 stride-2 convolutions (28 -> 14 -> 7 -> 4), each BN then LeakyReLU(0.3) (BN on the input layer
  too, as the original), flatten (8 x 4 x 4 = 128 features with the 1/4 D), linear to one logit.
* Every weight from N(0, 0.02), biases 0 (carpedm20's ``ops.py``, which the original builds on; gan-lab's
  ``dcgan_init``); every layer has a bias (the original's ``conv2d`` / ``deconv2d`` / ``linear`` add one).

Deviations: TensorFlow's ``SAME`` transposed convolutions are written as ``padding=1`` (``output_padding=1``
for 7 -> 14 and 14 -> 28): the same shapes, the kernel's alignment may differ by a pixel. BatchNorm momentum is
PyTorch's 0.1 (TensorFlow's decay 0.9: the same) and eps 1e-5 as the original's. The original's metric samples G
with BatchNorm in training mode (its ``sampler`` calls ``g_bn*`` with the default ``train=True``: each batch of 128
samples normalised by its own statistics; its VEEGAN-setup code passes ``train=False``); gan-lab samples every G in
eval mode (running statistics), the same for both setups.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Discriminator, Generator, dcgan_init, norm_layer


def _check_size(image_size: int) -> None:
    if image_size != 28:
        raise ConfigError(f"data.image_size={image_size}: model=dcgan_unrolled makes 28 pixel images (set data.image_size=28)")


class UnrolledGenerator(Generator):
    def __init__(self, z_dim: int = 256, image_size: int = 28, channels: int = 3, widths: list[int] = (64, 32, 16, 8)) -> None:
        super().__init__()
        _check_size(image_size)
        if len(widths) != 4:
            raise ConfigError(f"model.generator.widths={list(widths)}: give 4 widths (at 4, 7, 14 and 28 px; Unrolled GAN: [64, 32, 16, 8])")
        self.z_dim = z_dim
        self.example_shape = (channels, image_size, image_size)
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.net = nn.Sequential(
            nn.Linear(z_dim, w0 * 4 * 4), nn.Unflatten(1, (w0, 4, 4)), nn.BatchNorm2d(w0), nn.ReLU(True),  # [B, z] -> [B, 64, 4, 4]
            nn.ConvTranspose2d(w0, w1, 3, 2, 1), nn.BatchNorm2d(w1), nn.ReLU(True),                         # -> [B, 32, 7, 7]
            nn.ConvTranspose2d(w1, w2, 3, 2, 1, output_padding=1), nn.BatchNorm2d(w2), nn.ReLU(True),       # -> [B, 16, 14, 14]
            nn.ConvTranspose2d(w2, w3, 3, 2, 1, output_padding=1), nn.BatchNorm2d(w3), nn.ReLU(True),       # -> [B, 8, 28, 28]
            nn.Conv2d(w3, channels, 3, 1, 1), nn.Tanh(),                                                    # -> [B, 3, 28, 28]
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, z_dim] -> [B, C, 28, 28]
        return self.net(z)


class UnrolledDiscriminator(Discriminator):
    """``width`` is the first convolution's channels (doubled at each layer): 2 is PacGAN's "D is 1/4 size of G",
    4 its "1/2 size". ``norm``: batch (the original's), layer or none (``auto`` in the config: layer under a
    per-example penalty such as R1, as for DCGAN's D)."""

    def __init__(self, image_size: int = 28, channels: int = 3, width: int = 2, norm: str = "batch", out_dim: int = 1) -> None:
        super().__init__()
        _check_size(image_size)
        layers: list[nn.Module] = []
        ch_in = channels
        for ch in (width, 2 * width, 4 * width):  # 28 -> 14 -> 7 -> 4
            layers += [nn.Conv2d(ch_in, ch, 3, 2, 1), norm_layer(norm, ch), nn.LeakyReLU(0.3, True)]
            ch_in = ch
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = ch_in * 4 * 4
        self.out_dim = out_dim
        self.head = nn.Linear(self.feature_dim, out_dim)
        self.apply(dcgan_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, 28, 28] -> [B, 4 * width * 16]
        return self.body(x)

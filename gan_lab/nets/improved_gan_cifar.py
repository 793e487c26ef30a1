"""The discriminator of Improved-GAN's CIFAR-10 sample-quality model (Salimans et al. 2016, §6.2).

As in ``openai/improved-gan`` ``mnist_svhn_cifar10/train_cifar_minibatch_discrimination.py``
(lines 51-67; layers from ``mnist_svhn_cifar10/nn.py``):

* l. 52-53: input [B, 3, 32, 32] + Gaussian noise, sigma 0.2 (``ll.GaussianNoiseLayer``; off when
  ``deterministic``, i.e. in eval mode here). No dropout on the input in this script (the
  feature-matching script, ``train_cifar_feature_matching.py`` l. 55, has ``DropoutLayer(p=0.2)``
  there instead of the noise: ``input_dropout=0.2, input_noise=0`` gives that variant).
* l. 54-56: 3x3 conv 96, pad 1; 3x3 conv 96, pad 1; 3x3 conv 96, pad 1, stride 2 (32 -> 16).
* l. 57: dropout 0.5 (Lasagne ``DropoutLayer``: element-wise, rescaled by 1/(1-p), as ``nn.Dropout``).
* l. 58-60: 3x3 conv 192, pad 1; 3x3 conv 192, pad 1; 3x3 conv 192, pad 1, stride 2 (16 -> 8).
* l. 61: dropout 0.5.
* l. 62-64: 3x3 conv 192, pad 0 (8 -> 6); NIN 192 (a 1x1 conv); NIN 192.
* l. 65: global mean pooling -> f(x) [B, 192], :meth:`features`.
* l. 66-67: ``MinibatchLayer(num_kernels=100)`` then a weight-normalised dense layer (10 units;
  ``init_stdv=0.1``, trained g): the minibatch-discrimination trick's head
  (:mod:`gan_lab.nets.layers.minibatch_discrimination`), which replaces :attr:`head`.

Every conv and NIN is ``nn.weight_norm(..., W=Normal(0.05), nonlinearity=nn.lrelu)``: v ~ N(0, 0.05),
``w = g v / ||v||`` per output channel (nn.py l. 71-77), the layer's own bias removed and a
``WeightNormLayer`` bias added (l. 97-99, 89: the same as a conv bias), then ``lrelu(x) = max(x, 0.2 x)``
(l. 16-17). ``train_g`` is False (its default, l. 47): the hidden layers' scales g are set by the
data-dependent init and then frozen (``requires_grad=False`` here); v and b are trained.

Data-dependent init (Salimans & Kingma 2016 §3; nn.py l. 81-87, ``init_stdv=1``): per output
channel, t = conv(x, v/||v||) without bias, ``m = mean(t)``, ``s = sqrt(mean((t - m)^2))`` over
(batch, height, width), ``g = 1/s``, ``b = -m/s``; so on the init batch every pre-activation channel
has mean 0 and (population) std 1. All layers initialise in one pass, each on the already
initialised output of the layer below (:meth:`ImprovedGANCifarDiscriminator.init_from_data`). The
original's pass is ``ll.get_output(disc_layers[-1], x_lab, deterministic=False, init=True)``
(l. 74), i.e. with noise and dropout on; here the pass runs in D's current mode, training mode
when ``gan_lab.build`` calls it on a new D, so the statistics are those D trains with (as
``gan_lab.nets.ssgan_mnist``); call it in eval mode for a noise-free init.

Deviation: our pixels are ``x/127.5 - 1`` in [-1, 1], the original's ``(x - 127.5)/128``
(``cifar10_data.py`` l. 29): ours are 128/127.5 = 1.004 times larger, so the original's sigma 0.2 is
0.2008 here; kept at 0.2.
Without the minibatch-discrimination trick (the "-MBF" row of ``experiment=improved_gan_ablation``),
:attr:`head` is l. 67 alone, :class:`WeightNormDense`: weight-normalised, v ~ N(0, 0.05), trained g,
data-dependent init with ``init_stdv=0.1`` (logits of mean 0, std 0.1 on the init batch); with the
trick it is l. 66-67.
Deviation: ``out_dim`` is 1 (real/fake logit) for the unconditional GAN; the original has 10 class
logits, D(x) = Z/(Z+1) with Z = sum exp(logits) (l. 67, 82-85).
Deviation: ``torch.nn.utils.parametrizations.weight_norm`` has no 1e-6 inside ``sqrt(sum v^2)``
(nn.py l. 77); irrelevant for v ~ N(0, 0.05).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets.base import Discriminator
from gan_lab.nets.layers.minibatch_discrimination import weight_norm_init_, weight_norm_layer
from gan_lab.nets.ssgan_mnist import GaussianNoise

__all__ = ["ImprovedGANCifarDiscriminator", "WeightNormDense", "wn_conv"]


def wn_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    """``nn.weight_norm(Conv2DDNNLayer(..., W=Normal(0.05)))``: v ~ N(0, 0.05), g = 1 (not trained,
    ``train_g=False``, nn.py l. 47, 55), bias 0 (l. 46-47); the norm is per output channel (l. 71-72)."""
    return weight_norm_layer(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), train_g=False)


@torch.no_grad()
def _data_dependent_init_conv(conv: nn.Conv2d, x: torch.Tensor, init_stdv: float = 1.0) -> torch.Tensor:
    """nn.py l. 82-87: g = init_stdv / s, b = -m init_stdv / s, for t = conv(x, g v/||v||) without bias,
    m and s (population std) per output channel; returns the layer's new pre-activation on ``x``."""
    t = nn.functional.conv2d(x, conv.weight, None, conv.stride, conv.padding)  # g v/||v||, g = 1 before the first init
    weight_norm_init_(conv, t, init_stdv, dims=(0, 2, 3))
    return conv(x)


class WeightNormDense(nn.Module):
    """D's output layer without minibatch discrimination: ``nn.weight_norm(ll.DenseLayer(...,
    W=Normal(0.05), nonlinearity=None), train_g=True, init_stdv=0.1)`` (l. 67); ``[B, A] -> [B, out]``
    (the dense part of :class:`MinibatchDiscriminationHead`)."""

    def __init__(self, in_features: int, out_features: int, init_stdv: float = 0.1) -> None:
        super().__init__()
        self.init_stdv = init_stdv
        self.dense = weight_norm_layer(nn.Linear(in_features, out_features))  # g [out, 1], trained

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dense(features)

    @torch.no_grad()
    def init_from_data(self, features: torch.Tensor) -> None:
        """nn.py l. 82-87 with init_stdv 0.1: every logit of mean 0 and (population) std 0.1 on ``features``."""
        weight_norm_init_(self.dense, nn.functional.linear(features, self.dense.weight), self.init_stdv, dims=(0,))


def _lrelu() -> nn.LeakyReLU:
    """nn.py l. 16-17: max(x, 0.2 x). Not in place, so a hook's copy of the pre-activation stays intact."""
    return nn.LeakyReLU(0.2)


class ImprovedGANCifarDiscriminator(Discriminator):
    """``[B, C, H, W] -> (logits [B] (or [B, out_dim]), features [B, width2])``; see the module docstring."""

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        width: int = 96,
        width2: int = 192,
        input_noise: float = 0.2,
        input_dropout: float = 0.0,
        dropout: float = 0.5,
        out_dim: int = 1,
    ) -> None:
        super().__init__()
        if image_size is None or (image_size + 3) // 4 < 3:  # the pad-0 conv needs a map of at least 3x3
            raise ConfigError(f"data.image_size={image_size}: improved_gan_cifar10's D needs images of at least 9 pixels (set data.image_size=32)")
        self.body = nn.Sequential(
            GaussianNoise(input_noise), nn.Dropout(input_dropout),    # l. 53
            wn_conv(channels, width, 3, 1, 1), _lrelu(),              # l. 54
            wn_conv(width, width, 3, 1, 1), _lrelu(),                 # l. 55
            wn_conv(width, width, 3, 2, 1), _lrelu(),                 # l. 56: 32 -> 16
            nn.Dropout(dropout),                                      # l. 57
            wn_conv(width, width2, 3, 1, 1), _lrelu(),                # l. 58
            wn_conv(width2, width2, 3, 1, 1), _lrelu(),               # l. 59
            wn_conv(width2, width2, 3, 2, 1), _lrelu(),               # l. 60: 16 -> 8
            nn.Dropout(dropout),                                      # l. 61
            wn_conv(width2, width2, 3, 1, 0), _lrelu(),               # l. 62: 8 -> 6
            wn_conv(width2, width2, 1), _lrelu(),                     # l. 63: NIN
            wn_conv(width2, width2, 1), _lrelu(),                     # l. 64: NIN
        )
        self.feature_dim, self.out_dim = width2, out_dim
        self.head = WeightNormDense(width2, out_dim)  # l. 67; the minibatch-discrimination trick replaces it

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, width2]
        return self.body(x).mean(dim=(2, 3))  # l. 65: GlobalPoolLayer (mean)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent init of every weight-normalised conv, in order, each on the initialised
        output of the layers below (one pass over ``x``, in D's current mode: noise and dropout on in
        training mode, as the original's ``deterministic=False`` init pass), then the head's on the
        pooled features of that pass."""
        h = x
        for module in self.body:
            h = _data_dependent_init_conv(module, h) if isinstance(module, nn.Conv2d) else module(h)
        self.init_head_from_data(h.mean(dim=(2, 3)))

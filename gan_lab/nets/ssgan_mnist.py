"""The MNIST networks of Improved-GAN's semi-supervised experiment (Salimans et al. 2016, §5).

As in ``openai/improved-gan`` ``mnist_svhn_cifar10/train_mnist_feature_matching.py``:

* D: 784 -> 1000 -> 500 -> 250 -> 250 -> 250 -> K, ReLU hidden layers, Gaussian noise added
  before every layer (sigma 0.3 on the input, 0.5 on hidden activations, in training mode
  only; the original's pixels are in [0, 1] and ours in [-1, 1], so its input sigma 0.3 is
  ``input_noise=0.6`` here; hidden activations have unit scale after the data-dependent init
  in both), every dense layer weight-normalized (Salimans & Kingma 2016, ``w = g v / ||v||``) with
  the data-dependent initialisation of that paper (§3): :meth:`init_from_data` sets ``g`` and
  ``b`` so that each pre-activation has zero mean and unit variance on a batch of real data.
  The hidden layers' scales ``g`` are not trained (Lasagne code: ``train_scale=False``), the
  output layer's is. ``features`` is the last 250-unit hidden layer (after ReLU, before its
  noise), the layer the original code's feature matching uses (``layers[-3]``).
* G: z (100) -> 500 -> 500 -> 784, each hidden layer dense -> batch norm (shift only, no
  learned scale: ``g=None`` in the original) -> softplus; weight-normalized output layer.

Deviations: G's output is ``tanh`` (our pixels are in [-1, 1]; the original's sigmoid on
[0, 1] pixels is the same function rescaled); z ~ U(0, 1) as in the original code; the
data-dependent init is applied to D only (G keeps PyTorch's default init).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from gan_lab.nets.base import Discriminator, Generator, example_shape_of


class GaussianNoise(nn.Module):
    """Adds N(0, sigma^2) noise in training mode; the identity in eval mode."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.sigma > 0:
            return x + self.sigma * torch.randn_like(x)
        return x


def wn_linear(in_features: int, out_features: int, train_scale: bool = True, direction_std: float = 0.1) -> nn.Linear:
    """A weight-normalized linear layer (``torch.nn.utils.parametrizations.weight_norm``).

    The direction ``v`` is drawn from N(0, direction_std^2) as the original's ``theta`` (0.1), not
    PyTorch's default (about 0.02 for 1000 inputs): Adam's steps have a fixed size per element,
    so the scale of ``v`` sets how fast the direction ``v / ||v||`` turns (5x faster with the default).
    """
    linear = nn.Linear(in_features, out_features)
    nn.init.normal_(linear.weight, 0.0, direction_std)
    nn.init.zeros_(linear.bias)
    layer = weight_norm(linear)
    layer.parametrizations.weight.original0.requires_grad_(train_scale)  # g [out, 1]
    return layer


@torch.no_grad()
def _data_dependent_init(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Salimans & Kingma 2016 §3: g = 1/std(t), b = -mean(t)/std(t) for t = x v^T/||v||."""
    v = layer.parametrizations.weight.original1  # [out, in]
    t = x @ (v / v.norm(dim=1, keepdim=True)).T
    mean, std = t.mean(dim=0), t.std(dim=0) + 1e-8
    layer.parametrizations.weight.original0.copy_((1.0 / std).unsqueeze(1))
    layer.bias.copy_(-mean / std)
    return layer(x)


def _init_sequence(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Data-dependent init of the weight-normalized layers of ``layers``, in order; their output on ``x``."""
    h = x
    for module in layers:
        h = _data_dependent_init(module, h) if isinstance(module, nn.Linear) else module(h)
    return h


class WeightNormHead(nn.Sequential):
    """D's output layer (noise, weight-normalized dense) with its data-dependent init."""

    @torch.no_grad()
    def init_from_data(self, features: torch.Tensor) -> None:
        _init_sequence(self, features)


class SSGANMnistDiscriminator(Discriminator):
    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        input_noise: float = 0.6,
        hidden_noise: float = 0.5,
        out_dim: int = 10,
    ) -> None:
        super().__init__()
        width = math.prod(example_shape_of(image_size, channels))
        layers: list[nn.Module] = [nn.Flatten()]
        for i, h in enumerate(hidden):
            layers += [GaussianNoise(input_noise if i == 0 else hidden_noise), wn_linear(width, h, train_scale=False), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_dim, self.out_dim = width, out_dim
        self.head = WeightNormHead(GaussianNoise(hidden_noise), wn_linear(width, out_dim, train_scale=True))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, 28, 28] -> [B, 250]
        return self.body(x)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent init of every weight-normalized layer on a batch of real data.

        As in the original (``get_output(..., deterministic=False, init=True)``) the Gaussian noise
        is on (training mode), so pre-activations have unit variance with the noise D trains with.
        """
        self.init_head_from_data(_init_sequence(self.body, x))


class SSGANMnistGenerator(Generator):
    def __init__(self, image_size: int = 28, channels: int = 1, z_dim: int = 100, hidden: Sequence[int] = (500, 500)) -> None:
        super().__init__()
        self.z_dim, self.example_shape = z_dim, example_shape_of(image_size, channels)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            # nn.batch_norm of the original: dense (no bias) -> batch norm (shift only) -> softplus
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h, affine=False), _Shift(h), nn.Softplus()]
            width = h
        layers += [weight_norm(nn.Linear(width, math.prod(self.example_shape))), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self._init_as_lasagne()

    @torch.no_grad()
    def _init_as_lasagne(self) -> None:
        """Lasagne's defaults, as in the original: Glorot-uniform weights, zero biases, and the output
        layer's weight-norm scale 1 for a sigmoid, so 0.5 for our tanh (tanh(a) = 2 sigmoid(2a) - 1)."""
        for layer in [m for m in self.net if isinstance(m, nn.Linear)]:
            if hasattr(layer, "parametrizations"):
                v = layer.parametrizations.weight.original1
                nn.init.xavier_uniform_(v)
                layer.parametrizations.weight.original0.fill_(0.5)
            else:
                nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def sample_z(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ U(0, 1)^100, as in the original code."""
        return torch.rand(n, self.z_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, z_dim] -> [B, 1, 28, 28]
        return self.net(z).view(-1, *self.example_shape)


class _Shift(nn.Module):
    """The learned shift (beta) of a batch norm without a learned scale (Lasagne ``g=None``)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.beta

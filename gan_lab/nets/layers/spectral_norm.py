"""Spectral normalisation of D (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for
Generative Adversarial Networks", §2.1-2.2): every weight W of D is divided by its largest singular
value sigma(W), estimated by one power iteration per training forward (u, v persist between steps,
Algorithm 1), so each layer is 1-Lipschitz and D is Lipschitz-bounded.

Applied by the net builder (``model.discriminator.spectral_norm=true``, ``gan_lab.build.build_nets``)
to every ``Conv2d`` / ``ConvTranspose2d`` / ``Linear`` of D, the trick heads included, through
``torch.nn.utils.parametrizations.spectral_norm`` (a convolution's kernel reshaped to
``[out, in * k * k]``, as the paper's implementation; u, v are buffers, so they travel in checkpoints
and DDP broadcasts rank 0's copy before each forward). The normalisation is per layer, not per batch:
it mixes no examples, so it is allowed with a per-example gradient penalty (WGAN-GP, R1).

Deviation: a layer that is already reparametrised (the weight-normalised dense layers of the
minibatch-discrimination head and of ``model=ssgan_mnist``) is left as it is; a D with no plain
layer at all is refused.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from gan_lab.errors import ConfigError

LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def spectral_normalise(discriminator: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """D with every plain conv / linear weight spectrally normalised (in place); returns D."""
    layers = [m for m in discriminator.modules() if isinstance(m, LAYERS) and not parametrize.is_parametrized(m, "weight")]
    if not layers:
        raise ConfigError(
            f"model.discriminator.spectral_norm=true: {type(discriminator).__name__} has no plain conv or linear layer "
            "(its layers are weight-normalised): use model=dcgan or model=gan_mlp, or set model.discriminator.spectral_norm=false"
        )
    for layer in layers:
        dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0  # torch's spectral_norm: the output dimension
        parametrize.register_parametrization(layer, "weight", SpectralNorm(layer.weight, n_power_iterations, dim))
    return discriminator


class SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization (same buffers, same state-dict keys, same numbers) whose power
    iteration writes u and v with ``copy_`` instead of ``out=``, which ``torch.func.vmap`` cannot batch: an
    ensemble of seeds (``gan_lab.nets.ensemble``) runs its members' D under vmap."""

    @torch.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):  # Algorithm 1 of Miyato et al. 2018: u <- W v / |W v|, v <- W^T u / |W^T u|
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))

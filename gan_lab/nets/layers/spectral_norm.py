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

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

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
        spectral_norm(layer, n_power_iterations=n_power_iterations)
    return discriminator

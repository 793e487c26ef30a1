"""Adversarial objectives: each holds D's and G's loss and nothing else (``loss=NAME``).

All work on logits (no sigmoid followed by log), so they stay finite where D is confident.
With D(x) = sigmoid(l): log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss:
    """Base class. ``d_loss`` takes the real and fake logits of one batch each."""

    name = "base"
    #: the loss reads D's output as a probability (BCE family): label smoothing applies
    probabilistic = False
    #: D's loss has a per-example penalty on D's input gradient (WGAN-GP): D must not mix the
    #: examples of a batch (no BatchNorm, no minibatch features), Gulrajani et al. 2017 §4
    per_example_penalty = False

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """An extra term of D's loss that needs D itself (the gradient penalty); None if none."""
        return None

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after every optimizer step of D (weight clipping)."""


def bce_real(real_logits: torch.Tensor, real_target: float) -> torch.Tensor:
    """-[t log D(x) + (1 - t) log(1 - D(x))], averaged: BCE against target t (t = 1 unsmoothed)."""
    if real_target == 1.0:
        return F.softplus(-real_logits).mean()
    return F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))


class Minimax(GANLoss):
    """Goodfellow et al. 2014, Eq. 1: D maximizes log D(x) + log(1 - D(G(z))); G minimizes log(1 - D(G(z))).

    G's gradient vanishes early in training when D rejects its samples (§3): the saturating loss.
    """

    name = "minimax"
    probabilistic = True

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        return bce_real(real_logits, real_target) + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits):
        return -F.softplus(fake_logits).mean()  # = E log(1 - D(G(z)))


class NonSaturating(Minimax):
    """Goodfellow et al. 2014 §3: G maximizes log D(G(z)) instead (strong gradients early on)."""

    name = "nonsaturating"

    def g_loss(self, fake_logits):
        return F.softplus(-fake_logits).mean()  # = -E log D(G(z))


class Wasserstein(GANLoss):
    """Arjovsky, Chintala & Bottou 2017 (WGAN), Algorithm 1: the critic maximizes E f(x) - E f(G(z)).

    ``clip`` > 0 clamps every critic parameter to [-clip, clip] after each critic step (c = 0.01).
    """

    name = "wasserstein"

    def __init__(self, clip: float = 0.01) -> None:
        self.clip = clip

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits):
        return -fake_logits.mean()

    @torch.no_grad()
    def after_d_step(self, discriminator):
        if self.clip and self.clip > 0:
            for p in discriminator.parameters():
                p.clamp_(-self.clip, self.clip)


class WassersteinGP(Wasserstein):
    """Gulrajani et al. 2017 (WGAN-GP), Algorithm 1: lambda * E (||grad_x^ D(x^)||_2 - 1)^2 with
    x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per example; lambda = 10. No weight clipping, and
    no BatchNorm in the critic (§4: the penalty is per example; use layer norm instead).
    """

    name = "wgan_gp"
    per_example_penalty = True

    def __init__(self, gp_weight: float = 10.0) -> None:
        super().__init__(clip=0.0)
        self.gp_weight = gp_weight

    def d_penalty(self, discriminator, real, fake):
        # a packed critic (PacGAN, trick=packing) decides per pack of m examples: one eps, one norm per pack
        m = getattr(discriminator, "pack_size", 1)
        eps = torch.rand(real.shape[0] // m, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        eps = eps.repeat_interleave(m, dim=0)  # [B/m, 1, ...] -> [B, 1, ...]: the members of a pack share eps
        mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
        logits, _ = discriminator(mixed)
        (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        return self.gp_weight * (grad.reshape(real.shape[0] // m, -1).norm(2, dim=1) - 1).square().mean()


class Hinge(GANLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D min E relu(1 - D(x)) + E relu(1 + D(G(z))); G min -E D(G(z))."""

    name = "hinge"

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits):
        return -fake_logits.mean()

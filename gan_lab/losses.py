"""Adversarial objectives: each holds D's and G's loss and nothing else (``loss=NAME``).

All work on logits (no sigmoid followed by log), so they stay finite where D is confident.
With D(x) = sigmoid(l): log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.errors import ConfigError, is_whole_number


class GANLoss:
    """Base class. ``d_loss`` takes the real and fake logits of one batch each."""

    name = "base"
    #: how messages name the penalty that makes ``per_example_penalty`` true, its source, and how to turn it off
    penalty_subject = "the gradient penalty"
    penalty_citation = "Gulrajani et al. 2017 §4"
    penalty_off = "use loss=wasserstein / hinge / nonsaturating"
    #: the loss reads D's output as a probability (BCE family): label smoothing applies
    probabilistic = False
    #: D's loss has a per-example penalty on D's input gradient (WGAN-GP): D must not mix the
    #: examples of a batch (no BatchNorm, no minibatch features), Gulrajani et al. 2017 §4
    per_example_penalty = False
    #: G's loss also reads D's logits on the real batch (a relativistic loss): G's phase passes the real
    #: batch through the current D too, in one forward with the fake batch, and ``g_loss`` gets them
    needs_real_in_g_phase = False

    @property
    def penalty_name(self) -> str:
        return f"{self.penalty_subject} ({self.penalty_citation})"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """G's loss from D's logits on G(z); ``real_logits`` (D's on the real batch, detached) is given only
        to a loss that ``needs_real_in_g_phase``."""
        raise NotImplementedError

    def d_penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, iteration: int = 1,
                  realness: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor | None:
        """An extra term of D's loss that needs D itself (a gradient penalty); None if none this iteration.

        ``iteration`` is the 1-based training iteration (lazy regularisation); ``realness`` maps D's raw
        logits to its realness logit (the objective's: logsumexp for a K-class D; None: the logits)."""
        return None

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after every optimizer step of D (weight clipping)."""


def bce_real(real_logits: torch.Tensor, real_target: float) -> torch.Tensor:
    """-[t log D(x) + (1 - t) log(1 - D(x))], averaged: BCE against target t (t = 1 unsmoothed)."""
    if real_target == 1.0:
        return F.softplus(-real_logits).mean()
    return F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))


def _critic(discriminator: nn.Module, realness: Callable | None) -> Callable[[torch.Tensor], torch.Tensor]:
    def critic(x: torch.Tensor) -> torch.Tensor:
        logits, _ = discriminator(x)
        return logits if realness is None else realness(logits)
    return critic


def zero_centred_penalty(discriminator: nn.Module, x: torch.Tensor,
                         realness: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """E_x ||grad_x D(x)||^2 over the batch ``x`` (detached from whatever made it): the squared gradient summed
    over each example's dimensions, averaged over the examples. D's realness logit is differentiated with
    ``create_graph`` (D's step back-propagates through the gradient). A packed D (``pack_size`` m) gives one
    gradient per pack, the norm taken over the pack's m examples. R1 on real data, R2 on G's samples."""
    m = getattr(discriminator, "pack_size", 1)
    x = x.detach().requires_grad_(True)
    logits = _critic(discriminator, realness)(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.square().reshape(x.shape[0] // m, -1).sum(dim=1).mean()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, gamma: float,
               realness: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """gamma/2 E_x ||grad_x D(x)||^2 on real data (Mescheder, Geiger & Nowozin 2018, Eq. 9)."""
    return gamma / 2 * zero_centred_penalty(discriminator, real, realness)


class R1Regularised(GANLoss):
    """The R1 penalty (Mescheder et al. 2018 §4.1, Eq. 9) as an option of the losses that read D's logit
    as a classifier (minimax, nonsaturating, hinge): ``r1_gamma`` > 0 adds gamma/2 E ||grad_x D(x)||^2
    on the real batch to D's loss, with the lazy regularisation of StyleGAN2 (Karras et al. 2020 §B,
    stylegan2-ada ``training/loss.py``, phase ``Dreg``): computed only every ``r1_interval`` iterations
    (at iterations 1, 1 + interval, ...: batch_idx % interval == 0 as stylegan2-ada's 0-based count)
    and multiplied by the interval there, so its average weight per iteration is unchanged.

    The penalty is per example: D must not mix the examples of a batch (``per_example_penalty``:
    BatchNorm and minibatch features are refused, ``norm: auto`` picks layer norm), as for WGAN-GP.
    D's call goes through ``augment=`` (DiffAugment), so the gradient is taken w.r.t. the un-augmented
    real images through the augmentation, as DiffAugment's StyleGAN2 code does.

    Deviation: stylegan2-ada runs ``Dreg`` as its own optimizer step and rescales Adam's learning rate
    and betas by interval / (interval + 1); here the scaled penalty is added to D's loss of that
    iteration (one step) and the optimizer is left as configured.
    """

    def __init__(self, r1_gamma: float = 0.0, r1_interval: int = 16) -> None:
        if isinstance(r1_gamma, bool) or not isinstance(r1_gamma, (int, float)) or r1_gamma < 0:
            raise ConfigError(f"loss.r1_gamma={r1_gamma}: must be a number >= 0 (0 turns R1 off; Mescheder et al. use 10)")
        if not is_whole_number(r1_interval):
            raise ConfigError(f"loss.r1_interval={r1_interval}: must be an integer >= 1 (16: StyleGAN2's lazy R1; 1: every iteration)")
        self.r1_gamma, self.r1_interval = float(r1_gamma), r1_interval

    @property
    def per_example_penalty(self) -> bool:  # type: ignore[override]
        return self.r1_gamma > 0

    penalty_citation = "Mescheder et al. 2018 Eq. 9"
    penalty_off = "set loss.r1_gamma=0"

    @property
    def penalty_subject(self) -> str:  # type: ignore[override]
        return f"loss.r1_gamma={self.r1_gamma:g}'s R1 penalty"

    def d_penalty(self, discriminator, real, fake, *, iteration=1, realness=None):
        if self.r1_gamma == 0 or (iteration - 1) % self.r1_interval:
            return None
        return self.r1_interval * r1_penalty(discriminator, real, self.r1_gamma, realness)


class Minimax(R1Regularised):
    """Goodfellow et al. 2014, Eq. 1: D maximizes log D(x) + log(1 - D(G(z))); G minimizes log(1 - D(G(z))).

    G's gradient vanishes early in training when D rejects its samples (§3): the saturating loss.
    """

    name = "minimax"
    probabilistic = True

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        return bce_real(real_logits, real_target) + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return -F.softplus(fake_logits).mean()  # = E log(1 - D(G(z)))


class NonSaturating(Minimax):
    """Goodfellow et al. 2014 §3: G maximizes log D(G(z)) instead (strong gradients early on)."""

    name = "nonsaturating"

    def g_loss(self, fake_logits, real_logits=None):
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

    def g_loss(self, fake_logits, real_logits=None):
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
    penalty_subject = "loss=wgan_gp's gradient penalty"

    def __init__(self, gp_weight: float = 10.0) -> None:
        super().__init__(clip=0.0)
        self.gp_weight = gp_weight

    def d_penalty(self, discriminator, real, fake, *, iteration=1, realness=None):
        # a packed critic (PacGAN, trick=packing) decides per pack of m examples: one eps, one norm per pack
        m = getattr(discriminator, "pack_size", 1)
        eps = torch.rand(real.shape[0] // m, *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        eps = eps.repeat_interleave(m, dim=0)  # [B/m, 1, ...] -> [B, 1, ...]: the members of a pack share eps
        mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
        logits = _critic(discriminator, realness)(mixed)
        (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        return self.gp_weight * (grad.reshape(real.shape[0] // m, -1).norm(2, dim=1) - 1).square().mean()


class Hinge(R1Regularised):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D min E relu(1 - D(x)) + E relu(1 + D(G(z))); G min -E D(G(z))."""

    name = "hinge"

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return -fake_logits.mean()


class RpGAN(GANLoss):
    """The relativistic pairing GAN loss with R1 and R2 (Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is
    dead; long live the GAN! A Modern GAN Baseline", §2; brownvc/R3GAN ``R3GAN/Trainer.py``,
    ``AdversarialTraining``). Real and fake examples are paired by their index in the batch, (x_i, G(z_i)):

        D minimizes E softplus(-(D(x_i) - D(G(z_i)))) + gamma/2 (E ||grad_x D(x)||^2 + E ||grad_x D(G(z))||^2)
        G minimizes E softplus(-(D(G(z_i)) - D(x_i)))

    (``AccumulateDiscriminatorGradients`` / ``AccumulateGeneratorGradients``: ``softplus(-RelativisticLogits)``,
    ``Gamma / 2 * (R1Penalty + R2Penalty)``, each penalty the squared input gradient summed over an example's
    dimensions, ``ZeroCenteredGradientPenalty``, averaged over the batch). R2 is taken on G(z) detached, as the
    original's ``FakeSamples.detach().requires_grad_(True)``. Both penalties apply every iteration, as R3GAN's
    (no lazy regularisation); ``gamma`` = 0 turns them off (plain RpGAN, which §2 shows needs both penalties to
    converge locally).

    G's loss needs D's logits on the real batch of G's phase (``needs_real_in_g_phase``): the objective passes
    the real batch through the current D in one forward with G(z) and hands ``g_loss`` the real logits,
    detached (they do not depend on G; R3GAN's G step gets no gradient through them either; it runs D on the two
    batches in two forwards, the same values for a D that does not mix examples). An ensemble of
    seeds or a packed D pairs within a member / pack by index, as a single run does. It does not read D(x) as a
    probability: label smoothing and ``task=semi_supervised`` refuse it; the per-example penalties refuse BatchNorm
    in D and minibatch discrimination, as R1 does.

    Deviations: R3GAN decays gamma, Adam's lr and beta2 on a cosine schedule (``train.py``: ``gamma_scheduler``,
    CIFAR-10 0.05 -> 0.005 over 20M images); here gamma is constant (``conf/loss/rpgan.yaml``). R3GAN takes the
    adversarial loss and the penalties from one forward of D per batch; here the penalties make their own
    forwards (the project's penalty hook, as R1 and WGAN-GP do), which costs two more D forwards per D step and
    computes the same values. D's phase pairs the real batch with the fake batch the iteration drew for both
    phases (R3GAN draws a new z per phase).
    """

    name = "rpgan"
    needs_real_in_g_phase = True
    penalty_citation = "Huang et al. 2024 §2"
    penalty_off = "set loss.gamma=0"

    def __init__(self, gamma: float = 0.05) -> None:
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
            raise ConfigError(f"loss.gamma={gamma}: must be a number >= 0 (R3GAN's CIFAR-10 preset starts at 0.05; 0 turns R1 and R2 off)")
        self.gamma = float(gamma)

    @property
    def per_example_penalty(self) -> bool:  # type: ignore[override]
        return self.gamma > 0

    @property
    def penalty_subject(self) -> str:  # type: ignore[override]
        return f"loss.gamma={self.gamma:g}'s R1 + R2 penalty"

    def d_loss(self, real_logits, fake_logits, real_target=1.0):
        # real_target stays 1: label smoothing is refused (not probabilistic)
        return F.softplus(-(real_logits - fake_logits)).mean()

    def g_loss(self, fake_logits, real_logits=None):
        if real_logits is None:
            raise ValueError("loss=rpgan pairs every fake logit with a real one: g_loss needs real_logits (needs_real_in_g_phase)")
        return F.softplus(-(fake_logits - real_logits.detach())).mean()

    def d_penalty(self, discriminator, real, fake, *, iteration=1, realness=None):
        if self.gamma == 0:
            return None
        r1 = zero_centred_penalty(discriminator, real, realness)
        r2 = zero_centred_penalty(discriminator, fake, realness)
        return self.gamma / 2 * (r1 + r2)

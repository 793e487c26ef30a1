"""The K+1-class discriminator's losses (Salimans et al. 2016, §5), as in the original code.

D outputs K logits ``l`` for the real classes; the logit of the (K+1)-th, "fake", class is
fixed at 0 (§5: "we can fix l_{K+1}(x) = 0"), so with ``Z(x) = sum_k exp(l_k(x))``

    p(y = fake | x) = 1 / (Z + 1),      D(x) = 1 - p(fake | x) = Z / (Z + 1) = sigmoid(logsumexp(l)).

Losses (``openai/improved-gan`` ``train_mnist_feature_matching.py``, ``loss_lab`` and
``loss_unl``; §5 eq. for L_supervised and L_unsupervised):

    L_sup   = E_lab [ -l_y + logsumexp(l) ]                           (cross-entropy over K)
    L_unsup = -1/2 E_unl logsumexp(l) + 1/2 E_unl softplus(logsumexp(l))
              + 1/2 E_fake softplus(logsumexp(l))

L_unsup is the GAN loss -1/2 E log D(x) - 1/2 E log(1 - D(G(z))) written in logits:
log D = lse - softplus(lse), log(1 - D) = -softplus(lse). D minimizes L_sup + w L_unsup.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def prob_real(logits: torch.Tensor) -> torch.Tensor:
    """D(x) = Z / (Z + 1) for ``[B, K]`` logits with the fake logit fixed at 0."""
    return torch.sigmoid(torch.logsumexp(logits, dim=1))


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_sup = mean(-l_y + logsumexp(l)) for ``[B, K]`` logits and ``[B]`` labels."""
    return F.cross_entropy(logits, labels)


def unsupervised_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_unsup = -1/2 E lse(l_real) + 1/2 E softplus(lse(l_real)) + 1/2 E softplus(lse(l_fake))."""
    lse_real = torch.logsumexp(real_logits, dim=1)
    lse_fake = torch.logsumexp(fake_logits, dim=1)
    return 0.5 * (-lse_real.mean() + F.softplus(lse_real).mean() + F.softplus(lse_fake).mean())

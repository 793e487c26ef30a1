"""Feature matching (Salimans et al. 2016, §3.1).

G minimizes || E_x f(x) - E_z f(G(z)) ||_2^2, f an intermediate layer of D (D's last hidden layer,
the ``features`` D returns, as in the original MNIST code). It replaces G's adversarial loss
(``weight`` scales it); ``add_to_adversarial=true`` adds it instead. ``reduction=sum`` is the
squared L2 norm of §3.1; ``reduction=mean`` divides it by the number of features, as the original
semi-supervised code does (``T.mean(abs(m1 - m2)**2)`` over the 250 features of its MNIST D).

Real and fake features come from one forward of [real; fake] through the current D (after D's
step, weights frozen, training mode), as the original passes both batches through the current D:
under BatchNorm the two halves are normalised with the same statistics, so a per-channel affine
difference between real and fake (a half-contrast G) shows in the loss. Separate real-only and
fake-only forwards would normalise each half by its own statistics and hide it (the test
``test_feature_matching_sees_a_contrast_difference_that_separate_batch_norm_hides``). The real
half is detached; its BatchNorm statistics are shared with the fake half (the point of the joint
forward). Deviation: the original code draws a second unlabelled batch for the real features (its
D has no BatchNorm); here the iteration's real batch is passed again, through the updated D.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from gan_lab.errors import ConfigError
from gan_lab.iteration import Iteration, Nets, per_member
from gan_lab.tricks.base import Trick

REDUCTIONS = ("sum", "mean")


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """|| mean_batch f(x) - mean_batch f(G(z)) ||_2^2 for ``[B, F]`` features (real side detached);
    ``reduction="mean"`` divides by F. ``[M, B, F]`` (an ensemble of seeds): the mean over the M members' losses."""
    squared = (features_real.detach().mean(dim=-2) - features_fake.mean(dim=-2)).square()
    losses = squared.mean(dim=-1) if reduction == "mean" else squared.sum(dim=-1)
    return losses.mean() if losses.ndim else losses


class FeatureMatching(Trick):
    name = "feature_matching"
    needs_real_in_g_phase = True

    def __init__(self, weight: float = 1.0, add_to_adversarial: bool = False, reduction: str = "sum") -> None:
        if reduction not in REDUCTIONS:
            raise ConfigError(f"tricks.feature_matching.reduction={reduction}: use sum (the paper's norm) or mean (the original code)")
        self.weight, self.add_to_adversarial, self.reduction = weight, add_to_adversarial, reduction

    def g_objective(self, it: Iteration, nets: Nets, adversarial: Callable[[], torch.Tensor]) -> torch.Tensor:
        real, fake = it.real_features, it.fake_features
        if it.members > 1:  # each member matches its own real features
            real, fake = per_member(real, it.members), per_member(fake, it.members)
        loss = self.weight * feature_matching_loss(real, fake, self.reduction)
        if self.add_to_adversarial:
            return loss + adversarial()
        return loss

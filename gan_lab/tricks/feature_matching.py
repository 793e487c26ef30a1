"""Feature matching (Salimans et al. 2016, §3.1).

G minimizes || E_x f(x) - E_z f(G(z)) ||_2^2, f an intermediate layer of D (by default D's last
hidden layer, the ``features`` D returns, as in the original MNIST code). It replaces G's
adversarial loss (``weight`` scales it); ``add_to_adversarial=true`` adds it instead.
The real features come from D's step on the same real batch, D in training mode, detached.
"""
from __future__ import annotations

import torch

from gan_lab.tricks.base import Step, Trick


def feature_matching_loss(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """|| mean_batch f(x) - mean_batch f(G(z)) ||_2^2 for ``[B, F]`` features (real side detached)."""
    return (features_real.detach().mean(dim=0) - features_fake.mean(dim=0)).square().sum()


class FeatureMatching(Trick):
    name = "feature_matching"

    def __init__(self, weight: float = 1.0, add_to_adversarial: bool = False) -> None:
        self.weight = weight
        self.add_to_adversarial = add_to_adversarial

    def g_objective(self, module, step: Step) -> torch.Tensor | None:
        loss = self.weight * feature_matching_loss(step.real_features, step.fake_features)
        if self.add_to_adversarial:
            return loss + module.loss.g_loss(step.fake_logits)
        return loss

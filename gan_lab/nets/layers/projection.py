"""The projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator", §3, eq. 3):

    f(x, y) = psi(phi(x)) + <V_y, phi(x)>,

phi(x) D's features (its last hidden layer, ``features``), psi D's own linear head (the unconditional
logit) and V a ``[K, feature_dim]`` class embedding. ``task=conditional task.head=projection`` wraps the
built D (the one net builder, so checkpoints rebuild it); ``D(x, y)`` returns ``(f(x, y), phi(x))``,
``D(x)`` the unconditional ``psi(phi(x))``.

Deviation: V starts from N(0, 0.02) (DCGAN's init; the chainer code uses Xavier-uniform), and is not
spectrally normalised by ``model.discriminator.spectral_norm`` (the paper's SN-ResNets normalise it).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_lab.nets.base import Discriminator


class ProjectionDiscriminator(Discriminator):
    def __init__(self, discriminator: Discriminator, num_classes: int) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.feature_dim, self.out_dim, self.num_classes = discriminator.feature_dim, discriminator.out_dim, int(num_classes)
        self.embed = nn.Embedding(num_classes, self.feature_dim)  # V: [K, feature_dim]
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    @property
    def head(self) -> nn.Module:  # psi, the wrapped D's head
        return self.discriminator.head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.features(x)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        self.discriminator.init_from_data(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.discriminator(x)  # psi(phi(x)): [B]; phi(x): [B, F]
        if y is not None:
            logits = logits + (self.embed(y) * features).sum(dim=1)  # + <V_y, phi(x)>
        return logits, features

"""Class-conditional GANs (``task=conditional``): G(z, y) with class-conditional BatchNorm
(``gan_lab.nets.layers.conditional_batchnorm``) and D told the class by one of two heads, ``task.head``:

* ``projection`` (Miyato & Koyama 2018 §3, eq. 3): D(x, y) = psi(phi(x)) + <V_y, phi(x)>
  (``gan_lab.nets.layers.projection``); the ``loss=`` group's losses on that logit (the paper: hinge).
* ``acgan`` (Odena, Olah & Shlens 2017, §3, "AC-GAN"): D outputs a realness logit and K class logits
  (``[B, 1 + K]``). With L_S the ``loss=`` group's D loss and L_C = CE(real class logits, y_real) +
  CE(fake class logits, y_fake), D minimizes L_S + w L_C; G minimizes its adversarial loss + w CE(D_cls(G(z, y)), y)
  (the paper: D maximizes L_S + L_C, G maximizes L_C - L_S; ``w`` = ``task.class_weight``, 1 in the paper).

Real labels come with the batch (the datamodule serves them when an objective's ``needs_labels`` is set);
the fake labels are drawn uniformly per example from the objective's latent stream, right after z, so a
resumed run draws the same labels.

Refused with one line: data without labels; ensembles of seeds; tricks that change D's head or input
(minibatch discrimination, packing), replace G's BatchNorm (virtual BN) or replace G's loss (feature
matching carries no class); a per-example gradient penalty (WGAN-GP, R1) with the projection head (the
penalty calls D without the class). Label smoothing and historical averaging compose.

``loss=rpgan`` (Huang et al. 2024 §2) pairs D(x_i, y_i) with D(G(z_i, y'_i), y'_i) by index, the real logits of
G's phase from a forward of the real batch with its labels (the acgan head: its realness logit). Deviation:
R3GAN's conditional runs give G the real batch's classes (``AccumulateGeneratorGradients(Noise, RealSamples,
Conditions)``, one ``Conditions`` for both); here G's classes are drawn uniformly, apart from the real batch's.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.data.datasets import Prepared
from gan_lab.data.spec import DataSpec
from gan_lab.errors import ConfigError
from gan_lab.iteration import Iteration, Nets
from gan_lab.losses import GANLoss
from gan_lab.nets.layers.conditional_batchnorm import conditional_generator
from gan_lab.nets.layers.projection import ProjectionDiscriminator
from gan_lab.objectives.base import Objective
from gan_lab.tricks.base import Trick

LABELLED_DATA = "data=mnist5k, mnist, digits, fashion_mnist, svhn or cifar10"
HEADS = {"projection": "Miyato & Koyama 2018", "acgan": "Odena et al. 2017"}


def acgan_class_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AC-GAN's class term: the cross-entropy of D's K class logits ``[B, K]`` with the labels ``[B]``."""
    return F.cross_entropy(class_logits, labels)


class Conditional(Objective):
    task = "conditional"
    needs_labels = True

    def __init__(self, loss: GANLoss, head: str = "projection", class_weight: float = 1.0) -> None:
        super().__init__(loss)
        if head not in HEADS:
            raise ConfigError(f"task.head={head}: use task.head=projection ({HEADS['projection']}) or task.head=acgan ({HEADS['acgan']})")
        if head == "projection" and loss.per_example_penalty:
            raise ConfigError(f"task.head=projection with {loss.penalty_name}: the penalty calls D without the class; "
                              f"use task.head=acgan, or {loss.penalty_off}")
        self.head, self.class_weight = head, float(class_weight)
        self.num_classes: int | None = None

    # ---- checks and the nets ----------------------------------------------------------------
    def check_data(self, data: DataSpec) -> None:
        if data.kind != "image" or not data.num_classes:
            raise ConfigError(f"task={self.task}: data={data.name} has no class labels to condition on: use {LABELLED_DATA}")
        self.num_classes = int(data.num_classes)

    def check_tricks(self, tricks: list) -> None:
        for trick in tricks:
            kind = type(trick)
            reason = ("replaces G's loss with a match of D's mean features, which carries no class"
                      if kind.g_objective is not Trick.g_objective or trick.needs_real_in_g_phase else
                      "replaces G's BatchNorm, which task=conditional makes class-conditional"
                      if kind.transform_generator is not Trick.transform_generator else
                      "changes D's head or input, which the class head reads"
                      if kind.transform_discriminator is not Trick.transform_discriminator else None)
            if reason:
                raise ConfigError(f"task={self.task} with trick={trick.name}: the trick {reason}; drop trick={trick.name}")

    def check_ensemble(self) -> None:
        raise ConfigError(f"ensemble.seeds with task={self.task}: not supported; run one seed per run "
                          "(ensemble.seeds=1, a multirun over seed=) instead")

    def discriminator_outputs(self, data: DataSpec) -> int:
        return 1 + int(data.num_classes) if self.head == "acgan" else 1

    def transform_generator(self, generator: nn.Module) -> nn.Module:
        return conditional_generator(generator, self.num_classes)

    def transform_discriminator(self, discriminator: nn.Module) -> nn.Module:
        return ProjectionDiscriminator(discriminator, self.num_classes) if self.head == "projection" else discriminator

    def bind(self, data: Prepared, seed: int, run_dir: Path | None) -> None:
        super().bind(data, seed, run_dir)
        if data.train_y is None:
            raise ConfigError(f"task={self.task}: data has no class labels in memory: use {LABELLED_DATA}")

    # ---- one iteration --------------------------------------------------------------------------
    def fake_labels(self, n: int, device: torch.device) -> torch.Tensor:
        """Classes of G's samples: uniform per example, from the latent stream (drawn after z)."""
        return torch.randint(self.num_classes, (n,), device=device, generator=self._latents[0])

    def start(self, number: int, real: torch.Tensor, nets: Nets, train_generator: bool, log: bool = False,
              labels: torch.Tensor | None = None) -> Iteration:
        if labels is None:
            raise ConfigError(f"task={self.task}: the batch has no labels (the datamodule serves them when the objective needs_labels)")
        z = self.latent_codes(nets.generator, real.shape[0], real.device)
        fake_labels = self.fake_labels(real.shape[0], real.device)
        with torch.set_grad_enabled(train_generator):
            fake = nets.synced_generator(z, fake_labels)
        return Iteration(number=number, real=real, fake=fake, log=log, members=nets.members, labels=labels, fake_labels=fake_labels)

    def _d(self, discriminator: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return discriminator(x, y) if self.head == "projection" else discriminator(x)

    def realness(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 0] if self.head == "acgan" else logits

    def discriminate(self, discriminator: nn.Module, it: Iteration) -> None:
        real_logits, real_features = self._d(discriminator, it.real, it.labels)
        fake_logits, _ = self._d(discriminator, it.fake.detach(), it.fake_labels)
        it.real_logits, it.real_features, it.fake_logits = real_logits, real_features.detach(), fake_logits

    def discriminate_fake(self, discriminator: nn.Module, it: Iteration) -> None:
        if self.loss.needs_real_in_g_phase:  # loss=rpgan: G's loss reads D's logits on the real batch (no trick asks: refused)
            it.g_real_logits = self._d(discriminator, it.real, it.labels)[0].detach()
        it.fake_logits, it.fake_features = self._d(discriminator, it.fake, it.fake_labels)

    def d_loss(self, discriminator: nn.Module, it: Iteration, real_target: float):
        d_loss, values = super().d_loss(discriminator, it, real_target)
        if self.head == "acgan":
            class_real = acgan_class_loss(it.real_logits[:, 1:], it.labels)
            class_fake = acgan_class_loss(it.fake_logits[:, 1:], it.fake_labels)
            d_loss = d_loss + self.class_weight * (class_real + class_fake)
            values = {**values, "train/class_loss_real": class_real.detach(), "train/class_loss_fake": class_fake.detach()}
        return d_loss, values

    def g_loss(self, it: Iteration) -> torch.Tensor:
        g_loss = super().g_loss(it)
        if self.head == "acgan":
            g_loss = g_loss + self.class_weight * acgan_class_loss(it.fake_logits[:, 1:], it.fake_labels)
        return g_loss

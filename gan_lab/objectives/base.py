"""What one training iteration computes, apart from how it runs (stylegan2-ada's ``training/loss.py``
beside ``training_loop.py``): the training module (``gan_lab.module.GAN``) owns the loop, the
schedule, the freezing and the checks; an objective owns D's and G's losses for the task.

An objective is an ``nn.Module`` held by the training module, so whatever state it keeps (the
semi-supervised D's EMA) is in every checkpoint. Its ``loss`` is the ``loss=`` group's
:class:`gan_lab.losses.GANLoss`; tricks read ``probabilistic`` and ``per_example_penalty``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan_lab.data.datasets import Prepared
from gan_lab.data.spec import DataSpec
from gan_lab.iteration import Iteration
from gan_lab.losses import GANLoss


class Objective(nn.Module):
    #: G is trained (False: the supervised baseline trains D alone)
    trains_generator = True
    #: the task's name in messages (``task=NAME``)
    task = "unconditional"

    def __init__(self, loss: GANLoss) -> None:
        super().__init__()
        self.loss = loss

    # ---- what the objective needs, checked before any data is read --------------------------
    @property
    def probabilistic(self) -> bool:
        """D's realness logit is read as a probability (label smoothing applies)."""
        return self.loss.probabilistic

    def check_data(self, data: DataSpec) -> None:
        """Raise ``ConfigError`` if the task cannot learn from this data."""

    def check_tricks(self, tricks: list) -> None:
        """Raise ``ConfigError`` for a trick this objective cannot combine with."""

    def discriminator_outputs(self, data: DataSpec) -> int:
        """The number of logits D must output."""
        return 1

    def bind(self, data: Prepared, seed: int, run_dir: Path | None) -> None:
        """Take what training needs from the loaded data (a labelled subset, a test split)."""

    def attach(self, discriminator: nn.Module) -> None:
        """Called once D is built and initialised (the semi-supervised EMA copies it)."""

    # ---- one iteration ----------------------------------------------------------------------
    def realness(self, logits: torch.Tensor) -> torch.Tensor:
        """D's logit that an example is real, from D's raw output."""
        return logits

    def discriminate(self, discriminator: nn.Module, it: Iteration) -> None:
        """D on the real batch and on the (detached) fake batch; fills ``it``."""
        real_logits, real_features = discriminator(it.real)
        fake_logits, _ = discriminator(it.fake.detach())
        it.real_logits, it.real_features, it.fake_logits = real_logits, real_features.detach(), fake_logits

    def d_loss(self, discriminator: nn.Module, it: Iteration, real_target: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss for this iteration, and extra values to log (``train/...``)."""
        self.discriminate(discriminator, it)
        return self.loss.d_loss(self.realness(it.real_logits), self.realness(it.fake_logits), real_target), {}

    def d_penalty(self, discriminator: nn.Module, it: Iteration) -> torch.Tensor | None:
        """The loss's penalty on D's realness logit (WGAN-GP; R1, lazily: ``it.number`` says whether this
        iteration regularises); None where the loss adds nothing this iteration."""
        return self.loss.d_penalty(discriminator, it.real, it.fake, iteration=it.number, realness=self.realness)

    def g_loss(self, it: Iteration) -> torch.Tensor:
        """G's adversarial loss from D's logits on G(z) (``it.fake_logits``, with gradients to G)."""
        return self.loss.g_loss(self.realness(it.fake_logits))

    def after_d_step(self, discriminator: nn.Module, iteration: int) -> None:
        self.loss.after_d_step(discriminator)

    def epoch_metrics(self, module) -> dict[str, torch.Tensor]:
        """Values to log at the end of every training epoch (``metrics/...``)."""
        return {}


class Unconditional(Objective):
    """The GAN game of Goodfellow et al. 2014 with the ``loss=`` group's losses (``task=unconditional``)."""

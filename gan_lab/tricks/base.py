"""The interface of a trick: a small object that touches only the hooks it needs.

Architecture (called by the one net builder, ``gan_lab.build.build_nets``, so that training,
sampling, evaluation and checkpoint loading all rebuild the same nets):

* ``transform_generator(G)`` / ``transform_discriminator(D)`` return the changed net (virtual BN,
  a minibatch-discrimination head).

Training (called by the objective's phases, ``gan_lab.objectives.base.Objective.phase_loss``, for
every iteration, in order):

* ``real_target(target)`` sets the real label of D's BCE loss (label smoothing; read once);
* ``d_penalty(it, nets)`` / ``g_penalty(it, nets)`` are added to each player's loss;
* ``g_objective(it, nets, adversarial)`` may replace G's adversarial loss (feature matching;
  ``adversarial()`` computes that loss, for a trick that adds to it rather than replacing it);
* ``after_step(player, nets)`` runs after each optimizer step of ``player`` ("d" or "g").

``it`` is the :class:`gan_lab.iteration.Iteration` of the current batch and ``nets`` the
:class:`gan_lab.iteration.Nets`: a trick sees tensors and nets, never the training module. State
that must survive a resume goes in ``state_dict`` (saved in the checkpoint under ``tricks/<name>``).
``check`` refuses an impossible combination with the loss before anything is built.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.iteration import Iteration, Nets
from gan_lab.losses import GANLoss


class Trick:
    name = "trick"
    #: the trick only makes sense with a loss that reads D(x) as a probability
    requires_probabilistic_loss = False
    #: G's phase passes the real batch through the current D too, in one forward with the fake batch
    #: (``it.real_features`` then holds the current D's features under joint batch statistics)
    needs_real_in_g_phase = False
    #: D's output for one example depends on the other examples of its batch (minibatch features):
    #: refused with a per-example gradient penalty, for the reason BatchNorm is (Gulrajani et al. 2017 §4)
    mixes_examples_in_d = False

    def check(self, loss: GANLoss) -> None:
        """Raise ``ConfigError`` for an impossible combination with the loss, before anything is built."""
        if self.requires_probabilistic_loss and not loss.probabilistic:
            raise ConfigError(
                f"trick={self.name} needs a loss that reads D(x) as a probability, and loss={loss.name} "
                "does not: use loss=nonsaturating or loss=minimax, or drop the trick"
            )
        if self.mixes_examples_in_d and loss.per_example_penalty:  # WGAN-GP, R1
            raise ConfigError(
                f"trick={self.name} makes D's output for one example depend on the rest of its batch, and "
                f"{loss.penalty_subject} is per example ({loss.penalty_citation}, the reason BatchNorm is refused "
                f"too): drop the trick, or {loss.penalty_off}"
            )

    def transform_generator(self, generator: nn.Module) -> nn.Module:
        return generator

    def transform_discriminator(self, discriminator: nn.Module) -> nn.Module:
        return discriminator

    def real_target(self, target: float) -> float:
        return target

    def d_penalty(self, it: Iteration, nets: Nets) -> torch.Tensor | None:
        return None

    def g_penalty(self, it: Iteration, nets: Nets) -> torch.Tensor | None:
        return None

    def g_objective(self, it: Iteration, nets: Nets, adversarial: Callable[[], torch.Tensor]) -> torch.Tensor | None:
        return None

    def after_step(self, player: str, nets: Nets) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

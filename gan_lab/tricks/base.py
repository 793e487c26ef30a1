"""The interface of a trick: a small object that touches only the hooks it needs.

The training module calls, in order, for every batch (see ``gan_lab.module.GAN``):

* ``setup(module)`` once, before the optimizers are built (architecture changes);
* ``real_target(target)`` to set the real label of D's BCE loss (label smoothing);
* ``d_penalty(module, step)`` / ``g_penalty(module, step)`` added to each player's loss;
* ``g_objective(module, step)`` which may replace G's adversarial loss (feature matching);
* ``after_step(module, player)`` after each optimizer step of ``player`` ("d" or "g").

``step`` is a :class:`Step` with the tensors of the current batch. State that must survive a
resume goes in ``state_dict`` (saved in the checkpoint under ``tricks/<name>``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gan_lab.module import GAN


@dataclass
class Step:
    """Tensors of one training iteration, shared with the tricks."""

    real: torch.Tensor
    fake: torch.Tensor
    real_logits: torch.Tensor | None = None
    real_features: torch.Tensor | None = None  # f(x) from D's step, detached
    fake_logits: torch.Tensor | None = None
    fake_features: torch.Tensor | None = None


class Trick:
    name = "trick"
    #: the trick only makes sense with a loss that reads D(x) as a probability
    requires_probabilistic_loss = False

    def check(self, module: GAN) -> None:
        """Raise ``ConfigError`` for an impossible combination, before training starts."""
        if self.requires_probabilistic_loss and not module.loss.probabilistic:
            from gan_lab.errors import ConfigError

            raise ConfigError(
                f"trick={self.name} needs a loss that reads D(x) as a probability, and loss={module.loss.name} "
                "does not: use loss=nonsaturating or loss=minimax, or drop the trick"
            )

    def setup(self, module: GAN) -> None:
        pass

    def real_target(self, target: float) -> float:
        return target

    def d_penalty(self, module: GAN, step: Step) -> torch.Tensor | None:
        return None

    def g_penalty(self, module: GAN, step: Step) -> torch.Tensor | None:
        return None

    def g_objective(self, module: GAN, step: Step) -> torch.Tensor | None:
        return None

    def after_step(self, module: GAN, player: str) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

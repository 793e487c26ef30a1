"""Learning-rate schedules that the papers use and torch does not ship.

Optimizers themselves are configured by ``_target_`` (``conf/optim/*.yaml``: ``torch.optim.Adam``, ...).
"""
from __future__ import annotations

import torch

from gan_lab.errors import ConfigError


def linear_ramp_down(optimizer: torch.optim.Optimizer, total_steps: int, start_fraction: float = 2 / 3) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate constant for ``start_fraction`` of ``total_steps`` steps, then linearly to 0.

    The schedule of ``openai/improved-gan`` (``lr * min(3 - epoch / 400, 1)`` over 1,200 epochs:
    ``start_fraction=2/3``); stepped once per training iteration (``optim.*_scheduler``).
    """
    if total_steps < 1 or not 0.0 <= start_fraction < 1.0:
        raise ConfigError(f"linear_ramp_down(total_steps={total_steps}, start_fraction={start_fraction}): need total_steps >= 1 and 0 <= start_fraction < 1")
    ramp = total_steps * (1.0 - start_fraction)

    def factor(step: int) -> float:
        return max(0.0, min(1.0, (total_steps - step) / ramp))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

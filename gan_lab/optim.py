"""Optimizers by name, so that a preset can switch Adam for RMSProp by overriding ``name``.

``optim.g`` / ``optim.d`` are partial calls of :func:`optimizer`; keys the chosen optimizer
does not take (``betas`` for RMSProp, say) are ignored.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from gan_lab.errors import ConfigError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


def optimizer(
    params: Iterable[torch.nn.Parameter],
    name: str = "adam",
    lr: float = 2e-4,
    betas: Sequence[float] = (0.5, 0.999),
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    alpha: float = 0.99,
    eps: float | None = None,
) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ConfigError(f"optim.*.name={name}: unknown optimizer (use one of {', '.join(OPTIMIZERS)})")
    kwargs: dict = {"lr": lr, "weight_decay": weight_decay}
    if name in ("adam", "adamw"):
        kwargs["betas"] = tuple(betas)
    elif name == "rmsprop":
        kwargs.update(alpha=alpha, momentum=momentum)
    elif name == "sgd":
        kwargs["momentum"] = momentum
    if eps is not None and name != "sgd":
        kwargs["eps"] = eps
    return OPTIMIZERS[name](params, **kwargs)


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

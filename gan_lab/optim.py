"""The optimizers of the ``optim=`` group and the learning-rate schedules that the papers use and torch does
not ship.

Optimizers are configured by ``_target_`` (``conf/optim/*.yaml``: ``torch.optim.Adam``, ...) and built here,
their options checked against the class before training; schedules are ``optim.g_scheduler`` /
``optim.d_scheduler`` (any ``torch.optim.lr_scheduler`` class, or :func:`linear_ramp_down`).
"""
from __future__ import annotations

import inspect

import torch
from omegaconf import DictConfig

from gan_lab.errors import ConfigError
from gan_lab.instantiate import instantiate


def linear_ramp_down(optimizer: torch.optim.Optimizer, total_steps: int, start_fraction: float = 2 / 3,
                     end_factor: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate constant for ``start_fraction`` of ``total_steps`` steps, then linearly to
    ``end_factor`` times itself (0 by default).

    The schedule of ``openai/improved-gan`` (``lr * min(3 - epoch / 400, 1)`` over 1,200 epochs:
    ``start_fraction=2/3``); the mode-collapse CPU protocol's (``start_fraction=0.4``, ``end_factor=0.001``:
    ``conf/experiment/mode_collapse_cpu.yaml``); stepped once per training iteration (``optim.*_scheduler``).
    """
    if total_steps < 1 or not 0.0 <= start_fraction < 1.0 or not 0.0 <= end_factor <= 1.0:
        raise ConfigError(f"linear_ramp_down(total_steps={total_steps}, start_fraction={start_fraction}, end_factor={end_factor}): "
                          "need total_steps >= 1, 0 <= start_fraction < 1 and 0 <= end_factor <= 1")
    ramp = total_steps * (1.0 - start_fraction)

    def factor(step: int) -> float:
        return end_factor + (1.0 - end_factor) * max(0.0, min(1.0, (total_steps - step) / ramp))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_factory(spec: DictConfig, key: str):
    """``optim.g`` / ``optim.d``: a partial torch.optim class; an option it does not take fails here,
    in one line, rather than inside the Trainer's setup."""
    factory = instantiate(spec)
    target = factory.func
    params = inspect.signature(target).parameters
    unknown = [k for k in factory.keywords if k not in params]
    if unknown:
        options = ", ".join(p for p in params if p not in ("self", "params"))
        raise ConfigError(f"{key}: {spec._target_} takes no option {', '.join(unknown)} (its options: {options}); "
                          f"remove it with ~{key}.{unknown[0]} or pick the optimizer's options")
    return factory

"""A NaN or infinite loss stops the run with one readable line, before a bad checkpoint is written.

The losses that ``GAN.training_step`` returns are checked on the device every iteration (no host
sync); the flag is read on the host every ``every_n_steps`` iterations and at the last one (one sync,
all-reduced across ranks so that every rank stops at the same step). The interval is the gcd of the
checkpoint and logging intervals (50 if neither is on), and Lightning runs checkpoint callbacks after
this one, so no checkpoint is written after a non-finite loss: the last one written is the last good one.
"""
from __future__ import annotations

import math

import lightning as L
import torch

from gan_lab.errors import TrainingDiverged


class FiniteLossCheck(L.Callback):
    def __init__(self, checkpoint_every_n_steps: int | None = None, log_every_n_steps: int | None = None) -> None:
        intervals = [int(n) for n in (checkpoint_every_n_steps, log_every_n_steps) if n and n > 0]
        self.every_n_steps = math.gcd(*intervals) if intervals else 50
        self.first_bad_step: torch.Tensor | None = None  # first iteration whose loss was not finite (-1: none)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if not outputs:
            return
        step = trainer.global_step  # the iteration just trained (1-based; the module counts D's steps only)
        finite = None
        for loss in outputs.values():
            ok = torch.isfinite(loss)
            finite = ok if finite is None else finite & ok
        if self.first_bad_step is None or self.first_bad_step.device != finite.device:
            self.first_bad_step = torch.full((), -1, dtype=torch.long, device=finite.device)
        newly_bad = (~finite) & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(newly_bad, step, self.first_bad_step)
        if step % self.every_n_steps == 0 or step == trainer.max_steps:
            self.check(trainer)

    def check(self, trainer: L.Trainer) -> None:
        """Stop with a readable error if a loss was NaN/inf since the start (one host sync)."""
        first_bad = int(trainer.strategy.reduce(self.first_bad_step.float(), reduce_op="max").item())
        if first_bad < 0:
            return
        from lightning.pytorch.callbacks import ModelCheckpoint

        ckpts = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)]
        last = next((cb.last_model_path or cb.best_model_path for cb in ckpts if cb.last_model_path or cb.best_model_path), "")
        kept = f"the last good checkpoint is kept at {last}" if last else "no checkpoint had been written yet"
        raise TrainingDiverged(
            f"the loss became NaN or infinite at step {first_bad}; training stopped and {kept}. "
            "Lower the learning rates (optim.d.lr=..., optim.g.lr=...), or try loss=nonsaturating / loss=wgan_gp"
        )

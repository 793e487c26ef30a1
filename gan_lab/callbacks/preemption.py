"""Preemption: on SIGTERM (or SLURM's requeue signal) write a checkpoint and say how to go on.

Lightning's signal connector turns SIGTERM into ``SIGTERMException`` once the current training
iteration is complete (and under SLURM with auto-requeue, SIGUSR1 requeues the job). This
callback then writes ``checkpoints/last.ckpt`` (atomically, through AtomicCheckpointIO), so that
``resume=auto`` continues exactly where the run stopped: weights, optimizers, step, RNG and the
position in the data order.
"""
from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger("gan_lab")


class PreemptionCheckpoint(L.Callback):
    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None

    def on_exception(self, trainer: L.Trainer, module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        self.saved = path
        if trainer.is_global_zero:
            log.warning("preempted at step %d: checkpoint written to %s; run the same command with resume=auto to continue",
                        trainer.global_step, path)

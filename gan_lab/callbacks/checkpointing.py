"""The run's checkpoint callbacks, as the callbacks group builds them (``conf/callbacks/model_checkpoint.yaml``,
``best_checkpoint.yaml``): Lightning's ``ModelCheckpoint``, or None where the config turns one off.

Checkpoints are written atomically (``gan_lab.checkpoints.AtomicCheckpointIO``); ``last.ckpt`` is always
the newest (no version counter), also after a preemption save.
"""
from __future__ import annotations

import math
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint

from gan_lab.metrics.goals import goal


def periodic_checkpoint(dirpath: str | Path, every_n_steps: int | None, keep_all: bool = True) -> ModelCheckpoint | None:
    """``checkpoints/step_XXXXXXX.ckpt`` and ``last.ckpt`` every ``every_n_steps`` iterations (0 / null: none)."""
    if not every_n_steps:
        return None
    return ModelCheckpoint(
        dirpath=Path(dirpath),
        filename="step_{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=every_n_steps,
        save_top_k=-1 if keep_all else 1,
        save_last=True,
        save_on_train_epoch_end=False,
        enable_version_counter=False,  # last.ckpt is always the latest, also after a preemption save
    )


def best_checkpoint(dirpath: str | Path, monitor: str | None, mode: str | None, metrics_every_n_steps: int | None,
                    max_steps: int) -> ModelCheckpoint | None:
    """``checkpoint.monitor=metrics/clf_fid5k``: ``checkpoints/best.ckpt`` holds the run at its best
    evaluation (``checkpoint.mode``: min or max, by default the metric's own goal). Metrics are
    evaluated every ``metrics.every_n_steps`` iterations and at the last one, so the monitor looks
    only at those steps (their gcd with max_steps): no per-iteration check, no DDP collective."""
    if not monitor:
        return None
    every, max_steps = int(metrics_every_n_steps or 0), int(max_steps)
    return ModelCheckpoint(
        dirpath=Path(dirpath),
        filename="best",
        monitor=monitor,
        mode=mode or goal(monitor) or "min",
        save_top_k=1,
        save_last=False,
        every_n_train_steps=math.gcd(every, max_steps) if every > 0 else max_steps,
        save_on_train_epoch_end=False,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )

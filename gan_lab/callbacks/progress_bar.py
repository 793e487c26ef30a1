"""A progress display counted in training iterations: one tqdm bar on a terminal, log lines elsewhere.

gan-lab runs are counted in training iterations (``trainer.max_steps``; one iteration = one D
step, see ``gan_lab.module``), not epochs. ``GanProgressBar`` (a Lightning ``TQDMProgressBar``)
therefore shows

- ``mode=bar``: one tqdm bar over ``max_steps`` (``n = trainer.global_step``), never reset at
  epoch boundaries; a resumed run starts at the checkpoint's step. Postfix:
  ``d=0.52 g=1.9 840 img/s clf_fid5k=23.1`` (no ``v_num``).
- ``mode=lines``: no tqdm (whose carriage returns flood SLURM logs); a line through the
  ``gan_lab`` logger every ``max(log_every_n_steps, max_steps // lines)`` iterations (rounded up
  to a multiple of ``log_every_n_steps``) plus the final one:
  ``step 500/3000 (17%) d_loss=0.52 g_loss=1.9 840 img/s clf_fid5k=23.1 eta 4m10s``.
- ``mode=auto`` (default): ``bar`` if stdout is a terminal, else ``lines``; ``mode=off``: nothing.

Values are read from ``trainer.callback_metrics`` (``train/d_loss``, ``train/g_loss``,
``train/images_per_sec`` of ``TrainingProgress``, any ``metrics/*fid*``) only at the steps they are
logged (``global_step % log_every_n_steps == 0``) and at the end: ``float()`` of a device tensor is
a host sync, so none happens in between. The evaluation callback puts every evaluation there,
the one after the loop of a run stopped early included.
Place this callback after ``TrainingProgress`` and the evaluation callback so that the step's
throughput and FID are already there. Only rank 0 shows anything (Lightning disables the bar on
the other ranks). gan-lab has no validation loop: the sanity-check and validation bars are never
created.

Deviation from Lightning's bar: the train bar's total is ``max_steps``, not the epoch's batches,
and its rate/ETA are iterations of this session (tqdm's ``initial`` is the resumed step).
"""
from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from gan_lab.errors import ConfigError
from gan_lab.metrics.goals import is_fid

log = logging.getLogger("gan_lab")

MODES = ("auto", "bar", "lines", "off")


def format_duration(seconds: float) -> str:
    """``4m10s``, ``1h02m``, ``35s``."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def line_interval(max_steps: int, log_every_n_steps: int, lines: int) -> int:
    """Iterations between two log lines: ``max(log_every_n_steps, max_steps // lines)`` rounded up to
    a multiple of ``log_every_n_steps`` (values are only fresh at logging steps)."""
    every = max(log_every_n_steps, 1)
    wanted = max(every, max_steps // max(lines, 1)) if max_steps > 0 else every
    return math.ceil(wanted / every) * every


class GanProgressBar(TQDMProgressBar):
    """One bar (or one log line every few hundred iterations) over the run's ``max_steps``.

    Args:
        mode: ``auto`` (bar on a terminal, lines otherwise), ``bar``, ``lines`` or ``off``.
        lines: about how many log lines a run writes in ``lines`` mode (plus the final one).
        refresh_rate: redraw the bar at most every this many iterations (tqdm also limits it to
            10 redraws a second).
    """

    def __init__(self, mode: str = "auto", lines: int = 20, refresh_rate: int = 1) -> None:
        if mode not in MODES:
            raise ConfigError(f"progress bar mode={mode!r} does not exist: choose one of {', '.join(MODES)} "
                              "(e.g. callbacks.progress_bar.mode=lines)")
        if int(lines) < 1:
            raise ConfigError(f"progress bar lines={lines}: it must be at least 1 (e.g. callbacks.progress_bar.lines=20)")
        super().__init__(refresh_rate=refresh_rate, leave=True)
        self.mode, self.lines = mode, int(lines)
        self.active_mode: str | None = None  # the mode this run uses (auto resolved at the start)
        self.values: dict[str, float] = {}  # the last values read (train/d_loss, ..., metrics/...fid...)
        self.every = 0
        self._start_step = 0
        self._start_time = 0.0
        self._last_line_step = -1

    # ---- what is shown --------------------------------------------------------------------------
    def read_values(self, trainer: L.Trainer) -> dict[str, float]:
        """The losses, throughput and FID-like metric as floats (a host sync: call at logging steps)."""
        metrics = trainer.callback_metrics
        for key in ("train/d_loss", "train/g_loss", "train/images_per_sec"):
            if key in metrics:
                self.values[key] = float(metrics[key])
        fids = {k: v for k, v in metrics.items() if is_fid(k)}
        if fids:  # one FID-like value (the first name in order): clf_fid5k before fid
            key = min(fids)
            self.values = {k: v for k, v in self.values.items() if not k.startswith("metrics/")}
            self.values[key] = float(fids[key])
        return self.values

    def _parts(self, short: bool) -> list[str]:
        v, parts = self.values, []
        if "train/d_loss" in v:
            parts.append(f"{'d' if short else 'd_loss'}={v['train/d_loss']:.3g}")
        if "train/g_loss" in v:
            parts.append(f"{'g' if short else 'g_loss'}={v['train/g_loss']:.3g}")
        if "train/images_per_sec" in v:
            parts.append(f"{v['train/images_per_sec']:.0f} img/s")
        return parts + [f"{k.removeprefix('metrics/')}={x:.4g}" for k, x in v.items() if k.startswith("metrics/")]

    def postfix(self) -> str:
        """``d=0.52 g=1.9 840 img/s clf_fid5k=23.1`` from the last values read."""
        return " ".join(self._parts(short=True))

    def line(self, step: int, total: int | None, final: bool = False) -> str:
        """``step 500/3000 (17%) d_loss=0.52 g_loss=1.9 840 img/s clf_fid5k=23.1 eta 4m10s``."""
        elapsed = time.perf_counter() - self._start_time
        parts = [f"step {step}/{total} ({100 * step // total}%)" if total else f"step {step}", *self._parts(short=False)]
        done = step - self._start_step
        if final:
            parts.append(f"done in {format_duration(elapsed)}")
        elif total and done > 0:
            parts.append(f"eta {format_duration(elapsed / done * (total - step))}")
        return " ".join(parts)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """The values shown (without Lightning's ``v_num``); reads nothing new."""
        return dict(self.values)

    # ---- training -------------------------------------------------------------------------------
    @property
    def total(self) -> int | None:
        max_steps = self.trainer.max_steps
        return max_steps if max_steps and max_steps > 0 else None

    def init_train_tqdm(self) -> Tqdm:
        step = self.trainer.global_step
        return Tqdm(desc="train", total=self.total, initial=step, position=2 * self.process_position,
                    disable=self.is_disabled, leave=True, dynamic_ncols=True, file=sys.stdout, smoothing=0,
                    bar_format=self.BAR_FORMAT, unit="it")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active_mode = self.mode
        if self.mode == "auto":
            isatty = getattr(sys.stdout, "isatty", None)
            self.active_mode = "bar" if isatty is not None and isatty() else "lines"
        self._start_step, self._start_time = trainer.global_step, time.perf_counter()
        self._last_line_step = trainer.global_step
        self.every = line_interval(trainer.max_steps, trainer.log_every_n_steps, self.lines)
        if self.active_mode == "bar":
            self.train_progress_bar = self.init_train_tqdm()

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        pass  # one bar for the whole run: no reset at epoch boundaries

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.is_disabled or self.active_mode in (None, "off"):
            return
        step = trainer.global_step
        logging_step = step % trainer.log_every_n_steps == 0
        if self.active_mode == "lines":
            if step % self.every == 0 and step != self.total and trainer.is_global_zero:
                self.read_values(trainer)
                log.info(self.line(step, self.total))
                self._last_line_step = step
            return
        bar = self.train_progress_bar
        if logging_step or step == bar.total:
            self.read_values(trainer)
            bar.set_postfix_str(self.postfix(), refresh=False)
        if step == bar.total:  # done: draw the final state and end the line before Lightning's "stopped" message
            bar.n = step
            bar.close()
        elif self._should_update(step, bar.total):
            bar.update(step - bar.n)  # tqdm redraws at most 10 times a second

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass  # nothing new to show (and no host sync)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active_mode in (None, "off") or self.is_disabled:
            return
        step = trainer.global_step
        if self.active_mode == "lines":
            if trainer.is_global_zero and (step != self._last_line_step or step == self.total):
                self.read_values(trainer)  # the final values and the end-of-run FID (one sync)
                log.info(self.line(step, self.total, final=True))
                self._last_line_step = step
            return
        bar = self.train_progress_bar
        if not bar.disable:  # stopped before max_steps (max_time, an early stop): close it here
            self.read_values(trainer)
            bar.set_postfix_str(self.postfix(), refresh=False)
            bar.n = step
            bar.close()  # draws the final state once (leave=True)

    # ---- gan-lab has no validation loop: never draw an empty sanity/validation bar -------------
    def on_sanity_check_start(self, *_: Any) -> None:
        pass

    def on_sanity_check_end(self, *_: Any) -> None:
        pass

    def on_validation_start(self, *_: Any) -> None:
        pass

    def on_validation_batch_start(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_batch_end(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_end(self, *_: Any) -> None:
        pass


def progress_bar(mode: str = "auto", lines: int = 20, enabled: bool = True) -> GanProgressBar | None:
    """The callbacks group's progress bar: None with ``trainer.enable_progress_bar=false`` (Lightning refuses a
    progress-bar callback then)."""
    return GanProgressBar(mode=mode, lines=lines) if enabled else None

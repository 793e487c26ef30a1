"""Preemption: on SIGTERM, or on submitit's preemption signal, write a checkpoint at the end of the
current training iteration and say (or arrange) how to go on.

Two ways a job is told to stop:

* **SIGTERM** (``scancel``, SLURM's ``PreemptMode=REQUEUE``, the trap of
  ``docker/sbatch_example.sh``, ``docker stop``): Lightning's signal connector records it and raises
  ``SIGTERMException`` once the current iteration is complete (under DDP rank 0 broadcasts it);
  :meth:`PreemptionCheckpoint.on_exception` then writes ``checkpoints/last.ckpt``.
* **submitit's preemption signal** (USR2, or ``SUBMITIT_PREEMPT_SIGNAL``; hydra-submitit-launcher
  asks SLURM for it ``signal_delay_s`` before the time limit, and SLURM sends it on preemption):
  submitit's own handler calls the launcher's ``checkpoint()`` (a resubmission of the same Hydra job),
  requeues it and ``sys.exit``\\ s, from inside the signal handler, i.e. in the middle of a training
  step, so no checkpoint would be written. While training runs, this callback replaces that handler by
  one that only records the signal; at the end of the iteration all ranks agree whether any of them got
  it (``strategy.reduce_boolean_decision``), and if so the callback sets Lightning's own
  ``received_sigterm`` flag, so Lightning raises ``SIGTERMException`` at the end of this same
  iteration on every rank, ``last.ckpt`` is written as for SIGTERM, the Trainer tears down (restoring
  submitit's handler), and :func:`hand_over_preemption` (called by the CLI) finally runs submitit's
  handler: it requeues the job, whose run folder is the same, and ``resume`` defaults to ``auto``
  under SLURM (``gan_lab.checkpoints.resolve_ckpt_path``), so the requeued job continues from
  ``last.ckpt``: weights, optimizers, step, RNG and the position in the data order.

Deviation from submitit's design: the requeue happens up to one training iteration (plus the
checkpoint write) after the signal instead of at once; ``signal_delay_s`` must cover that.
Under DDP the agreement costs one all-reduce of a boolean per iteration (Lightning already
broadcasts its SIGTERM flag every iteration); a single-device run pays nothing.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from gan_lab.errors import ConfigError

log = logging.getLogger("gan_lab")

#: submitit's handler of the preemption signal and the signal, set once a run stopped for it; the CLI
#: calls it through :func:`hand_over_preemption` once the Trainer has torn down
_deferred: tuple[Callable[[int, FrameType | None], Any], int] | None = None


def preemption_signal() -> signal.Signals:
    """The signal submitit treats as "preempted / about to time out": ``SIG$SUBMITIT_PREEMPT_SIGNAL``
    (USR2 unless set), read the way ``submitit.JobEnvironment`` reads it."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    sig = getattr(signal, "SIG" + name, None)
    if not isinstance(sig, signal.Signals):
        raise ConfigError(f"SUBMITIT_PREEMPT_SIGNAL={name} is not a signal name: unset it, or set SUBMITIT_PREEMPT_SIGNAL=USR2")
    return sig


def hand_over_preemption() -> None:
    """If the run stopped for submitit's preemption signal, run submitit's handler now: on rank 0 it
    checkpoints the submission, requeues the job and exits (``SystemExit``); on other ranks it returns."""
    global _deferred
    if _deferred is None:
        return
    handler, signum = _deferred
    _deferred = None
    handler(signum, None)


class PreemptionCheckpoint(L.Callback):
    """Write ``<dirpath>/last.ckpt`` when training stops for SIGTERM or submitit's preemption signal."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self._signal: signal.Signals | None = None
        self._submitit_handler: Callable[[int, FrameType | None], Any] | None = None
        self._received = False
        self._watching = False
        self._stopped_for: signal.Signals | None = None

    # ---- submitit's signal: recorded in the handler, acted on at the end of the iteration -------------
    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        global _deferred
        _deferred = None
        sig = preemption_signal()
        previous = signal.getsignal(sig)
        self._received, self._stopped_for, self._submitit_handler = False, None, None
        # only where a Python handler (submitit's) waits for the signal: elsewhere its default action stays
        if callable(previous) and threading.current_thread() is threading.main_thread():
            self._signal, self._submitit_handler = sig, previous
            signal.signal(sig, self._record)  # Lightning's signal teardown restores submitit's handler
        # every rank takes part in the per-iteration agreement if any rank listens (one collective, here)
        self._watching = trainer.strategy.reduce_boolean_decision(self._signal is not None, all=False)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._received = True  # nothing else here: the step in progress must finish first

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._watching:
            return
        if trainer.strategy.reduce_boolean_decision(self._received, all=False):  # any rank got it
            global _deferred
            self._stopped_for = preemption_signal()
            if self._submitit_handler is not None:
                _deferred = (self._submitit_handler, self._stopped_for)
            trainer._signal_connector.received_sigterm = True  # Lightning raises SIGTERMException after this iteration

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        global _deferred
        _deferred = None  # the signal came during the last iteration: the run is complete, nothing to requeue
        self._restore()

    def _restore(self) -> None:
        if self._signal is not None and signal.getsignal(self._signal) == self._record:
            signal.signal(self._signal, self._submitit_handler)
        self._signal = None

    # ---- the checkpoint ---------------------------------------------------------------------------
    def on_exception(self, trainer: L.Trainer, module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        sig, self._stopped_for = self._stopped_for, None
        self._restore()
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        self.saved = path
        if not trainer.is_global_zero:
            return
        if sig is not None:
            log.warning("preempted (%s) at step %d: checkpoint written to %s; submitit requeues the job, which resumes from it",
                        sig.name, trainer.global_step, path)
        else:
            log.warning("preempted at step %d: checkpoint written to %s; run the same command with resume=auto to continue",
                        trainer.global_step, path)

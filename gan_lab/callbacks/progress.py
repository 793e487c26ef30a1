"""Throughput (images/s) and the loss curves, read only at logging steps (no per-step syncs)."""
from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class TrainingProgress(L.Callback):
    """Logs ``train/images_per_sec`` every ``log_every_n_steps`` iterations, keeps the loss history
    seen at those steps, and writes ``losses.png`` at the end. ``images_per_sec`` counts real
    images through D per second over all ranks; the first logging window is warm-up and is left
    out of the run's average (``summary.json``).
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.history: dict[str, list[tuple[int, float]]] = {"train/d_loss": [], "train/g_loss": []}
        self._window_start: float | None = None
        self._window_step = 0
        self.timed_images = 0
        self.timed_seconds = 0.0

    def on_train_start(self, trainer, module) -> None:
        self._window_start, self._window_step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % trainer.log_every_n_steps != 0 or self._window_start is None:
            return
        now = time.perf_counter()
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        images = (step - self._window_step) * real.shape[0] * trainer.world_size
        seconds = now - self._window_start
        if self._window_step > 0 or step > trainer.log_every_n_steps:  # skip the warm-up window
            self.timed_images += images
            self.timed_seconds += seconds
        module.log("train/images_per_sec", images / max(seconds, 1e-9), on_step=True, on_epoch=False, rank_zero_only=True)
        for key in self.history:
            value = trainer.callback_metrics.get(key)
            if value is not None:
                self.history[key].append((step, float(value)))
        self._window_start, self._window_step = time.perf_counter(), step

    @property
    def images_per_sec(self) -> float | None:
        return self.timed_images / self.timed_seconds if self.timed_seconds > 0 else None

    def on_train_end(self, trainer, module) -> None:
        if not trainer.is_global_zero or not any(self.history.values()):
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        for key, points in self.history.items():
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=key.split("/")[-1])
        ax.set_xlabel("training iteration")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.out_dir / "losses.png")
        plt.close(fig)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: [tuple(p) for p in v] for k, v in state.get("history", self.history).items()}

"""Sample-quality metrics during training: every ``every_n_steps`` iterations and at the end.

Each evaluation generates ``num_samples`` samples in eval mode without gradients (each rank its
share, from a fixed per-rank seed so successive evaluations score the same z), scores them with
``gan_lab.metrics.evaluation.SampleEvaluator``, sends ``metrics/...`` to the loggers and prints
one line. ``summary()`` gives summary.json the last values plus the protocol (extractor, counts).
"""
from __future__ import annotations

import logging
import time

import lightning as L
import torch

from gan_lab.errors import ConfigError
from gan_lab.metrics.evaluation import SampleEvaluator, check_dataset

log = logging.getLogger("gan_lab")


class SampleMetrics(L.Callback):
    def __init__(self, dataset: str, every_n_steps: int = 1000, num_samples: int = 5000, batch_size: int = 500,
                 classifier_seed: int = 0, real_split: str = "train", seed: int = 0, skip_unsupported: bool = False) -> None:
        if int(num_samples) < 1 or int(batch_size) < 1:
            raise ConfigError(f"metrics.num_samples={num_samples} and metrics.batch_size={batch_size} must be positive")
        self.disabled = False
        try:
            check_dataset(dataset)  # fail before training, not after it
        except ConfigError as err:
            if not skip_unsupported:
                raise
            self.disabled = True  # the default metrics config: say so once, train anyway
            log.warning("metrics skipped: %s", err)
        self.dataset, self.every_n_steps, self.num_samples = dataset, int(every_n_steps or 0), int(num_samples)
        self.batch_size, self.classifier_seed, self.real_split, self.seed = int(batch_size), classifier_seed, real_split, seed
        self.evaluator: SampleEvaluator | None = None
        self.last: dict[str, float] = {}
        self.history: list[dict] = []
        self._last_step = -1

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if self.disabled:
            return
        dm = trainer.datamodule
        data = dm.prepare()
        if data.kind == "points" and trainer.world_size > 1 and self.num_samples % trainer.world_size:
            raise ConfigError(f"metrics.num_samples={self.num_samples} must be divisible by the {trainer.world_size} ranks on 2-D data")
        self.evaluator = SampleEvaluator(
            self.dataset, data, self.num_samples, self.batch_size, self.classifier_seed,
            std=dm.options.get("std"), real_split=self.real_split,
        )
        if hasattr(self.evaluator, "classifier"):
            self.evaluator.classifier.to(pl_module.device)

    def _evaluate(self, trainer: L.Trainer, module) -> None:
        step = trainer.global_step
        if step == self._last_step or self.evaluator is None:
            return
        self._last_step = step
        started = time.perf_counter()
        gen = torch.Generator(device=module.device).manual_seed(self.seed + 1_000_003 * trainer.global_rank)

        def generate(n: int) -> torch.Tensor:
            return module.generate(module.generator.sample_z(n, device=module.device, generator=gen))

        values = self.evaluator.evaluate(generate, trainer.global_rank, trainer.world_size, gather=module.all_gather)
        self.last = values
        self.history.append({"step": step, **values})
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(values, step=step)
            text = "  ".join(f"{k.removeprefix('metrics/')}={v:.4g}" for k, v in values.items())
            log.info("step %d metrics (%.1f s): %s", step, time.perf_counter() - started, text)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            self._evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._evaluate(trainer, pl_module)

    def summary(self) -> dict:
        protocol = self.evaluator.protocol if self.evaluator is not None else {}
        return {**self.last, "metrics/protocol": protocol, "metrics/history": self.history}

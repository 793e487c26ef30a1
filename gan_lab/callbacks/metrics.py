"""Sample-quality metrics during training: every ``every_n_steps`` iterations and at the end.

Each evaluation generates ``num_samples`` samples in eval mode without gradients (each rank its
share, from a fixed per-rank seed so successive evaluations score the same z), scores them with
``gan_lab.metrics.evaluation.SampleEvaluator`` (``extractor=classifier``) or
``gan_lab.metrics.inception.InceptionEvaluator`` (``extractor=inception``), sends ``metrics/...``
to the loggers and prints one line. At the end, ``memorization_samples`` samples are checked
against the training set (``gan_lab.metrics.memorization``). ``summary()`` gives summary.json the
last values plus the protocol (extractor, counts).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import torch

from gan_lab.callbacks.images import log_image, save_grid
from gan_lab.errors import ConfigError
from gan_lab.metrics.evaluation import SampleEvaluator, check_dataset
from gan_lab.metrics.memorization import memorization_report

log = logging.getLogger("gan_lab")


class SampleMetrics(L.Callback):
    def __init__(self, dataset: str, every_n_steps: int = 1000, num_samples: int = 5000, batch_size: int = 500,
                 classifier_seed: int = 0, real_split: str = "train", seed: int = 0, skip_unsupported: bool = False,
                 extractor: str = "classifier", inception_weights: str | None = None, num_real: int | None = None,
                 is_splits: int = 10, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 memorization_samples: int = 0, out_dir: str | None = None) -> None:
        if int(num_samples) < 1 or int(batch_size) < 1:
            raise ConfigError(f"metrics.num_samples={num_samples} and metrics.batch_size={batch_size} must be positive")
        if extractor not in ("classifier", "inception"):
            raise ConfigError(f"metrics extractor={extractor!r}: use metrics=classifier or metrics=inception")
        self.extractor = extractor
        self.inception_options = dict(num_real=num_real, is_splits=int(is_splits), kid_subsets=int(kid_subsets),
                                      kid_subset_size=int(kid_subset_size))
        self.memorization_samples, self.out_dir = int(memorization_samples or 0), out_dir
        self.disabled = False
        self._inception = None
        if extractor == "inception":  # missing or wrong weights fail here, before any training
            from gan_lab.metrics.inception import load_extractor, resolve_weights

            weights = resolve_weights(inception_weights)
            self._inception = (weights, load_extractor(weights))
        try:
            if extractor == "classifier":
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
        self.data = data
        if self.extractor == "inception":
            from gan_lab.metrics.inception import InceptionEvaluator

            weights, extractor = self._inception
            self.evaluator = InceptionEvaluator(
                self.dataset, data, self.num_samples, self.batch_size, real_split=self.real_split, seed=self.seed,
                extractor=extractor, weights_path=weights, **self.inception_options,
            ).to(pl_module.device)
            self.evaluator.prepare_real(trainer.global_rank, trainer.world_size, barrier=trainer.strategy.barrier)
            return
        self.evaluator = SampleEvaluator(
            self.dataset, data, self.num_samples, self.batch_size, self.classifier_seed,
            std=data.info.get("std"), real_split=self.real_split,
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
        if self.memorization_samples > 0 and trainer.is_global_zero and self.evaluator is not None:
            self._memorization(trainer, pl_module)

    @torch.no_grad()
    def _memorization(self, trainer: L.Trainer, module) -> None:
        data = self.data
        if data.kind != "image" or data.train_x is None:
            log.info("memorization check skipped: it needs an in-memory image dataset")
            return
        gen = torch.Generator(device=module.device).manual_seed(self.seed + 7)
        z = module.generator.sample_z(self.memorization_samples, device=module.device, generator=gen)
        samples = module.generate(z, batch_size=self.batch_size).cpu()
        values, pairs = memorization_report(samples, data.train_x, data.val_x)
        self.last.update(values)
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
        out_dir = Path(self.out_dir) if self.out_dir else Path(trainer.default_root_dir)
        path = save_grid(pairs, out_dir / "memorization.png", nrow=len(pairs) // 2)
        log_image(trainer, "memorization", path)
        text = "  ".join(f"{k.removeprefix('metrics/')}={v:.4g}" for k, v in values.items())
        log.info("memorization (%d samples vs %d training images; top row: closest samples, bottom: their nearest "
                 "training image, %s): %s", len(samples), len(data.train_x), path, text)

    def summary(self) -> dict:
        protocol = self.evaluator.protocol if self.evaluator is not None else {}
        return {**self.last, "metrics/protocol": protocol, "metrics/history": self.history}

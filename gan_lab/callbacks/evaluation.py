"""Sample-quality metrics during training: every ``every_n_steps`` iterations and at the end.

``metrics`` is the ``metrics=`` group's options object (``gan_lab.metrics.classifier_metrics.ClassifierMetrics``
or ``gan_lab.metrics.inception.InceptionMetrics``, checked before any data is read); once the data
is loaded its ``build`` makes the evaluator. Each evaluation generates the evaluator's samples in
eval mode without gradients (each rank its share, from a fixed per-rank seed so successive
evaluations score the same z), and prints one line. The values go two ways:

* ``pl_module.log`` (every rank holds the same all-reduced values, so no further sync), into
  ``trainer.callback_metrics``: ``ModelCheckpoint(monitor="metrics/clf_fid5k")`` (the
  ``checkpoint.monitor`` option), early stopping and the sweep's ``optimized_metric`` read them there.
  The last evaluation runs in the last training iteration, inside the loop, for the same reason.
* ``logger.log_metrics(values, step)`` on rank 0, at the exact step: Lightning forwards
  ``self.log`` values to the loggers only every ``trainer.log_every_n_steps`` iterations, and an
  evaluation interval need not be a multiple of it. W&B gets each metric's goal once
  (``define_metric(summary="min"|"max")``), so a run's summary holds the best FID, not the last.

An ensemble of seeds (``ensemble.seeds``) is scored member by member (each on the same z):
``metrics/member_I/NAME`` per member, ``metrics/NAME`` their mean and ``metrics/NAME_se`` its standard
error (the standard deviation over members / sqrt(M)); summary.json lists the members.

At the end, ``memorization_samples`` samples are checked against the training set
(``gan_lab.metrics.memorization``). A class-conditional G (``task=conditional``) is scored on balanced classes
(sample i of class i mod K) and the classifier metrics add ``metrics/clf_class_match5k``. ``summary()`` gives summary.json the last values plus the
protocol (extractor, counts).
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from pathlib import Path

import lightning as L
import torch

from gan_lab.callbacks.images import log_image, save_grid
from gan_lab.metrics.memorization import memorization_report
from gan_lab.nets.layers.conditional_batchnorm import ConditionalGenerator
from gan_lab.metrics.goals import goal

log = logging.getLogger("gan_lab")


def members_summary(per_member: list[dict[str, float]]) -> dict[str, float]:
    """Each member's values (``metrics/member_I/NAME``), their mean (``metrics/NAME``) and its standard error
    (``metrics/NAME_se``: the sample standard deviation over the M members / sqrt(M))."""
    values: dict[str, float] = {}
    for key in per_member[0]:
        column = [float(v[key]) for v in per_member]
        values[key], values[f"{key}_se"] = statistics.mean(column), statistics.stdev(column) / math.sqrt(len(column))
    for i, member in enumerate(per_member):
        values.update({f"metrics/member_{i}/{k.removeprefix('metrics/')}": float(v) for k, v in member.items()})
    return values


class EvaluateDuringTraining(L.Callback):
    def __init__(self, metrics, every_n_steps: int = 1000, memorization_samples: int = 0, seed: int = 0,
                 out_dir: str | None = None) -> None:
        self.metrics = metrics
        self.every_n_steps, self.seed = int(every_n_steps or 0), seed
        self.memorization_samples, self.out_dir = int(memorization_samples or 0), out_dir
        if metrics.disabled:
            log.warning("metrics skipped: %s", metrics.disabled)
        self.evaluator = None
        self.data = None
        self.last: dict[str, float] = {}
        self.history: list[dict] = []
        self._last_step = -1
        self._goals_defined: set[str] = set()

    @property
    def disabled(self) -> bool:
        return bool(self.metrics.disabled)

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if self.disabled:
            return
        self.data = trainer.datamodule.prepare()
        self.evaluator = self.metrics.build(self.data, pl_module.device, trainer.global_rank, trainer.world_size,
                                            barrier=trainer.strategy.barrier)

    def _evaluate(self, trainer: L.Trainer, module, in_loop: bool = True) -> None:
        step = trainer.global_step
        if step == self._last_step or self.evaluator is None:
            return
        self._last_step = step
        started = time.perf_counter()
        per_member = []
        classes = self._conditional_classes(module)
        for member in range(module.members) if module.members > 1 else [None]:
            gen = torch.Generator(device=module.device).manual_seed(self.seed + 1_000_003 * trainer.global_rank)

            def generate(n: int, member=member):
                z = module.generator.sample_z(n, device=module.device, generator=gen)
                if classes is None:
                    return module.generate(z, member=member)
                # one chunk, so sample i is of class i mod K (ConditionalGenerator.default_labels): balanced classes
                return module.generate(z, member=member, batch_size=n), classes(n, module.device)

            per_member.append(self.evaluator.evaluate(generate, trainer.global_rank, trainer.world_size, gather=module.all_gather))
        values = per_member[0] if len(per_member) == 1 else members_summary(per_member)
        self.last = values
        self.history.append({"step": step, **values})
        self._publish(trainer, module, values, step, in_loop)
        if trainer.is_global_zero:
            text = "  ".join(f"{k.removeprefix('metrics/')}={v:.4g}" for k, v in values.items())
            floor = getattr(self.evaluator, "real_data_floor", None)
            if floor:  # what real held-out data scores: no G can be expected below it
                text += (f"  (real-data floor: clf_fid {floor['clf_fid']:.4g}, clf_confident {floor['clf_confident']:.4g} "
                         f"for the {floor['images']} held-out images)")
            log.info("step %d metrics (%.1f s): %s", step, time.perf_counter() - started, text)

    def _conditional_classes(self, module):
        """For a class-conditional G (``task=conditional``) and an evaluator that scores classes
        (``metrics/clf_class_match``): ``classes(n, device)``, the classes of ``n`` samples drawn without
        labels; else None."""
        conditional = isinstance(module.generator, ConditionalGenerator)
        return module.generator.default_labels if conditional and getattr(self.evaluator, "scores_classes", False) else None

    def _publish(self, trainer: L.Trainer, module, values: dict[str, float], step: int, in_loop: bool) -> None:
        if in_loop:  # same values on every rank (all-reduced by the evaluator): logged on all, no sync
            module.log_dict(values, on_step=True, on_epoch=False, logger=False, batch_size=1)
        else:  # after the loop (a run stopped early) Lightning refuses self.log: set what it would have
            trainer.callback_metrics.update({k: torch.tensor(float(v)) for k, v in values.items()})
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                for key in values.keys() - self._goals_defined:  # the run summary keeps the best value
                    if goal(key):
                        logger.experiment.define_metric(key, summary=goal(key))
            logger.log_metrics(values, step=step)
        self._goals_defined |= values.keys()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        periodic = self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0
        if periodic or step == trainer.max_steps:  # the last one in the loop too (best-checkpoint monitor)
            self._evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._evaluate(trainer, pl_module, in_loop=False)  # a run that stopped before max_steps
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
        samples = module.generate(z, batch_size=self.metrics.batch_size).cpu()
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

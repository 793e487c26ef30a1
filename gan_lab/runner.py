"""The run builder: everything of one training run from a composed config, then ``Trainer.fit``.

``run(cfg)`` returns the run's summary (also written to ``summary.json``). Order: config checks ->
run folder -> what to resume from -> objective, tricks, G and D (``gan_lab.build``: config errors
before any data is read) -> data -> training module -> callbacks -> loggers -> Trainer.
Only the command-line apps (``gan_lab.cli``) import this module.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shutil

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from gan_lab.build import build_module, build_players
from gan_lab.callbacks import SampleGrid, TrainingProgress
from gan_lab.callbacks.consistency import RankConsistency
from gan_lab.callbacks.preemption import PreemptionCheckpoint
from gan_lab.checkpoints import AtomicCheckpointIO, resolve_ckpt_path
from gan_lab.checks import check_config
from gan_lab.data import GANDataModule
from gan_lab.errors import ConfigError
from gan_lab.instantiate import instantiate
from gan_lab.loggers import finish_wandb
from gan_lab.module import GAN

log = logging.getLogger("gan_lab")


def run_dir_of(cfg: DictConfig) -> Path:
    """The run's output folder: Hydra's output dir, or ``cfg.run_dir`` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise ConfigError("run_dir is not set: pass run_dir=/path/to/folder when running outside the Hydra CLI")


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    from lightning.pytorch.callbacks import ModelCheckpoint

    callbacks: list[L.Callback] = [TrainingProgress(run_dir), PreemptionCheckpoint(run_dir / "checkpoints")]
    if expected_world_size(cfg) > 1:
        callbacks.append(RankConsistency(run_dir))
    if cfg.samples.every_n_steps is not None:
        callbacks.append(SampleGrid(run_dir / "samples", every_n_steps=cfg.samples.every_n_steps, gif=cfg.samples.gif))
    if cfg.checkpoint.every_n_steps:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="step_{step:07d}",
                auto_insert_metric_name=False,
                every_n_train_steps=cfg.checkpoint.every_n_steps,
                save_top_k=-1 if cfg.checkpoint.keep_all else 1,
                save_last=True,
                save_on_train_epoch_end=False,
                enable_version_counter=False,  # last.ckpt is always the latest, also after a preemption save
            )
        )
    if cfg.metrics.get("callback"):  # the metrics group's evaluation callback (IS / FID / KID / classifier)
        callbacks.append(instantiate(cfg.metrics.callback))
    for spec in (cfg.get("callbacks") or {}).values():
        if spec is not None:
            callbacks.append(instantiate(spec))
    return callbacks


def expected_world_size(cfg: DictConfig) -> int:
    devices = cfg.trainer.get("devices", 1)
    per_node = len(devices) if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices) else devices
    if not isinstance(per_node, int) or per_node < 1:
        per_node = max(torch.cuda.device_count(), 1)
    return per_node * int(cfg.trainer.get("num_nodes", 1))


@dataclass
class Run:
    """Everything one training run is made of, built but not yet trained."""

    cfg: DictConfig
    run_dir: Path
    datamodule: GANDataModule
    module: GAN
    callbacks: list
    trainer: L.Trainer
    ckpt_path: str | None


def build_run(cfg: DictConfig) -> Run:
    """Check the config and build data, nets, module, callbacks, loggers and Trainer."""
    check_config(cfg)
    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)  # ${run_dir} in the logger and metrics configs
    ckpt_path = resolve_ckpt_path(cfg, run_dir)  # a damaged checkpoint fails here, before any work
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    players = build_players(cfg)

    datamodule: GANDataModule = instantiate(cfg.data)
    data = datamodule.prepare(world_size=expected_world_size(cfg))
    module = build_module(cfg, players, data, run_dir)

    if ckpt_path:  # a resumed run continues its W&B run (the id is kept in the run folder)
        previous_id = Path(ckpt_path).resolve().parent.parent / "wandb_id"
        if previous_id.is_file() and previous_id.resolve() != (run_dir / "wandb_id").resolve():
            shutil.copyfile(previous_id, run_dir / "wandb_id")
    callbacks = build_callbacks(cfg, run_dir)
    loggers = [instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec]
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        enable_checkpointing=bool(cfg.checkpoint.every_n_steps),  # 0: no periodic checkpoints
        plugins=[AtomicCheckpointIO()],
    )
    return Run(cfg, run_dir, datamodule, module, callbacks, trainer, ckpt_path)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train one GAN as configured; write ``summary.json`` in the run folder and return it."""
    try:
        built = build_run(cfg)
        started = time.perf_counter()
        built.trainer.fit(built.module, datamodule=built.datamodule, ckpt_path=built.ckpt_path)
        return summarize(cfg, built.module, built.trainer, built.callbacks, built.run_dir, time.perf_counter() - started)
    finally:
        finish_wandb()


def summarize(cfg: DictConfig, module: GAN, trainer: L.Trainer, callbacks: list, run_dir: Path, seconds: float) -> dict[str, Any]:
    progress = next(cb for cb in callbacks if isinstance(cb, TrainingProgress))
    final = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    ckpt = trainer.checkpoint_callback
    summary = {
        "steps": trainer.global_step,
        "images_per_sec": progress.images_per_sec,
        "wall_seconds": seconds,
        "final": {k: v for k, v in final.items() if k.startswith("train/")},
        "metrics": {k: v for k, v in final.items() if k.startswith("metrics/")},
        "last_checkpoint": ckpt.last_model_path if ckpt is not None else None,
        "run_dir": str(run_dir),
        "model": cfg.model.name,
        "loss": module.objective.loss.name,
        "task": module.objective.task,
        "data": cfg.data.name,
        "tricks": sorted((cfg.get("tricks") or {}).keys()),
        "seed": cfg.seed,
    }
    for callback in callbacks:  # callbacks may contribute (e.g. metrics with their protocol and sample count)
        if hasattr(callback, "summary"):
            summary["metrics"].update(callback.summary())
    if trainer.is_global_zero:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        log.info("finished %d steps in %.0f s; run folder %s", summary["steps"], seconds, run_dir)
    return summary

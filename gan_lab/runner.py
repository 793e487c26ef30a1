"""Build everything from a composed config and train: ``run(cfg)`` returns the run's summary.

seed -> datamodule -> nets -> loss -> tricks -> GAN module -> callbacks -> loggers -> Trainer.fit
"""
from __future__ import annotations

import inspect
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from gan_lab.instantiate import instantiate
from omegaconf import DictConfig, OmegaConf

from gan_lab.callbacks import SampleGrid, TrainingProgress
from gan_lab.callbacks.consistency import RankConsistency
from gan_lab.checkpointing import AtomicCheckpointIO, resolve_ckpt_path
from gan_lab.checks import check_config
from gan_lab.data import GANDataModule
from gan_lab.errors import ConfigError
from gan_lab.loggers import build_loggers, finish_wandb
from gan_lab.module import GAN
from gan_lab.preemption import PreemptionCheckpoint

log = logging.getLogger("gan_lab")


def run_dir_of(cfg: DictConfig) -> Path:
    """The run's output folder: Hydra's output dir, or ``cfg.run_dir`` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise ConfigError("run_dir is not set: pass run_dir=/path/to/folder when running outside the Hydra CLI")


def _accepts(target: str, name: str) -> bool:
    from hydra.utils import get_class

    return name in inspect.signature(get_class(target).__init__).parameters


def build_nets(cfg: DictConfig, data_kind: str, example_shape: tuple[int, ...]):
    """Instantiate G and D, filling in what depends on the data and the loss."""
    g_kwargs: dict[str, Any] = {}
    d_kwargs: dict[str, Any] = {}
    if _accepts(cfg.model.generator._target_, "example_shape"):
        g_kwargs["example_shape"] = list(example_shape)
        d_kwargs["example_shape"] = list(example_shape)
    if cfg.model.generator.get("output") == "auto":
        g_kwargs["output"] = "tanh" if data_kind == "image" else "linear"
    norm = cfg.model.discriminator.get("norm")
    if norm == "auto":  # WGAN-GP §4: no BatchNorm in the critic; layer norm instead
        d_kwargs["norm"] = "layer" if cfg.loss.name == "wgan_gp" else "batch"
    elif norm == "batch" and cfg.loss.name == "wgan_gp":
        raise ConfigError(
            "loss=wgan_gp with model.discriminator.norm=batch: the gradient penalty is per example and BatchNorm "
            "mixes examples (Gulrajani et al. 2017 §4); set model.discriminator.norm=layer (or none, or auto)"
        )
    if cfg.get("task", "unconditional") != "unconditional" and "out_dim" in cfg.model.discriminator:
        d_kwargs["out_dim"] = cfg.data.get("num_classes", 10)
    generator = instantiate(cfg.model.generator, **g_kwargs)
    discriminator = instantiate(cfg.model.discriminator, **d_kwargs)
    return generator, discriminator


def build_module(cfg: DictConfig, datamodule: GANDataModule) -> GAN:
    if cfg.get("task", "unconditional") != "unconditional":  # semi_supervised | supervised (Improved-GAN §5)
        from gan_lab.semi_supervised.build import build_semi_supervised_module

        return build_semi_supervised_module(cfg, datamodule)
    data = datamodule.prepare()
    example_shape = (
        (int(cfg.data.channels), int(cfg.data.image_size), int(cfg.data.image_size)) if data.kind == "image" else (2,)
    )
    generator, discriminator = build_nets(cfg, data.kind, example_shape)
    tricks = []
    for name, spec in sorted((cfg.get("tricks") or {}).items()):
        if "_target_" not in spec:
            raise ConfigError(f"tricks.{name} is set but the trick is not selected: add it with 'trick=[...,{name}]'")
        tricks.append(instantiate(spec))
    checks = [cfg.checkpoint.every_n_steps, cfg.trainer.log_every_n_steps]
    finite_every = math.gcd(*[int(n) for n in checks if n and n > 0]) if any(checks) else 50
    return GAN(
        generator=generator,
        discriminator=discriminator,
        loss=instantiate(cfg.loss.objective),
        g_optimizer=instantiate(cfg.optim.g),
        d_optimizer=instantiate(cfg.optim.d),
        g_scheduler=instantiate(cfg.optim.g_scheduler) if cfg.optim.get("g_scheduler") else None,
        d_scheduler=instantiate(cfg.optim.d_scheduler) if cfg.optim.get("d_scheduler") else None,
        tricks=tricks,
        d_steps_per_g_step=cfg.optim.d_steps_per_g_step,
        num_fixed_samples=cfg.samples.num_images,
        fixed_z_seed=cfg.seed,
        finite_check_every_n_steps=finite_every,
        config=OmegaConf.to_container(cfg, resolve=True),
    )


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
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule: GANDataModule = instantiate(cfg.data, _recursive_=False)
    datamodule.prepare(world_size=expected_world_size(cfg))
    module = build_module(cfg, datamodule)

    ckpt_path = resolve_ckpt_path(cfg, run_dir)
    resume_dir = Path(ckpt_path).resolve().parent.parent if ckpt_path else None
    callbacks = build_callbacks(cfg, run_dir)
    loggers = build_loggers(cfg.logger, run_dir, resume_run_dir=resume_dir)
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
        return summarize(cfg, built.trainer, built.callbacks, built.run_dir, time.perf_counter() - started)
    finally:
        finish_wandb()


def summarize(cfg: DictConfig, trainer: L.Trainer, callbacks: list, run_dir: Path, seconds: float) -> dict[str, Any]:
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
        "loss": cfg.loss.name,
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

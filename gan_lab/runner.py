"""The run builder: everything of one training run from a composed config, then ``Trainer.fit``.

``run(cfg)`` returns the run's summary (also written to ``summary.json``). Order: config checks ->
run folder -> what to resume from -> objective, tricks, G and D (``gan_lab.build``: config errors
before any data is read) -> data -> training module -> callbacks -> loggers -> Trainer.
Only the command-line apps (``gan_lab.cli``) import this module.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shutil

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from gan_lab.build import build_ensemble, build_module, build_players, ensemble_seeds
from gan_lab.callbacks import TrainingProgress
from gan_lab.checkpoints import AtomicCheckpointIO, resolve_ckpt_path
from gan_lab.checks import check_config
from gan_lab.data import GANDataModule
from gan_lab.errors import ConfigError
from gan_lab.instantiate import instantiate
from gan_lab.loggers import finish_wandb
from gan_lab.module import GAN

log = logging.getLogger("gan_lab")


def skip_nvml_probe_without_driver() -> None:
    """Drop Lightning's ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` on a machine without an NVIDIA driver.

    ``import lightning`` sets it (lightning/fabric/__init__.py) so that asking whether CUDA is available
    does not initialise CUDA before a fork. With it, ``torch.cuda.is_available()`` tries to load NVML on
    every call and, where the library is missing, does not cache the answer; torch.optim's optimizers
    ask at every ``step()`` (``Optimizer._accelerator_graph_capture_health_check``). Measured here
    (2026-11-27, torch 2.14.1+cu130, no GPU): Adam.step on a 10-element tensor 55 µs without the
    variable, 175-210 µs with it, i.e. ~0.25 ms per training iteration (two optimizer steps), ~1 % of a
    default-run iteration. Without a driver no CUDA state exists to be forked, so CUDA's own check
    (``cudaGetDeviceCount``: 0) is as safe; with a driver the variable is left alone.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") != "1" or not torch.backends.cuda.is_built():
        return
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


def run_dir_of(cfg: DictConfig) -> Path:
    """The run's output folder: Hydra's output dir, or ``cfg.run_dir`` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise ConfigError("run_dir is not set: pass run_dir=/path/to/folder when running outside the Hydra CLI")


def _task_overrides() -> tuple[list[str], set[str] | None]:
    """This job's overrides (without hydra / resume keys), and in a multirun the keys the sweep varies
    (a comma list, a sweep function, or ``hydra.sweeper.params`` of a preset), read from the sweep's
    ``multirun.yaml``; None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return [], None
    hydra_cfg = HydraConfig.get()
    ignored = ("hydra.", "hydra/", "resume=", "ckpt_path=", "run_dir=", "name=")
    overrides = sorted(o for o in hydra_cfg.overrides.task if not o.lstrip("+~").startswith(ignored))
    sweep_file = Path(hydra_cfg.sweep.dir) / "multirun.yaml"
    if hydra_cfg.mode != RunMode.MULTIRUN or not sweep_file.is_file():
        return overrides, None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweep = OmegaConf.load(sweep_file).hydra
    parsed = OverridesParser.create().parse_overrides(list(sweep.overrides.task))
    varying = {o.key_or_group for o in parsed if o.is_sweep_override()} | set((sweep.sweeper.get("params") or {}).keys())
    return overrides, varying


def run_labels(cfg: DictConfig) -> tuple[str, str]:
    """(run name, run group) for the loggers. The run is named after its overrides (in a multirun, the
    ones the sweep varies); the group is those overrides without the seed, i.e. the setting, so the
    seeds of one setting form one group in W&B and the rows of an ablation do not, whatever ``name``
    a preset or the command line sets (``name`` is the W&B job type and a tag: conf/logger/wandb.yaml).
    Only where nothing but the seed varies (``-m seed=1,2,3 name=baseline``) is the group ``name``."""
    overrides, varying = _task_overrides()
    if varying is not None:
        overrides = [o for o in overrides if o.lstrip("+~").split("=")[0] in varying]
    name = str(cfg.get("name") or "quickstart")  # the recipe: conf/train.yaml's defaults list, or a preset
    run_name = " ".join(overrides)[:128] or name
    setting = " ".join(o for o in overrides if o.lstrip("+~").split("=")[0] != "seed")[:128]
    return run_name, setting or name


def hyperparameters(cfg: DictConfig, module: GAN) -> dict[str, Any]:
    """The resolved config, and under ``run`` the settings a dashboard groups by (model, loss, task,
    tricks, data, seed, learning rates, k)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config["run"] = {
        "model": cfg.model.name, "loss": module.objective.loss.name, "task": module.objective.task,
        "tricks": ",".join(t.name for t in module.tricks) or "none", "data": cfg.data.name, "seed": cfg.seed,
        "g_lr": cfg.optim.g.get("lr"), "d_lr": cfg.optim.d.get("lr"), "d_steps_per_g_step": cfg.optim.d_steps_per_g_step,
        "batch_size": cfg.data.batch_size,
    }
    return config


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The callbacks group's callbacks (``conf/callbacks/*.yaml``; ``callbacks.NAME=null`` turns one off, and
    a factory returns None where the config turns its callback off), and the metrics group's evaluation;
    the progress bar last, since it shows what the others computed (throughput, metrics)."""
    specs = []
    for name, spec in (cfg.get("callbacks") or {}).items():
        if spec is not None and not (OmegaConf.is_dict(spec) and "_target_" in spec):
            raise ConfigError(f"callbacks.{name}={spec}: a callback is a class and its options, e.g. "
                              f"'+callbacks.{name}={{_target_: lightning.pytorch.callbacks.LearningRateMonitor}}'; "
                              f"callbacks.{name}=null turns one off")
        specs.append(spec)
    if cfg.metrics.get("callback"):  # the metrics group's evaluation callback (IS / FID / KID / classifier)
        specs.append(cfg.metrics.callback)
    callbacks = [cb for cb in (instantiate(spec) for spec in specs if spec is not None) if cb is not None]
    return sorted(callbacks, key=lambda cb: isinstance(cb, ProgressBar))  # stable: the others keep their order


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
    skip_nvml_probe_without_driver()
    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)  # ${run_dir} in the logger and metrics configs
        cfg.run_name, cfg.run_group = run_labels(cfg)  # ${run_name} / ${run_group} in the W&B config
    ckpt_path = resolve_ckpt_path(cfg, run_dir)  # a damaged checkpoint fails here, before any work
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    players = build_players(cfg)  # config errors before any data is read (an ensemble's member 0 too)
    seeds = ensemble_seeds(cfg)
    if len(seeds) > 1:  # what an ensemble cannot batch, refused before any data is read
        players.objective.check_ensemble()

    datamodule: GANDataModule = instantiate(cfg.data)
    datamodule.serve_labels = players.objective.needs_labels  # (images, labels) batches for task=conditional
    data = datamodule.prepare(world_size=expected_world_size(cfg))
    if len(seeds) > 1:  # an ensemble of seeds: every member built as its single run would be, then stacked
        datamodule.member_seeds = seeds
        module = build_module(cfg, build_ensemble(cfg, seeds, data, run_dir), data, run_dir, initialised=True)
    else:
        module = build_module(cfg, players, data, run_dir)

    if ckpt_path:  # a resumed run continues its W&B run (the id is kept in the run folder)
        previous_id = Path(ckpt_path).resolve().parent.parent / "wandb_id"
        if previous_id.is_file() and previous_id.resolve() != (run_dir / "wandb_id").resolve():
            shutil.copyfile(previous_id, run_dir / "wandb_id")
    callbacks = build_callbacks(cfg)
    loggers = [instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec]
    params = hyperparameters(cfg, module)
    for logger in loggers:  # the composed config, so dashboards filter and group runs by any setting
        logger.log_hyperparams(params)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        enable_checkpointing=any(isinstance(cb, ModelCheckpoint) for cb in callbacks),  # periodic and/or best.ckpt
        # callbacks.progress_bar=null: no bar at all, not Lightning's default one (whose refresh thread takes a core's ~3%)
        enable_progress_bar=any(isinstance(cb, ProgressBar) for cb in callbacks),
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
    progress = next((cb for cb in callbacks if isinstance(cb, TrainingProgress)), None)  # callbacks.training_progress
    final = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    ckpt = trainer.checkpoint_callback
    augment = getattr(module.discriminator, "augment", None)  # what the run applied, as ema below (not the config re-read)
    summary = {
        "steps": trainer.global_step,
        "images_per_sec": progress.images_per_sec if progress is not None else None,
        "wall_seconds": seconds,
        "final": {k: v for k, v in final.items() if k.startswith("train/")},
        "metrics": {k: v for k, v in final.items() if k.startswith("metrics/")},
        "last_checkpoint": ckpt.last_model_path if ckpt is not None else None,
        "best_checkpoint": next((cb.best_model_path for cb in callbacks if getattr(cb, "monitor", None)), None),
        "run_dir": str(run_dir),
        "model": cfg.model.name,
        "loss": module.objective.loss.name,
        "task": module.objective.task,
        "data": cfg.data.name,
        "tricks": sorted((cfg.get("tricks") or {}).keys()),
        "seed": cfg.seed,
        "tags": list(cfg.get("tags") or []),  # tags= (also the W&B run's tags)
        "ema": module.ema.settings() if module.ema is not None else None,  # the averaged G's settings (ema=)
        "augment": augment.policy if augment is not None else None,  # the DiffAugment policy D's inputs got (augment=)
    }
    for callback in callbacks:  # callbacks may contribute (e.g. metrics with their protocol and sample count)
        if hasattr(callback, "summary"):
            summary["metrics"].update(callback.summary())
    if module.members > 1:  # an ensemble of seeds: each member's final metrics; "metrics" holds their mean ± s.e.
        seeds = ensemble_seeds(cfg)
        summary["seeds"] = seeds
        summary["members"] = [{"member": i, "seed": seed, "metrics": {
            "metrics/" + k.removeprefix(f"metrics/member_{i}/"): v for k, v in summary["metrics"].items()
            if k.startswith(f"metrics/member_{i}/")}} for i, seed in enumerate(seeds)]
        summary["metrics"] = {k: v for k, v in summary["metrics"].items() if not k.startswith("metrics/member_")}
    if trainer.is_global_zero:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        log.info("finished %d steps in %.0f s; run folder %s", summary["steps"], seconds, run_dir)
    return summary

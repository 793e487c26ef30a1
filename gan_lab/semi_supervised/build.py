"""Build the semi-supervised (``task=semi_supervised``) or supervised-baseline (``task=supervised``)
module from a composed config: labelled subset, nets (K-logit D), data-dependent init, module.

Options: ``data.labels_per_class`` (10: the paper's 100 MNIST labels; null: every training label,
only for ``task=supervised``), ``data.labelled_seed`` (null: ``seed``),
``semi_supervised.unlabelled_weight`` (w, 1.0) and ``semi_supervised.ema_decay`` (0.999; null
evaluates D itself). :func:`check_task_config` runs before any data is loaded.
"""
from __future__ import annotations

import math

import torch
from omegaconf import DictConfig, OmegaConf

from gan_lab.errors import ConfigError
from gan_lab.instantiate import instantiate
from gan_lab.semi_supervised.labelled import balanced_subset, save_subset
from gan_lab.semi_supervised.module import MODES, SemiSupervisedGAN

INIT_BATCH = 500  # examples for the data-dependent init (the original's trainx[:500])
LABELLED_DATA = "data=mnist5k, mnist, digits, fashion_mnist, svhn or cifar10"


def check_task_config(cfg: DictConfig) -> None:
    """Fail fast on ``task=semi_supervised|supervised`` without labels to learn from."""
    task = cfg.get("task", "unconditional")
    if task == "unconditional":
        return
    if task not in MODES:
        raise ConfigError(f"task={task}: use task=unconditional, task=semi_supervised or task=supervised")
    if cfg.data.get("kind") != "image" or "labels_per_class" not in cfg.data:
        raise ConfigError(f"task={task}: data={cfg.data.name} has no class labels to learn from: use {LABELLED_DATA}")
    if task == "semi_supervised" and cfg.data.labels_per_class is None:
        raise ConfigError(
            f"task=semi_supervised needs data.labels_per_class (null means every label is used, which is not "
            f"semi-supervised): set e.g. data.labels_per_class=10"
        )


def build_semi_supervised_module(cfg: DictConfig, datamodule) -> SemiSupervisedGAN:
    from gan_lab.train import build_nets, run_dir_of

    task = cfg.task  # checked by gan_lab.checks.check_config (check_task_config) before any data is loaded
    data = datamodule.prepare()
    if data.train_y is None or data.val_y is None:
        raise ConfigError(f"task={task}: data={cfg.data.name} has no class labels with a test split: use {LABELLED_DATA}")
    other_tricks = sorted(set((cfg.get("tricks") or {}).keys()) - {"feature_matching"})
    if other_tricks:
        raise ConfigError(f"task={task} does not combine with trick={other_tricks} (G already uses feature matching): drop the trick= option")
    if "out_dim" not in cfg.model.discriminator:
        raise ConfigError(f"task={task} needs a K-class discriminator: use model=ssgan_mnist (or a model whose discriminator has out_dim)")
    options = cfg.get("semi_supervised") or {}
    labels_per_class = cfg.data.get("labels_per_class")
    seed = cfg.data.get("labelled_seed")
    seed = cfg.seed if seed is None else seed
    num_classes = data.num_classes or int(data.train_y.max()) + 1
    if labels_per_class is None:  # task=supervised on every label
        index = torch.arange(len(data.train_y))
    else:
        index = balanced_subset(data.train_y, labels_per_class, seed, num_classes)
    save_subset(run_dir_of(cfg) / "labelled_subset.json", index, data.train_y, seed)

    example_shape = (int(cfg.data.channels), int(cfg.data.image_size), int(cfg.data.image_size)) if data.kind == "image" else (2,)
    generator, discriminator = build_nets(cfg, data.kind, example_shape)
    if hasattr(discriminator, "init_from_data"):  # weight norm's data-dependent init (checkpoints override it)
        discriminator.init_from_data(data.train_x[:INIT_BATCH])
    checks = [cfg.checkpoint.every_n_steps, cfg.trainer.log_every_n_steps]
    return SemiSupervisedGAN(
        generator=generator,
        discriminator=discriminator,
        loss=instantiate(cfg.loss.objective),  # unused: the losses are semi_supervised.losses
        g_optimizer=instantiate(cfg.optim.g),
        d_optimizer=instantiate(cfg.optim.d),
        g_scheduler=instantiate(cfg.optim.g_scheduler) if cfg.optim.get("g_scheduler") else None,
        d_scheduler=instantiate(cfg.optim.d_scheduler) if cfg.optim.get("d_scheduler") else None,
        d_steps_per_g_step=cfg.optim.d_steps_per_g_step,
        num_fixed_samples=cfg.samples.num_images,
        fixed_z_seed=cfg.seed,
        finite_check_every_n_steps=math.gcd(*[int(n) for n in checks if n and n > 0]) if any(checks) else 50,
        config=OmegaConf.to_container(cfg, resolve=True),
        labelled_x=data.train_x[index].clone(),
        labelled_y=data.train_y[index].clone(),
        test_x=data.val_x,
        test_y=data.val_y,
        mode=task,
        unlabelled_weight=options.get("unlabelled_weight", 1.0),
        ema_decay=options.get("ema_decay", 0.999),
    )

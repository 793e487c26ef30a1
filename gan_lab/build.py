"""The one way gan-lab assembles its parts from a composed config: the objective of the task, the
tricks, G and D *with* every architecture change a trick or the task makes, and the training module.

Training (``gan_lab.runner``), ``gan_lab.sample``, ``gan_lab.evaluate`` and checkpoint loading
(``gan_lab.checkpoints``) all call :func:`build_players`, so a checkpoint always rebuilds the nets
it was trained with: the config travels in the checkpoint.

Order: the objective and the tricks first (pure objects: impossible combinations fail before any
net or data exists), then G and D from ``model=`` with the objective's number of D outputs and the
loss's D constraints, then each trick's transforms, then the D stabilisers that act on the whole D:
spectral normalisation of its layers (``model.discriminator.spectral_norm``) and the augmentation of
its inputs (``augment=``), last, so a wrapping trick (a packed D) is augmented per example.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from gan_lab.data.datasets import Prepared
from gan_lab.data.spec import DataSpec
from gan_lab.errors import ConfigError, is_whole_number
from gan_lab.instantiate import instantiate
from gan_lab.module import GAN
from gan_lab.optim import optimizer_factory
from gan_lab.nets.ensemble import Ensemble
from gan_lab.nets.layers.pair_sums_cpu import cpp_compiler
from gan_lab.nets.layers.spectral_norm import spectral_normalise
from gan_lab.objectives import Objective
from gan_lab.tricks import Trick

#: real examples D's data-dependent init sees (the original Improved-GAN code's ``trainx[:500]``)
INIT_EXAMPLES = 500


@dataclass
class Players:
    """G, D and what trains them, built but not yet initialised from data."""

    objective: Objective
    tricks: list[Trick]
    generator: nn.Module
    discriminator: nn.Module


def build_objective(cfg: DictConfig) -> Objective:
    """The ``task=`` group's objective around the ``loss=`` group's loss."""
    return instantiate(cfg.task, loss=instantiate(cfg.loss))


def build_tricks(cfg: DictConfig, objective: Objective) -> list[Trick]:
    tricks = []
    for name, spec in sorted((cfg.get("tricks") or {}).items()):
        if "_target_" not in spec:
            raise ConfigError(f"tricks.{name} is set but the trick is not selected: add it with 'trick=[...,{name}]'")
        tricks.append(instantiate(spec))
    objective.check_tricks(tricks)
    for trick in tricks:
        trick.check(objective.loss)
    objective.use_tricks(tricks)
    return tricks


def _mixes_examples(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def build_nets(cfg: DictConfig, objective: Objective, tricks: list[Trick]) -> tuple[nn.Module, nn.Module]:
    """G and D of ``model=``, shaped for the data and the objective, transformed by the tricks."""
    spec = DataSpec.of(cfg.data)
    if cfg.model.get("kind") == "image" and spec.kind == "points":
        raise ConfigError(f"model={cfg.model.name} makes images and data={spec.name} is 2-D points: use model=gan_mlp for 2-D data")
    objective.check_data(spec)
    augment = _augment(cfg, spec)
    # spectral_norm is a transform of the builder, not an option of D's class: D's node without it (rooted
    # at model.discriminator, so an error names the full key)
    d_node = OmegaConf.to_container(cfg.model.discriminator, resolve=True)
    spectral = d_node.pop("spectral_norm", False)
    if not isinstance(spectral, bool):
        raise ConfigError(f"model.discriminator.spectral_norm={spectral}: use true or false")
    d_spec = OmegaConf.create({"model": {"discriminator": d_node}}).model.discriminator
    d_options: dict[str, Any] = {"out_dim": objective.discriminator_outputs(spec)}
    if d_spec.get("norm") == "auto":  # no BatchNorm under a per-example penalty (WGAN-GP §4), none under SN (SN-GAN §4)
        d_options["norm"] = "none" if spectral else "layer" if objective.loss.per_example_penalty else "batch"
    generator = instantiate(cfg.model.generator)
    discriminator = instantiate(d_spec, **d_options)
    generator = objective.transform_generator(generator)  # the task's changes (task=conditional), then the tricks'
    discriminator = objective.transform_discriminator(discriminator)
    for trick in tricks:
        generator = trick.transform_generator(generator)
        discriminator = trick.transform_discriminator(discriminator)
    if spectral:
        discriminator = spectral_normalise(discriminator)
    if augment is not None:
        discriminator.set_augment(augment)
    loss = objective.loss
    if loss.per_example_penalty and any(_mixes_examples(m) for m in discriminator.modules()):  # WGAN-GP, R1
        raise ConfigError(
            f"{loss.penalty_name} with BatchNorm in D: the penalty is per example and BatchNorm mixes examples; "
            f"set model.discriminator.norm=layer (or none, or auto), or {loss.penalty_off}"
        )
    return generator, discriminator


def _augment(cfg: DictConfig, spec: DataSpec) -> nn.Module | None:
    """The ``augment=`` group's transform of D's inputs (DiffAugment), or None (``augment=none``, or a
    config from before the group existed)."""
    node = cfg.get("augment")
    if not node:
        return None
    if "_target_" not in node:
        raise ConfigError(f"augment.{next(iter(node))} is set but no augmentation is selected: add augment=diffaugment")
    if spec.kind != "image":
        raise ConfigError(f"augment=diffaugment transforms images and data={spec.name} is 2-D points: use augment=none for 2-D data")
    return instantiate(node)


def build_players(cfg: DictConfig) -> Players:
    """Objective, tricks, G and D from a composed config (training, sampling and evaluation alike)."""
    objective = build_objective(cfg)
    tricks = build_tricks(cfg, objective)
    generator, discriminator = build_nets(cfg, objective, tricks)
    return Players(objective, tricks, generator, discriminator)


def ensemble_seeds(cfg: DictConfig) -> list[int]:
    """The seeds of ``ensemble.seeds``: M -> seed, seed + 1, ..., seed + M - 1; a list -> those; [seed] for a single run."""
    value = (cfg.get("ensemble") or {}).get("seeds", 1)
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        seeds = list(value)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) < len(seeds):
            raise ConfigError(f"ensemble.seeds={seeds}: give distinct integer seeds, e.g. 'ensemble.seeds=[0,1,2]', or a count (ensemble.seeds=5)")
        return seeds
    if not is_whole_number(value):
        raise ConfigError(f"ensemble.seeds={value}: the number of seeds trained together must be a positive integer (e.g. ensemble.seeds=5)")
    return [int(cfg.seed) + i for i in range(value)]


def initialise(players: Players, data: Prepared, seed: int, run_dir: Path | None) -> Players:
    """The players initialised from ``data``: the objective's labelled subset and test split, D's data-dependent init."""
    players.objective.bind(data, seed, run_dir)
    players.discriminator.init_from_data(data.first_examples(INIT_EXAMPLES))
    players.objective.attach(players.discriminator)
    return players


def build_ensemble(cfg: DictConfig, seeds: list[int], data: Prepared, run_dir: Path | None) -> Players:
    """The players of an ensemble of seeds: member m built and initialised as a single run of seed m is
    (its config with ``seed=seed_m``, ``torch.manual_seed(seed_m)``, the one build path), then G's and D's
    stacked (``Ensemble``)."""
    members = []
    for seed in seeds:
        member_cfg = cfg.copy()
        member_cfg.seed = seed  # ${seed} in the groups (the VBN reference batch's seed) follows
        L.seed_everything(seed, workers=True, verbose=False)
        members.append(initialise(build_players(member_cfg), data, seed, run_dir))
    objective = members[0].objective  # its check_ensemble() ran in the run builder, before any data was read
    objective.latent_seeds = list(seeds)
    generator = Ensemble([p.generator for p in members])
    discriminator = Ensemble([p.discriminator for p in members])
    return Players(objective, members[0].tricks, generator, discriminator)


def build_module(cfg: DictConfig, players: Players, data: Prepared, run_dir: Path | None, initialised: bool = False) -> GAN:
    """The training module: the players initialised from ``data`` (D's data-dependent init, the
    objective's labelled subset and test split; already done for an ensemble), the optimizers and schedules of ``optim=``."""
    if not initialised:
        initialise(players, data, int(cfg.seed), run_dir)
    optim = cfg.optim
    ema = instantiate(cfg.ema) if cfg.get("ema") else None  # an average of G (conf/ema/*.yaml)
    seeds = players.objective.latent_seeds
    if ema is not None and len(seeds) > 1:  # each member's statistics from the z its single run would use
        ema.member_seeds = [ema.seed + s - seeds[0] for s in seeds]
    return GAN(
        generator=players.generator,
        discriminator=players.discriminator,
        objective=players.objective,
        g_optimizer=optimizer_factory(optim.g, "optim.g"),
        d_optimizer=optimizer_factory(optim.d, "optim.d"),
        g_scheduler=instantiate(optim.g_scheduler) if optim.get("g_scheduler") else None,
        d_scheduler=instantiate(optim.d_scheduler) if optim.get("d_scheduler") else None,
        d_steps_per_g_step=optim.d_steps_per_g_step,
        num_fixed_samples=cfg.samples.num_images,
        fixed_z_seed=cfg.seed,
        ema=ema,
        compile_nets=_compile_switch(cfg, players),  # speed options, applied by GAN.configure_model
        channels_last=_switch(cfg.model, "channels_last"),
        simultaneous=_switch(optim, "simultaneous", "optim"),
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def _switch(node: DictConfig, key: str, group: str = "model") -> bool:
    """``model.compile`` / ``model.channels_last`` / ``optim.simultaneous``: true or false (absent, in configs from
    before they existed: false)."""
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{group}.{key}={value}: use true or false")
    return value


def _compile_switch(cfg: DictConfig, players: Players) -> bool:
    """``model.compile``; a gradient penalty's D runs eagerly under it through ``torch.compiler.set_stance`` (torch >= 2.6).
    On a machine without a GPU, compiling means C++: Inductor writes it (``model.compile``) and minibatch discrimination's
    CPU kernel is C (``tricks.minibatch_discrimination.compile``, ``gan_lab.nets.layers.pair_sums_cpu``, Inductor's kernels
    where it cannot be built): without a compiler the first iteration would fail with Inductor's long trace, so the run
    stops here with one line."""
    value = _switch(cfg.model, "compile")
    loss = players.objective.loss
    if value and loss.per_example_penalty and not hasattr(torch.compiler, "set_stance"):
        raise ConfigError(f"model.compile=true with {loss.penalty_name}: its D forward must run eagerly (no double backward "
                          f"through compiled graphs) and torch {torch.__version__} cannot (torch >= 2.6 can); set model.compile=false")
    compiled = ["model.compile=true"] if value else []
    compiled += [f"tricks.{t.name}.compile=true" for t in players.tricks if getattr(t, "compile", False) is True]
    if compiled and not torch.cuda.is_available() and not cpp_compiler():  # no GPU: the run compiles for the CPU
        raise ConfigError(f"{' and '.join(compiled)}: compiled kernels on the CPU are C++ (torch.compile's Inductor backend, "
                          "minibatch discrimination's own kernel) and no C++ compiler "
                          "was found (g++, c++ or $CXX): install one (apt-get install g++) or set "
                          f"{' and '.join(c.replace('=true', '=false') for c in compiled)}")
    return value


def load_generator_state(generator: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """G's weights from a training module's state dict (keys ``generator.*``), strictly."""
    prefix = "generator."
    generator.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)})
    return generator

"""Checkpoints: written atomically, checked before they are used, and rebuilt through the one
build path (``gan_lab.build``) for sampling and evaluation.

* :class:`AtomicCheckpointIO` writes ``<path>.tmp``, fsyncs and renames: a kill mid-write
  (preemption) leaves the previous good checkpoint in place, never a truncated file.
* :func:`resolve_ckpt_path` finds what to resume from (``ckpt_path=`` or ``resume=auto``) and checks
  it loads first: a damaged file (a full disk, a failed copy) is named in one line, and
  ``resume=auto`` falls back to the newest checkpoint of the run that loads.
* :func:`load_generator` rebuilds G from the config stored in a checkpoint (format 2), or from a
  checkpoint of gan-lab's first config format (before 2026-11-26), upgraded on the fly.
"""
from __future__ import annotations

import copy
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from gan_lab import CONFIG_DIR
from gan_lab.build import build_players, ensemble_seeds, load_generator_state
from gan_lab.nets.ensemble import member_state
from gan_lab.errors import ConfigError
from gan_lab.ema import EMA_PREFIX
from gan_lab.run_state import CHECKPOINT_FORMAT

log = logging.getLogger("gan_lab")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to ``<path>.tmp``, fsync, then rename over ``<path>``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint written by gan-lab, loaded with ``weights_only=True`` (no pickled code runs);
    ``mmap=True`` reads little more than its index (a cheap check that it is whole)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file (checkpoints are in outputs/<date>/<time>/checkpoints/)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means: damaged, or not one of ours
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(
            f"ckpt_path={path} is damaged or not a gan-lab checkpoint ({type(err).__name__}: {reason}); "
            "pass another file of <run>/checkpoints/ (step_*.ckpt are kept beside last.ckpt)"
        ) from None
    if not isinstance(ckpt, dict) or "gan_lab" not in ckpt or "state_dict" not in ckpt:
        raise ConfigError(f"ckpt_path={path} is not a gan-lab checkpoint (no 'gan_lab' section): pass a file from <run>/checkpoints/")
    return ckpt


# ---- resuming ------------------------------------------------------------------------------------
_IGNORED = ("resume=", "hydra.", "ckpt_path=")


def _comparable_overrides(run_dir: Path) -> list[str] | None:
    file = run_dir / ".hydra" / "overrides.yaml"
    if not file.is_file():
        return None
    return sorted(o for o in OmegaConf.load(file) if not o.startswith(_IGNORED))


def find_resume_run(run_dir: Path, overrides: list[str]) -> Path | None:
    """For ``resume=auto``: this run folder if it has checkpoints (a requeued job, a fixed
    ``hydra.run.dir``); else the newest unfinished run of the same command (same overrides, no
    summary.json) among the sibling run folders (``outputs/<date>/<time>``)."""
    if any((run_dir / "checkpoints").glob("*.ckpt")):
        return run_dir
    wanted = sorted(o for o in overrides if not o.startswith(_IGNORED))
    runs_root = run_dir.parent.parent
    candidates = [p for p in runs_root.glob("*/*") if p.is_dir() and p != run_dir]
    for candidate in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        if (any((candidate / "checkpoints").glob("*.ckpt")) and not (candidate / "summary.json").exists()
                and _comparable_overrides(candidate) == wanted):
            return candidate
    return None


def _newest_first(checkpoint_dir: Path) -> list[Path]:
    """``last.ckpt``, then ``step_*.ckpt`` from the newest step down."""
    def step(path: Path) -> int:
        match = re.search(r"(\d+)", path.stem)
        return int(match.group(1)) if match else -1

    steps = sorted(checkpoint_dir.glob("step_*.ckpt"), key=step, reverse=True)
    last = [checkpoint_dir / "last.ckpt"] if (checkpoint_dir / "last.ckpt").is_file() else []
    return last + steps


def check_resumable(path: str | Path) -> None:
    """Raise a one-line ``ConfigError`` unless ``path`` is a whole checkpoint training can resume from."""
    ckpt = load_checkpoint(path, mmap=True)
    if ckpt["gan_lab"].get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"ckpt_path={path} was written by gan-lab's first config format (before 2026-11-26): it still samples and "
            "evaluates (python -m gan_lab.sample ckpt_path=...), but training cannot resume from it: start a new run"
        )


def resolve_ckpt_path(cfg: Any, run_dir: Path) -> str | None:
    """``ckpt_path=...`` as given (checked), or what ``resume=auto`` finds (None: start afresh).
    In a SLURM job (``SLURM_JOB_ID`` set) ``resume`` not given means ``auto``."""
    if cfg.get("ckpt_path"):
        check_resumable(cfg.ckpt_path)
        return str(cfg.ckpt_path)
    resume = cfg.get("resume")
    if resume is None and os.environ.get("SLURM_JOB_ID"):
        resume = "auto"  # a SLURM job requeued after preemption / time-out continues its run (resume=none: afresh)
    if resume in (None, False, "none", "never"):
        return None
    if resume != "auto":
        raise ConfigError(f"resume={resume}: use resume=auto (continue this command's last run) or ckpt_path=/path/to/last.ckpt")
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    found = find_resume_run(run_dir, overrides)
    if found is None:
        return None
    problems = []
    for candidate in _newest_first(found / "checkpoints"):
        try:
            check_resumable(candidate)
        except ConfigError as err:
            log.warning("resume=auto: skipping %s: %s", candidate, err)
            problems.append(candidate.name)
            continue
        if problems:
            log.warning("resume=auto: resuming from %s (%s did not load)", candidate, ", ".join(problems))
        return str(candidate)
    raise ConfigError(
        f"resume=auto: no checkpoint of {found / 'checkpoints'} loads ({', '.join(problems)} damaged): "
        "start afresh without resume=auto, or pass ckpt_path=/path/to/a/good.ckpt"
    )


# ---- rebuilding G ----------------------------------------------------------------------------------
#: first-format data configs (one GANDataModule dispatching on ``name``) -> today's classes
LEGACY_DATA = {
    "mnist5k": ("gan_lab.data.embedded.MNIST5k", {}), "digits": ("gan_lab.data.embedded.Digits", {}),
    "ring8": ("gan_lab.data.mixtures.GaussianMixture", {}), "grid25": ("gan_lab.data.mixtures.GaussianMixture", {}),
    "mnist": ("gan_lab.data.torchvision_sets.TorchvisionImages", {"dataset": "MNIST"}),
    "fashion_mnist": ("gan_lab.data.torchvision_sets.TorchvisionImages", {"dataset": "FashionMNIST"}),
    "cifar10": ("gan_lab.data.torchvision_sets.TorchvisionImages", {"dataset": "CIFAR10"}),
    "svhn": ("gan_lab.data.torchvision_sets.SVHN", {}),
    "folder": ("gan_lab.data.folder.ImageFolder", {}), "celeba": ("gan_lab.data.folder.CelebA", {}),
}


#: classes that moved since a checkpoint's config named them (2026-12-05: trick layers into nets/layers/,
#: the EMA of G out of nets/) -> where they are now
MOVED_TARGETS = {
    "gan_lab.nets.ema.GeneratorEMA": "gan_lab.ema.GeneratorEMA",
    "gan_lab.nets.diffaugment.DiffAugment": "gan_lab.nets.layers.diffaugment.DiffAugment",
}


def current_config(config: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's config with today's class paths, and what today's classes need that it lacks:
    the mode centres of a 2-D mixture (``data.means``, in the data configs since 2026-12-05), taken from
    the packaged data config of the same name."""
    def moved(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: MOVED_TARGETS.get(v, v) if k == "_target_" else moved(v) for k, v in node.items()}
        return [moved(v) for v in node] if isinstance(node, list) else node

    config = moved(config)
    data = config.get("data") or {}
    if data.get("_target_") == "gan_lab.data.mixtures.GaussianMixture" and "means" not in data:
        packaged = Path(CONFIG_DIR) / "data" / f"{data.get('name')}.yaml"
        if packaged.is_file():
            config["data"] = {**data, "means": OmegaConf.to_container(OmegaConf.load(packaged).means)}
    return config


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config of a first-format checkpoint (before 2026-11-26) in today's format, as far as
    rebuilding the nets needs: ``loss.objective`` -> ``loss``, ``task`` string -> task node, MLP nets'
    ``image_size`` / ``channels`` from the data, the data's class, tricks' removed options."""
    cfg = copy.deepcopy(config)
    loss = cfg.get("loss", {})
    if "objective" in loss:
        cfg["loss"] = dict(loss["objective"])
    task = cfg.get("task", "unconditional")
    if isinstance(task, str):
        # format 1 named the task; its objective class, and whether it takes the labelled subset's size
        targets = {"unconditional": ("Unconditional", False), "semi_supervised": ("SemiSupervised", True),
                   "supervised": ("Supervised", True)}
        target, labelled = targets.get(task, targets["unconditional"])
        node: dict[str, Any] = {"_target_": f"gan_lab.objectives.{target}"}
        if labelled:
            node["labels_per_class"] = cfg.get("data", {}).get("labels_per_class")
        cfg["task"] = node
    data = cfg.get("data", {})
    if data.get("_target_") == "gan_lab.data.GANDataModule" and data.get("name") in LEGACY_DATA:
        target, extra = LEGACY_DATA[data["name"]]
        data = {k: v for k, v in data.items() if k not in ("labels_per_class", "labelled_seed", "with_labels")}
        cfg["data"] = data = {**data, "_target_": target, **extra}
    for net in ("generator", "discriminator"):
        spec = cfg.get("model", {}).get(net, {})
        if "image_size" not in spec and "_target_" in spec:
            spec["image_size"], spec["channels"] = data.get("image_size"), data.get("channels")
        if spec.get("_target_", "").endswith("SSGANMnistGenerator"):
            spec.pop("output", None)
    for trick in (cfg.get("tricks") or {}).values():
        trick.pop("init_std", None)  # minibatch discrimination's N(0, init_std) T: now the original's init
    return cfg


def generator_from_checkpoint(path: str | Path, ema: bool | None = None, member: int | None = None) -> tuple[torch.nn.Module, DictConfig]:
    """G rebuilt from the config stored in the checkpoint, with its weights (eval mode), and the config.

    ``ema``: None takes the averaged G (``ema=`` of training) when the checkpoint has one, else G;
    True requires the averaged G; False takes the raw G. The returned net's ``averaged`` says which.
    ``member``: which member of an ensemble of seeds (``ensemble.seeds``) to rebuild; required for one,
    refused for a single run. The config returned has that member's seed.
    """
    ckpt = load_checkpoint(path)
    config = ckpt["gan_lab"]["config"]
    legacy = ckpt["gan_lab"].get("format") is None
    cfg = OmegaConf.create(current_config(upgrade_config(config) if legacy else config))
    state_dict = ckpt["state_dict"]
    has_ema = any(k.startswith(EMA_PREFIX) for k in state_dict)
    if ema and not has_ema:
        raise ConfigError(f"use_ema=true: ckpt_path={path} holds no averaged G (it was trained with ema=none); "
                          "use use_ema=false (or leave it unset) for its G, or train with ema=default")
    averaged = has_ema if ema is None else bool(ema)
    if averaged:  # the averaged G's weights and statistics under G's keys
        state_dict = {"generator." + k[len(EMA_PREFIX):]: v for k, v in state_dict.items() if k.startswith(EMA_PREFIX)}
    seeds = ensemble_seeds(cfg) if "ensemble" in cfg else [cfg.seed]
    if len(seeds) > 1:
        if member is None or not 0 <= member < len(seeds):
            raise ConfigError(f"ckpt_path={path} holds an ensemble of {len(seeds)} seeds ({', '.join(map(str, seeds))}): "
                              f"choose one with member=0 .. member={len(seeds) - 1}" + (f" (not member={member})" if member is not None else ""))
        state_dict = member_state(state_dict, member, prefix="generator.")
        cfg.seed, cfg.ensemble.seeds = seeds[member], 1
    elif member not in (None, 0):
        raise ConfigError(f"member={member}: ckpt_path={path} is a single run (trained with ensemble.seeds=1); leave member unset")
    try:
        generator = build_players(cfg).generator
        load_generator_state(generator, state_dict)
        generator.averaged = averaged
    except (ConfigError, RuntimeError, TypeError, KeyError) as err:
        if not legacy:
            raise
        reason = str(err).strip().splitlines()[0]
        raise ConfigError(
            f"ckpt_path={path} was written by gan-lab's first config format and its generator could not be rebuilt "
            f"({type(err).__name__}: {reason}); sample it with the gan-lab release that wrote it (git checkout a3d7020)"
        ) from None
    return generator.eval(), cfg

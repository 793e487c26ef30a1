"""Checkpoints that survive a kill, and finding the one to resume from (``resume=auto``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import OmegaConf

from gan_lab.errors import ConfigError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to ``<path>.tmp``, fsync, then rename over ``<path>``: a kill mid-write (preemption)
    leaves the previous good checkpoint in place, never a truncated file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def _comparable_overrides(run_dir: Path) -> list[str] | None:
    file = run_dir / ".hydra" / "overrides.yaml"
    if not file.is_file():
        return None
    return sorted(o for o in OmegaConf.load(file) if not o.startswith(("resume=", "hydra.", "ckpt_path=")))


def find_resume_checkpoint(run_dir: Path, overrides: list[str]) -> Path | None:
    """For ``resume=auto``: this run folder's ``checkpoints/last.ckpt`` if it has one (a requeued
    job, a fixed ``hydra.run.dir``); else the newest unfinished run of the same command (same
    overrides, no summary.json) among the sibling run folders (``outputs/<date>/<time>``)."""
    own = run_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        return own
    wanted = sorted(o for o in overrides if not o.startswith(("resume=", "hydra.", "ckpt_path=")))
    runs_root = run_dir.parent.parent
    candidates = [p for p in runs_root.glob("*/*") if p.is_dir() and p != run_dir]
    for candidate in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        last = candidate / "checkpoints" / "last.ckpt"
        if last.is_file() and not (candidate / "summary.json").exists() and _comparable_overrides(candidate) == wanted:
            return last
    return None


def resolve_ckpt_path(cfg: Any, run_dir: Path) -> str | None:
    """``ckpt_path=...`` as given, or the checkpoint ``resume=auto`` finds (None: start afresh)."""
    if cfg.get("ckpt_path"):
        if not Path(cfg.ckpt_path).is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint file (look in outputs/<date>/<time>/checkpoints/)")
        from gan_lab.checkpoint_io import load_checkpoint

        load_checkpoint(cfg.ckpt_path, mmap=True)  # ours, and safe to load? (memory-mapped: reads little)
        return str(cfg.ckpt_path)
    resume = cfg.get("resume")
    if resume in (None, False, "none", "never"):
        return None
    if resume != "auto":
        raise ConfigError(f"resume={resume}: use resume=auto (continue this command's last run) or ckpt_path=/path/to/last.ckpt")
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    found = find_resume_checkpoint(run_dir, overrides)
    return str(found) if found else None

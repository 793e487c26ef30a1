"""Reading gan-lab checkpoints outside training (sampling, evaluation)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from gan_lab.errors import ConfigError


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint written by gan-lab, loaded with ``weights_only=True`` (no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such file (checkpoints are in outputs/<date>/<time>/checkpoints/)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means: not one of ours
        raise ConfigError(f"ckpt_path={path} is not a gan-lab checkpoint that loads safely ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict) or "gan_lab" not in ckpt or "state_dict" not in ckpt:
        raise ConfigError(f"ckpt_path={path} is not a gan-lab checkpoint (no 'gan_lab' section): pass a file from <run>/checkpoints/")
    return ckpt


def generator_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, Any]:
    """Rebuild G from the config stored in the checkpoint and load its weights (eval mode)."""
    from gan_lab.train import build_nets

    ckpt = load_checkpoint(path)
    cfg = OmegaConf.create(ckpt["gan_lab"]["config"])
    kind = "points" if cfg.data.kind == "points" else "image"
    shape = (2,) if kind == "points" else (int(cfg.data.channels), int(cfg.data.image_size), int(cfg.data.image_size))
    generator, _ = build_nets(cfg, kind, shape)
    prefix = "generator."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    generator.load_state_dict(state)
    return generator.eval(), cfg

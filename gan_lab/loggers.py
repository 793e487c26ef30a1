"""Experiment loggers (``logger=wandb|csv|tensorboard|none``).

W&B never prompts: it logs online only when the user is logged in (``WANDB_API_KEY`` or a
``~/.netrc`` entry) or asks for it with ``logger.offline=false``; otherwise it writes an offline
run under ``<run>/wandb`` (``wandb sync`` uploads it later). The run id is kept in the run
folder (``wandb_id``) so that a resumed run continues the same W&B run (``resume="allow"``).
"""
from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from gan_lab.errors import ConfigError

_WANDB_MODE_BEFORE = os.environ.get("WANDB_MODE")


def wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_offline(setting: Any) -> bool:
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return True
    if setting in ("auto", None):
        return not wandb_logged_in()
    return bool(setting)


def _new_run_id() -> str:
    """A W&B run id: 8 random lowercase letters and digits, like wandb's own."""
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def build_loggers(cfg: Any, run_dir: Path, resume_run_dir: Path | None = None) -> list:
    """The Lightning loggers for ``cfg`` (the ``logger`` config group)."""
    name = cfg.name
    if name == "none":
        return []
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return [CSVLogger(save_dir=str(run_dir), name="csv", version="")]
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return [TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")]
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        id_file = run_dir / "wandb_id"
        previous = (resume_run_dir / "wandb_id") if resume_run_dir else id_file
        run_id = previous.read_text().strip() if previous.exists() else _new_run_id()
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id)
        offline = wandb_offline(cfg.get("offline", "auto"))
        os.environ.setdefault("WANDB_SILENT", "true")
        return [
            WandbLogger(
                project=cfg.project,
                entity=cfg.get("entity"),
                group=cfg.get("group"),
                name=cfg.get("run_name"),
                tags=list(cfg.get("tags") or []),
                save_dir=str(run_dir),
                id=run_id,
                resume="allow",
                offline=offline,
                mode="offline" if offline else "online",  # an offline resume must stay offline (PL #12502)
                log_model=False,
            )
        ]
    raise ConfigError(f"logger.name={name}: use wandb, csv, tensorboard or none")


def finish_wandb() -> None:
    """Close the W&B run, so that the next run of a multirun logs to a run of its own."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
    # Lightning's WandbLogger(offline=True) sets WANDB_MODE=dryrun for the whole process: undo
    # it, so that the next run of a multirun decides online/offline for itself
    if _WANDB_MODE_BEFORE is None:
        os.environ.pop("WANDB_MODE", None)
    else:
        os.environ["WANDB_MODE"] = _WANDB_MODE_BEFORE

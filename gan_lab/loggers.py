"""Experiment loggers: each ``conf/logger/*.yaml`` is ``{NAME: {_target_: ...}}``, so several run at
once (``logger=[wandb,csv]``); csv and tensorboard are Lightning's own classes.

TensorBoard is an optional dependency (``pip install 'gan-lab[tensorboard]'``): without it
``logger=tensorboard`` stops with one line saying so when the loggers are built, before training,
instead of Lightning's ``ModuleNotFoundError`` traceback.

W&B never prompts: it logs online only when the user is logged in (``WANDB_API_KEY`` or a
``~/.netrc`` entry) or asks for it with ``logger.wandb.offline=false``; otherwise it writes an offline
run under ``<run>/wandb`` (``wandb sync`` uploads it later). The run id is kept in the run
folder (``wandb_id``) so that a resumed run continues the same W&B run (``resume="allow"``).
A run's W&B group is its setting (the sweep's overrides without the seed, ``run_group``); the
experiment's ``name`` is its job type and one of its tags, beside ``tags=``.
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


def tensorboard_logger(save_dir: str, name: str | None = "tensorboard", version: int | str | None = "",
                       log_graph: bool = False, default_hp_metric: bool = True, prefix: str = "",
                       sub_dir: str | None = None, flush_secs: int = 120, max_queue: int = 10):
    """Lightning's ``TensorBoardLogger`` (events in ``<save_dir>/<name>``), once tensorboard is known
    to be installed (tensorboardX, which Lightning also accepts, will do)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise ConfigError("logger=tensorboard needs the tensorboard package: pip install 'gan-lab[tensorboard]' "
                          "(or pip install tensorboard), or log with logger=csv")
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=save_dir, name=name, version=version, log_graph=log_graph,
                             default_hp_metric=default_hp_metric, prefix=prefix, sub_dir=sub_dir,
                             flush_secs=flush_secs, max_queue=max_queue)


def _new_run_id() -> str:
    """A W&B run id: 8 random lowercase letters and digits, like wandb's own."""
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def wandb_tags(tags: Any, job_type: str | None) -> list[str]:
    """``tags=`` (a list, or one string) and the job type (the recipe's ``name``: ``quickstart`` or a preset's),
    each once, in that order."""
    listed = [tags] if isinstance(tags, str) else list(tags or [])
    if job_type not in (None, ""):
        listed.append(job_type)
    return list(dict.fromkeys(str(tag) for tag in listed))


def wandb_logger(save_dir: str, project: str = "gan-lab", entity: str | None = None, group: str | None = None,
                 name: str | None = None, tags: list[str] | None = None, offline: Any = "auto",
                 job_type: str | None = None):
    """Lightning's ``WandbLogger`` that never prompts and continues the run of a resumed training:
    the run id is kept in ``<run>/wandb_id`` (the runner copies it into a resumed run's folder).
    ``job_type`` (the experiment's ``name``) is also added to ``tags``."""
    from lightning.pytorch.loggers import WandbLogger

    run_dir = Path(save_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    id_file = run_dir / "wandb_id"
    run_id = id_file.read_text().strip() if id_file.exists() else _new_run_id()
    id_file.write_text(run_id)
    offline = wandb_offline(offline)
    os.environ.setdefault("WANDB_SILENT", "true")
    return WandbLogger(
        project=project,
        entity=entity,
        group=group,
        name=name,
        job_type=None if job_type is None else str(job_type),
        tags=wandb_tags(tags, job_type),
        save_dir=str(run_dir),
        id=run_id,
        resume="allow",
        offline=offline,
        mode="offline" if offline else "online",  # an offline resume must stay offline (PL #12502)
        log_model=False,
    )


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

"""The command-line apps: ``python train.py`` / ``gan-lab-train`` (this module's :func:`train`);
``python -m gan_lab.sample`` and ``python -m gan_lab.evaluate`` are Hydra apps of their own over
the same ``conf/`` tree.

Module-level imports stay light (Hydra and the standard library): an app imports torch,
Lightning or W&B only once its config is composed and checked, so ``--help`` and a usage error
answer fast.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def report_errors(body: Callable[[], Any]) -> Any:
    """Run ``body``; a gan-lab error (a bad value, a missing file) becomes one line and exit code 1."""
    from gan_lab.errors import GanLabError

    try:
        return body()
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from gan_lab.runner import run

    _quiet_lightning()
    try:
        summary = report_errors(lambda: run(cfg))
    except SIGTERMException:
        print("gan-lab: stopped by SIGTERM; the last checkpoint is in the run folder: run the same command "
              "with resume=auto to continue", file=sys.stderr, flush=True)
        raise SystemExit(143) from None  # 128 + SIGTERM, so schedulers see an interrupted job
    metric = cfg.get("optimized_metric")
    if metric:  # the value a Hydra sweeper (e.g. Optuna) optimises
        return summary["metrics"].get(metric, summary["final"].get(metric))
    return None


def _quiet_lightning() -> None:
    """Let Lightning's messages go through Hydra's log handlers once (not twice), minus known noise."""
    import logging
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True  # Lightning turns propagation off when imported before Hydra's logging
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.addFilter(lambda record: "litlogger" not in record.getMessage())  # an advert, not information
    warnings.filterwarnings("ignore", message=".*ModelCheckpoint with manual optimization.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")

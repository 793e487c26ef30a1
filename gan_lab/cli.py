"""Hydra entry points (``python train.py ...`` and the ``gan-lab-train`` console script)."""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from lightning.pytorch.utilities.exceptions import SIGTERMException

from gan_lab.errors import GanLabError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from gan_lab.train import run

    _quiet_lightning()
    try:
        summary = run(cfg)
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
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

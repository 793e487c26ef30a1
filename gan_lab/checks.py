"""Checks of a composed config that fail fast, before any data is loaded or step is trained."""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from gan_lab.errors import ConfigError


def _positive(value: Any, key: str, example: str) -> None:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key}={value}: must be a positive number ({example})")


def check_config(cfg: Any) -> None:
    """Raise ``ConfigError`` naming the key, the bad value and the fix."""
    for player in ("g", "d"):
        _positive(cfg.optim[player].get("lr"), f"optim.{player}.lr", f"e.g. optim.{player}.lr=2e-4")
    _positive(cfg.data.batch_size, "data.batch_size", "e.g. data.batch_size=64")
    if not isinstance(cfg.data.batch_size, int):
        raise ConfigError(f"data.batch_size={cfg.data.batch_size}: must be an integer (e.g. data.batch_size=64)")
    k = cfg.optim.d_steps_per_g_step
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"optim.d_steps_per_g_step={k}: must be an integer >= 1 (5 for WGAN, 1 for DCGAN)")
    max_steps = cfg.trainer.max_steps
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"trainer.max_steps={max_steps}: the number of training iterations must be a positive integer")
    for key in ("every_n_steps",):
        for group in ("checkpoint", "samples"):
            value = cfg[group].get(key)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"{group}.{key}={value}: must be an integer >= 0 (0 turns it off)")

    for key in ("optimized_metric", "checkpoint.monitor"):
        check_metric_key(OmegaConf.select(cfg, key), key)
    mode = cfg.checkpoint.get("mode")
    if mode not in (None, "min", "max"):
        raise ConfigError(f"checkpoint.mode={mode}: must be min or max (or null: the metric's own goal, min for FID)")


def check_metric_key(value: Any, key: str) -> None:
    """``optimized_metric`` / ``checkpoint.monitor`` name a summary value: ``metrics/...`` (evaluations)
    or ``train/...`` (the logged losses); a key the run does not produce fails at its end, listing them."""
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("metrics/", "train/")):
        raise ConfigError(f"{key}={value}: name a metric of the run's summary, e.g. {key}=metrics/clf_fid5k "
                          "(metrics=classifier, 5,000 samples) or metrics/fid (metrics=inception)")

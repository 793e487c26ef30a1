"""The command-line apps: ``python train.py`` / ``gan-lab-train`` (this module's :func:`train`, which
runs the Hydra app :func:`train_job`);
``python -m gan_lab.sample`` and ``python -m gan_lab.evaluate`` are Hydra apps of their own over
the same ``conf/`` tree.

Module-level imports stay light (Hydra and the standard library): an app imports torch,
Lightning or W&B only once its config is composed and checked, so ``--help`` and a usage error
answer fast.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from gan_lab import CONFIG_DIR  # gan_lab/conf in a wheel, the checkout's conf/ otherwise


def compose(overrides: list[str], run_dir: str | Path | None = None) -> DictConfig:
    """The config that ``python train.py <overrides>`` composes, built in-process (for benchmarks,
    notebooks and tests); ``run_dir`` is the run folder, which Hydra's own run sets."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=list(overrides))
    if run_dir is not None:
        with open_dict(cfg):
            cfg.run_dir = str(run_dir)
    return cfg


def report_errors(body: Callable[[], Any]) -> Any:
    """Run ``body``; a gan-lab error (a bad value, a missing file) becomes one line and exit code 1."""
    from gan_lab.errors import GanLabError

    try:
        return body()
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def train() -> None:
    """``python train.py`` / ``gan-lab-train``: the Hydra app :func:`train_job`, where a search whose
    every trial failed ends in its sweep summary and one line (:func:`_failed_search_reported`)."""
    with _failed_search_reported():
        train_job()


@contextmanager
def _failed_search_reported() -> Iterator[None]:
    """When every trial of ``search=optuna`` fails, Optuna's sweeper raises ``ValueError: No trials are
    completed yet.`` from ``sweeper.sweep()``: Hydra then skips the ``on_multirun_end`` callbacks (the
    sweep summary) and prints the error as a traceback. Hydra has no hook between the two (a sweeper of
    our own would have to live in ``hydra_plugins``), so for the app's run the function through which
    Hydra runs it, ``hydra._internal.utils.run_and_report``, is wrapped: that error becomes
    :func:`gan_lab.sweep.end_of_failed_search` (the summary, then one line and exit status 1; a
    ``SystemExit`` passes through Hydra's report). Everything else goes to Hydra unchanged.
    tests/integration/test_search_all_failed.py checks it against the installed Hydra."""
    from hydra._internal import utils as hydra_utils

    hydra_report = getattr(hydra_utils, "run_and_report", None)
    if hydra_report is None:  # another Hydra: the traceback, as before
        yield
        return

    def run_and_report(func: Callable[[], Any]) -> Any:
        return hydra_report(lambda: _end_failed_search(func))

    hydra_utils.run_and_report = run_and_report
    try:
        yield
    finally:
        hydra_utils.run_and_report = hydra_report


def _end_failed_search(func: Callable[[], Any]) -> Any:
    from gan_lab import sweep

    try:
        return func()
    except ValueError as err:
        if not sweep.no_trial_completed(err):
            raise
        report_errors(lambda: sweep.end_of_failed_search(err))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_job(cfg: DictConfig) -> float | None:
    """Train one GAN. In a multirun (``-m``) a job that fails records its error in its folder
    (``error.txt``) and returns, so the sweep goes on and its summary lists the failure (Hydra's
    basic sweeper would stop at the first exception, and a ``SystemExit`` ends the whole process)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from gan_lab.errors import GanLabError
    from gan_lab.runner import run

    _quiet_lightning()
    try:
        return optimized_value(cfg, run(cfg))
    except SIGTERMException:
        from gan_lab.callbacks.preemption import hand_over_preemption

        hand_over_preemption()  # stopped for submitit's preemption signal: submitit requeues the job and exits
        print("gan-lab: stopped by SIGTERM; the last checkpoint is in the run folder: run the same command "
              "with resume=auto to continue", file=sys.stderr, flush=True)
        raise SystemExit(143) from None  # 128 + SIGTERM, so schedulers see an interrupted job
    except Exception as err:  # noqa: BLE001 - in a sweep, any failure of one job is recorded, not fatal
        if not _in_multirun():
            if isinstance(err, GanLabError):
                print(f"gan-lab: error: {err}", file=sys.stderr, flush=True)
                raise SystemExit(1) from None
            raise
        _record_failure(err)
        return None  # Optuna's sweeper marks the trial failed (a NaN would break its tell())


def optimized_value(cfg: DictConfig, summary: dict[str, Any]) -> float | None:
    """The summary value named by ``optimized_metric`` (what a Hydra sweeper such as Optuna minimises)."""
    from gan_lab.errors import ConfigError

    metric = cfg.get("optimized_metric")
    if not metric:
        return None
    values = {**summary["final"], **{k: v for k, v in summary["metrics"].items() if isinstance(v, (int, float))}}
    if metric not in values:
        raise ConfigError(f"optimized_metric={metric}: this run's summary has no such value; it has "
                          f"{', '.join(sorted(values)) or 'none'} (metrics=none computes no metrics/...)")
    return float(values[metric])


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _record_failure(err: Exception) -> None:
    """``error.txt`` in the job's folder: the one-line reason first, then the traceback."""
    import logging
    import traceback

    from hydra.core.hydra_config import HydraConfig

    from gan_lab.errors import GanLabError

    job_dir = Path(HydraConfig.get().runtime.output_dir)
    reason = str(err) if isinstance(err, GanLabError) else f"{type(err).__name__}: {err}"
    trace = "".join(traceback.format_exception(err))
    (job_dir / "error.txt").write_text(f"{reason}\n\n{trace}")
    logging.getLogger("gan_lab").error("job %s failed (the sweep goes on): %s", job_dir.name, reason)
    # not "gan-lab: error:": the sweep goes on, and its end says in one such line whether it failed
    print(f"gan-lab: job {job_dir.name} failed (the sweep goes on): {reason}", file=sys.stderr, flush=True)


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

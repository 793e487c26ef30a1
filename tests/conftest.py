"""Shared fixtures: compose the real Hydra config, run the real CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gan_lab.cli import compose

ROOT = Path(__file__).resolve().parent.parent
CONF = str(ROOT / "conf")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["GAN_LAB_OFFLINE"] = "1"  # tests never download (Inception weights are built by the tests)
os.environ.pop("SLURM_JOB_ID", None)  # resume=auto is the default inside a SLURM job; tests start afresh

# small, fast settings shared by the tests (each test adds its own overrides)
FAST = [
    "logger=csv",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.max_steps=4",
    "trainer.log_every_n_steps=2",
    "samples.every_n_steps=0",
    "checkpoint.every_n_steps=0",
    "metrics=none",  # metrics have their own tests; the rest need not pay for them
    # every group's own default (model=dcgan, Adam 2e-4, no EMA), not the default run's recipe
    # (conf/experiment/default.yaml, tested in tests/integration/test_default_run.py): a test of a part
    # sees the part as its group defines it; a test's own experiment=... comes later and wins
    "experiment=none",
]
# small nets: append to the overrides of a test that picks the model
SMALL_DCGAN = ["model.generator.width=8", "model.discriminator.width=8"]
SMALL_MLP = ["model.generator.hidden=[32,32]", "model.discriminator.hidden=[16,16]"]


def compose_cfg(overrides: list[str], run_dir: Path | None = None, fast: bool = True):
    """The config that ``python train.py <overrides>`` would build (FAST settings first)."""
    return compose([*(FAST if fast else []), *overrides], run_dir=run_dir)


@pytest.fixture
def cfg_factory(tmp_path):
    def make(*overrides: str, fast: bool = True):
        return compose_cfg(list(overrides), run_dir=tmp_path / "run", fast=fast)

    return make


def run_cli(args: list[str], cwd: Path, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python train.py args...`` in a subprocess, run folder under ``cwd``."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path):
    def call(*args: str, timeout: int = 600, env: dict | None = None):
        flags = [a for a in args if a.startswith("-")]  # e.g. -m must precede the overrides
        overrides = [a for a in args if not a.startswith("-")]
        dirs = [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/multirun"]
        return run_cli([*flags, *dirs, *overrides], tmp_path, timeout, env)

    return call


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """A torch-fidelity InceptionV3 weights file with random weights, built once per session."""
    from gan_lab.metrics.random_inception import build_random_inception_weights

    return build_random_inception_weights(tmp_path_factory.getbasetemp() / "inception" / "weights.pth")


@pytest.fixture(scope="session")
def gan_lab_cache(tmp_path_factory):
    """One $GAN_LAB_CACHE (classifier, real statistics) for the metrics tests of the session."""
    path = tmp_path_factory.getbasetemp() / "gan_lab_cache"
    old = os.environ.get("GAN_LAB_CACHE")
    os.environ["GAN_LAB_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GAN_LAB_CACHE", None)
    else:
        os.environ["GAN_LAB_CACHE"] = old


@pytest.fixture
def one_thread():
    """torch on one thread for the test, restored after (the benchmark's batched nets: their numbers and
    timings are those of one core)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

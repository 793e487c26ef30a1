"""Shared fixtures: compose the real Hydra config, run the real CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# pytest -n N (pyproject's addopts: -n auto, one worker per core): the cores are split between the workers, and
# the train.py subprocesses of a worker inherit its share. N workers of all the cores' threads each would run
# N x cores threads on cores, and torch's thread pools slow down under oversubscription. Set before torch starts.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

from gan_lab.cli import compose  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONF = str(ROOT / "conf")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["GAN_LAB_OFFLINE"] = "1"  # tests never download (Inception weights are built by the tests)
os.environ.pop("SLURM_JOB_ID", None)  # resume=auto is the default inside a SLURM job; tests start afresh

# small, fast settings shared by the tests (each test adds its own overrides): debug=fast (conf/debug/fast.yaml:
# 4 iterations logged every 2, no metrics, no grids or checkpoints but at the end, CSV logger, no progress bar)
# on the CPU, with the DCGAN paper's setup rather than the default run's recipe (conf/train.yaml's defaults,
# tested in tests/integration/test_default_run.py): a test of a part sees the part as its group defines it;
# a test's own experiment=... comes later and wins (debug=fast is applied after it)
FAST = ["debug=fast", "trainer.accelerator=cpu", "experiment=dcgan"]
# small nets: append to the overrides of a test that picks the model
SMALL_DCGAN = ["model.generator.width=8", "model.discriminator.width=8"]
SMALL_MLP = ["model.generator.hidden=[32,32]", "model.discriminator.hidden=[16,16]"]


def mixture_means(name: str):
    """The modes of ``data=ring8`` / ``data=grid25`` as their config gives them (conf/data/NAME.yaml)."""
    from gan_lab.data.mixtures import means_tensor

    return means_tensor(compose([f"data={name}", "model=gan_mlp"]).data.means)


def load_mixture(name: str, std: float, num_train: int = 50_000, num_val: int = 10_000, split_seed: int = 0):
    """``gan_lab.data.datasets.load_mixture`` for the mixture of ``data=NAME``."""
    from gan_lab.data.datasets import load_mixture as load

    return load(mixture_means(name), std, num_train, num_val, split_seed)


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

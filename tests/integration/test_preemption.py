"""Preemption: SIGTERM mid-training writes a checkpoint; resume=auto finishes the run exactly."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gan_lab.runner import build_run
from tests.conftest import ROOT, SMALL_DCGAN, compose_cfg

COMMON = ["trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.max_steps=120",
          "trainer.log_every_n_steps=10", "samples.every_n_steps=10", "checkpoint.every_n_steps=40", "metrics=none",
          *SMALL_DCGAN]


@pytest.mark.slow
def test_sigterm_then_resume_auto_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={run_dir}", *COMMON]
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "samples" / "step_0000010.png").exists():
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "run the same command with resume=auto to continue" in stderr
    stopped_at = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 10 <= stopped_at < 120
    assert not list((run_dir / "checkpoints").glob("*.tmp"))  # written atomically

    resumed = subprocess.run([*command, "resume=auto"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Restoring states from the checkpoint path at {run_dir}/checkpoints/last.ckpt" in resumed.stdout + resumed.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 120
    wandb_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and len({p.name.rsplit("-", 1)[1] for p in wandb_runs}) == 1  # one W&B run id, resumed

    full = build_run(compose_cfg([*COMMON, "logger=none"], run_dir=tmp_path / "full", fast=False))
    full.trainer.fit(full.module, datamodule=full.datamodule)
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    expected = full.module.state_dict()
    assert final.keys() == expected.keys()
    for key in expected:
        assert torch.equal(final[key], expected[key]), key


def test_resume_auto_without_a_previous_run_starts_afresh(cfg_factory):
    from gan_lab.runner import run

    assert run(cfg_factory("resume=auto", *SMALL_DCGAN))["steps"] == 4


def test_a_file_that_is_not_a_checkpoint_is_refused_without_unpickling(tmp_path):
    import pickle

    from gan_lab.checkpoints import load_checkpoint
    from gan_lab.errors import ConfigError

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ConfigError, match="is damaged or not a gan-lab checkpoint"):
        load_checkpoint(bad)
    from gan_lab.runner import run
    from tests.conftest import compose_cfg

    with pytest.raises(ConfigError, match="is damaged or not a gan-lab checkpoint"):  # training refuses it too
        run(compose_cfg([f"ckpt_path={bad}", *SMALL_DCGAN], run_dir=tmp_path / "run"))
    assert not (tmp_path / "pwned").exists()

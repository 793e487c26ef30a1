"""Preemption through submitit: its signal (USR2) mid-step defers to the end of the iteration, writes
last.ckpt, submitit requeues the Hydra job, and the requeued job resumes (resume defaults to auto
under SLURM) to exactly the weights of an uninterrupted run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from gan_lab.checkpoints import resolve_ckpt_path
from gan_lab.errors import ConfigError
from gan_lab.run_state import CHECKPOINT_FORMAT
from tests.conftest import ROOT, SMALL_MLP, compose_cfg


class Pace(L.Callback):
    """Test helper: before each training iteration, note the iteration in ``<dirpath>/reached`` and
    sleep, so that a signal sent from outside lands inside an iteration (before its optimizer steps)."""

    def __init__(self, dirpath: str, seconds: float) -> None:
        self.dirpath, self.seconds = Path(dirpath), seconds

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        (self.dirpath / "reached").write_text(str(trainer.global_step))
        time.sleep(self.seconds)


STEPS = 12
COMMON = ["model=gan_mlp", "data=ring8", *SMALL_MLP, "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
          f"trainer.max_steps={STEPS}", "trainer.log_every_n_steps=2", "samples.every_n_steps=0", "checkpoint.every_n_steps=4",
          "metrics=none"]


def _job_process(folder: Path) -> int | None:
    """The pid of the submitit task (``python -m submitit.core._submit <folder>``), found in /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in cmdline and any(str(folder).encode() in part for part in cmdline):
            return int(entry.name)
    return None


def reached_step(path) -> int:
    """The iteration :class:`Pace` last noted, -1 before the first. The file is read once: ``write_text``
    truncates before it writes, so a second read could see it empty (a race seen in CI on 11-27)."""
    text = path.read_text() if path.exists() else ""
    return int(text) if text else -1


@pytest.mark.slow
def test_submitit_signal_mid_step_requeues_and_ends_with_the_uninterrupted_weights(tmp_path, one_thread):
    # one_thread: the job runs with OMP_NUM_THREADS=1, so the uninterrupted run in this process does too; a GEMM
    # split over 2 threads sums in another order and differs in the last bits (CI, 2026-12-06)
    sweep = tmp_path / "multirun"
    run_dir = sweep / "0"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}",
               "logger=[csv,wandb]", *COMMON,
               "trainer.devices=${hydra:launcher.tasks_per_node}",  # the launcher file's documented form
               "+callbacks.pace._target_=tests.integration.test_submitit_preemption.Pace",
               "+callbacks.pace.dirpath=${run_dir}", "+callbacks.pace.seconds=0.3"]
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
           "SLURM_JOB_ID": "4242", "OMP_NUM_THREADS": "1"}  # SLURM's job id: resume defaults to auto
    launcher = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        reached = run_dir / "reached"
        while reached_step(reached) < 6:
            assert launcher.poll() is None and time.time() < deadline, "training did not reach step 6"
            time.sleep(0.02)
        job = _job_process(sweep / ".submitit")
        assert job is not None
        os.kill(job, signal.SIGUSR2)  # submitit's preemption signal, mid-iteration (during Pace's sleep)
        output, _ = launcher.communicate(timeout=180)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            if (job := _job_process(sweep / ".submitit")) is not None:
                os.kill(job, signal.SIGKILL)
    assert launcher.returncode == 0, output[-3000:]

    logs = "".join(p.read_text() for p in (sweep / ".submitit").rglob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs, logs[-3000:]  # submitit's handler ran, after the checkpoint
    stopped = [line for line in logs.splitlines() if "preempted (SIGUSR2) at step" in line]
    assert len(stopped) == 1, logs[-3000:]
    stopped_at = int(stopped[0].split("at step ")[1].split(":")[0])
    assert 6 < stopped_at < STEPS  # the iteration under way when the signal came was finished, then it stopped
    assert f"Restoring states from the checkpoint path at {run_dir}/checkpoints/last.ckpt" in logs
    final_ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert final_ckpt["global_step"] == STEPS and not list((run_dir / "checkpoints").glob("*.tmp"))
    wandb_runs = list((run_dir / "wandb").glob("offline-run-*"))  # the requeued job continues the W&B run
    assert len(wandb_runs) == 2 and {p.name.rsplit("-", 1)[1] for p in wandb_runs} == {(run_dir / "wandb_id").read_text()}

    full = _uninterrupted(tmp_path / "full")
    final = final_ckpt["state_dict"]
    expected = full.module.state_dict()
    assert final.keys() == expected.keys()
    for key in expected:
        assert torch.equal(final[key], expected[key]), key


def _uninterrupted(run_dir: Path):
    from gan_lab.runner import build_run

    full = build_run(compose_cfg([*COMMON, "logger=none"], run_dir=run_dir, fast=False))
    full.trainer.fit(full.module, datamodule=full.datamodule)
    return full


class SubmititStandIn(L.Callback):
    """Test helper in submitit's place on each rank: a Python handler for USR2 (installed before
    training, as submitit's is) that writes ``handed_over_<rank>`` when gan-lab hands over; and the
    step each rank stopped at (``stopped_<rank>``)."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def setup(self, trainer, module, stage) -> None:
        self.rank = trainer.global_rank
        signal.signal(signal.SIGUSR2, self.handler)

    def handler(self, signum, frame) -> None:
        (self.dirpath / f"handed_over_{self.rank}").write_text(signal.Signals(signum).name)

    def on_exception(self, trainer, module, exception) -> None:
        (self.dirpath / f"stopped_{self.rank}").write_text(str(trainer.global_step))


@pytest.mark.slow
@pytest.mark.ddp
def test_under_ddp_a_signal_to_rank_1_alone_stops_both_ranks_after_the_same_iteration(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "run"
    here = "tests.integration.test_submitit_preemption"
    command = [sys.executable, str(ROOT / "train.py"), "trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2",
               f"hydra.run.dir={run_dir}", "logger=none", *COMMON,
               f"+callbacks.pace._target_={here}.Pace", "+callbacks.pace.dirpath=${run_dir}", "+callbacks.pace.seconds=0.3",
               f"+callbacks.submitit._target_={here}.SubmititStandIn", "+callbacks.submitit.dirpath=${run_dir}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "LOCAL_RANK": "0"}
    nodes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**env, "NODE_RANK": str(n)}) for n in (0, 1)]
    try:
        deadline = time.time() + 180
        reached = run_dir / "reached"
        while reached_step(reached) < 4:
            assert all(p.poll() is None for p in nodes) and time.time() < deadline, "training did not reach step 4"
            time.sleep(0.02)
        nodes[1].send_signal(signal.SIGUSR2)  # rank 1 alone: rank 0 learns it through the all-reduce
        outputs = [p.communicate(timeout=120)[0] for p in nodes]  # without the agreement: a deadlock
    finally:
        for p in nodes:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in nodes] == [143, 143], outputs[0][-2000:] + outputs[1][-2000:]
    stopped = [int((run_dir / f"stopped_{rank}").read_text()) for rank in (0, 1)]
    assert stopped[0] == stopped[1] and 4 < stopped[0] < STEPS, stopped
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == stopped[0]
    assert [(run_dir / f"handed_over_{rank}").read_text() for rank in (0, 1)] == ["SIGUSR2", "SIGUSR2"]
    assert "preempted (SIGUSR2) at step" in outputs[0]


# ---- resume defaults to auto in a SLURM job --------------------------------------------------------
def _fake_checkpoint(run_dir: Path) -> Path:
    path = run_dir / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"gan_lab": {"format": CHECKPOINT_FORMAT, "config": {}}, "state_dict": {}}, path)
    return path


@pytest.mark.parametrize(("resume", "slurm_job_id", "expected"), [
    (None, "4242", "last.ckpt"),   # a requeued SLURM job finds its run folder's checkpoint
    (None, None, None),            # outside SLURM: start afresh unless asked
    ("none", "4242", None),        # as given
    ("auto", None, "last.ckpt"),   # as given
])
def test_resume_defaults_to_auto_in_a_slurm_job_and_stays_as_given_otherwise(tmp_path, monkeypatch, resume, slurm_job_id, expected):
    run_dir = tmp_path / "run"
    _fake_checkpoint(run_dir)
    if slurm_job_id is None:
        monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    else:
        monkeypatch.setenv("SLURM_JOB_ID", slurm_job_id)
    cfg = compose_cfg([f"resume={resume}" if resume else "resume=null"], run_dir=run_dir)
    found = resolve_ckpt_path(cfg, run_dir)
    assert found == (str(run_dir / "checkpoints" / expected) if expected else None)


def test_a_misspelt_resume_is_refused_also_in_a_slurm_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with pytest.raises(ConfigError, match="resume=autp: use resume=auto"):
        resolve_ckpt_path(compose_cfg(["resume=autp"], run_dir=tmp_path), tmp_path)


# ---- the launcher's job parameters reach the Trainer through the hydra: resolver -------------------
def test_trainer_devices_follow_the_slurm_launcher_through_the_hydra_resolver():
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict
    from omegaconf.errors import InterpolationKeyError

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            "hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4", "hydra.launcher.nodes=2", "trainer=ddp",
            "trainer.devices=${hydra:launcher.gpus_per_node}", "trainer.num_nodes=${hydra:launcher.nodes}",
            "+wrong=${hydra.launcher.gpus_per_node}"])
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    try:
        with open_dict(cfg):
            del cfg["hydra"]  # what the job's task function gets: the hydra node lives in HydraConfig only
        assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (4, 2)
        with pytest.raises(InterpolationKeyError, match="hydra"):  # the form the launcher file used to suggest
            _ = cfg.wrong
    finally:
        HydraConfig.instance().cfg = previous

"""DDP on 2 CPU processes (gloo), launched by the real CLI: the distributed path for real."""
import json

import pytest

from tests.conftest import SMALL_DCGAN

pytestmark = [pytest.mark.ddp, pytest.mark.slow]


def test_ddp_multirun_keeps_ranks_identical_and_writes_one_folder_per_job(cli, tmp_path):
    result = cli(
        "-m", "trainer=ddp_cpu", "loss=nonsaturating,hinge", "trainer.max_steps=6", "trainer.log_every_n_steps=2",
        "optim.d_steps_per_g_step=2", "trick=[feature_matching,minibatch_discrimination,historical_averaging,virtual_bn]",
        "tricks.minibatch_discrimination.num_kernels=8", "samples.every_n_steps=3",
        "checkpoint.every_n_steps=3", "logger=csv", "trainer.enable_progress_bar=false", "metrics=none", *SMALL_DCGAN,
        "data.batch_size=16", "hydra.sweep.dir=" + str(tmp_path / "sweep"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]  # one folder per job, none per rank
    assert len(list((tmp_path / "sweep").rglob(".hydra"))) == 2 and not (tmp_path / "run").exists()
    for job in jobs:
        consistency = json.loads((job / "rank_consistency.json").read_text())
        assert consistency["world_size"] == 2 and consistency["identical"], consistency
        assert consistency["rng_distinct_per_rank"]  # same weights, but each rank samples its own z
        summary = json.loads((job / "summary.json").read_text())
        assert summary["steps"] == 6 and summary["metrics"]["ranks_identical"] is True
        # rank 0 alone writes samples and checkpoints: one file per interval
        assert [p.name for p in sorted((job / "samples").glob("*.png"))] == ["step_0000003.png", "step_0000006.png"]
        assert sorted(p.name for p in (job / "checkpoints").iterdir()) == ["last.ckpt", "step_0000003.ckpt", "step_0000006.ckpt"]
        assert (job / "train_ddp_process_1.log").exists()  # the second rank logged into the same folder


def test_two_nodes_of_one_process_on_localhost(tmp_path):
    """Multi-node as Lightning sees it: NODE_RANK per process, MASTER_ADDR / MASTER_PORT shared."""
    import os
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "train.py"), "trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2",
               "trainer.max_steps=4", "logger=none", f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false", "metrics=none", *SMALL_DCGAN]
    nodes = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "NODE_RANK": str(n), "LOCAL_RANK": "0"})
        for n in (0, 1)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    consistency = json.loads((run_dir / "rank_consistency.json").read_text())
    assert consistency["world_size"] == 2 and consistency["identical"] and consistency["rng_distinct_per_rank"]


def test_torchrun_launch(tmp_path):
    """torchrun starts the ranks itself (TorchElasticEnvironment); one fixed run folder; WGAN-GP's
    double backward through D's DDP wrapper."""
    import shutil
    import subprocess

    from tests.conftest import ROOT

    run_dir = tmp_path / "run"
    result = subprocess.run(
        [shutil.which("torchrun"), "--nproc_per_node=2", str(ROOT / "train.py"), "trainer=ddp_cpu", "trainer.max_steps=4",
         "loss=wgan_gp", "logger=none", f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false", "metrics=none", *SMALL_DCGAN],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "rank_consistency.json").read_text())["identical"]
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 4


def test_an_ensemble_of_seeds_trains_under_ddp(cli, tmp_path):
    """ensemble.seeds=2 on 2 gloo ranks: every rank holds both members and its share of each member's batch;
    the ranks stay identical, and each member has its own metrics, grid and summary entry."""
    from tests.conftest import SMALL_MLP

    run_dir = tmp_path / "run"
    result = cli("trainer=ddp_cpu", "data=ring8", "model=gan_mlp", *SMALL_MLP, "ensemble.seeds=2", "trainer.max_steps=6",
                 "metrics=classifier", "metrics.num_samples=500", "metrics.every_n_steps=0", "metrics.memorization_samples=0",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=6", "logger=csv", "trainer.enable_progress_bar=false",
                 "data.batch_size=32", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    consistency = json.loads((run_dir / "rank_consistency.json").read_text())
    assert consistency["world_size"] == 2 and consistency["identical"], consistency
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and [m["seed"] for m in summary["members"]] == [0, 1]
    per_member = [m["metrics"]["metrics/modes_covered500"] for m in summary["members"]]
    assert summary["metrics"]["metrics/modes_covered500"] == sum(per_member) / 2
    assert sorted(p.parent.name for p in (run_dir / "samples").glob("member_*/step_*.png")) == ["member_0", "member_1"]

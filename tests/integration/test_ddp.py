"""DDP on 2 CPU processes (gloo), launched by the real CLI: the distributed path for real."""
import json

import pytest

from tests.conftest import SMALL_DCGAN

pytestmark = [pytest.mark.ddp, pytest.mark.slow]


def test_ddp_multirun_keeps_ranks_identical_and_writes_one_folder_per_job(cli, tmp_path):
    result = cli(
        "-m", "trainer=ddp_cpu", "loss=nonsaturating,wgan_gp", "trainer.max_steps=6", "trainer.log_every_n_steps=2",
        "optim.d_steps_per_g_step=2", "trick=[feature_matching,minibatch_discrimination,historical_averaging,virtual_bn]",
        "tricks.minibatch_discrimination.num_kernels=8", "samples.every_n_steps=3",
        "checkpoint.every_n_steps=3", "logger=csv", "trainer.enable_progress_bar=false", *SMALL_DCGAN,
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

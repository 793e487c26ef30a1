"""The real CLI end to end: every model x loss, the outputs contract, W&B offline, multiruns."""
import json
from pathlib import Path

import pytest
import torch

from tests.wandb_offline import history

MODELS = ["dcgan", "dcgan_upsample", "gan_mlp"]
LOSSES = ["minimax", "nonsaturating", "wasserstein", "wgan_gp", "hinge"]
QUICK = ["logger=csv", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "samples.every_n_steps=0",
         "checkpoint.every_n_steps=0", "trainer.log_every_n_steps=1", "trainer.max_steps=2", "data.batch_size=8", "metrics=none"]


def _summaries(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]


@pytest.mark.slow
def test_every_model_and_loss_trains_on_mnist5k_through_a_multirun(cli, tmp_path):
    result = cli("-m", f"model={','.join(MODELS)}", f"loss={','.join(LOSSES)}", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = _summaries(tmp_path / "multirun")
    assert sorted((s["model"], s["loss"]) for s in summaries) == sorted((m, l) for m in MODELS for l in LOSSES)
    for s in summaries:
        assert s["steps"] == 2
        assert all(map(lambda v: abs(v) < 1e6, s["final"].values())) and "train/d_loss" in s["final"]


@pytest.mark.slow
def test_every_loss_and_seed_trains_the_mlp_gan_on_ring8(cli, tmp_path):
    result = cli("-m", "model=gan_mlp", "data=ring8", f"loss={','.join(LOSSES)}", "seed=1,2", *QUICK,
                 "model.generator.hidden=[64,64]", "model.discriminator.hidden=[32,32]", "samples.every_n_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = _summaries(tmp_path / "multirun")
    assert len(summaries) == len(LOSSES) * 2 and {s["seed"] for s in summaries} == {1, 2}
    import csv

    with open(tmp_path / "multirun" / "sweep_summary.csv") as f:  # the sweep's own summary
        rows = list(csv.DictReader(f))
    assert len(rows) == len(LOSSES) * 2 and all(r["status"] == "done" and r["steps"] == "2" for r in rows)
    assert rows[0]["varying"] == "loss=minimax seed=1" and (tmp_path / "multirun" / "sweep_summary.md").exists()
    with open(tmp_path / "multirun" / "sweep_settings.csv") as f:  # seeds of a setting aggregated
        settings = list(csv.DictReader(f))
    assert sorted(r["setting"] for r in settings) == sorted(f"loss={loss}" for loss in LOSSES)
    assert all(r["seeds_done"] == "2" and r["seeds_failed"] == "0" for r in settings)
    scatter = sorted((tmp_path / "multirun").glob("0/samples/step_*.png"))
    assert scatter, "2-D runs draw their samples as a scatter plot"


@pytest.mark.slow
def test_default_run_writes_the_outputs_contract_and_a_readable_wandb_offline_run(cli, tmp_path):
    result = cli("trainer.max_steps=30", "samples.every_n_steps=10", "checkpoint.every_n_steps=15",
                 "trainer.log_every_n_steps=5", "trainer.enable_progress_bar=false",
                 "model.generator.width=8", "model.discriminator.width=8")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / ".hydra" / "config.yaml").is_file() and (run / ".hydra" / "overrides.yaml").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt", "step_0000015.ckpt", "step_0000030.ckpt"]
    assert [p.name for p in sorted((run / "samples").glob("step_*.png"))] == ["step_0000010.png", "step_0000020.png", "step_0000030.png"]
    assert (run / "samples" / "progress.gif").stat().st_size > 0 and (run / "losses.png").stat().st_size > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 30 and summary["images_per_sec"] > 0
    assert summary["last_checkpoint"].endswith("last.ckpt")
    # W&B offline run, read back from disk: the logged metrics and the sample images are there
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and (run / "wandb_id").read_text() in offline[0].name
    rows = history(next(offline[0].glob("run-*.wandb")))
    metric_rows = [r for r in rows if "train/d_loss" in r]
    assert [r["trainer/global_step"] for r in metric_rows] == [4, 9, 14, 19, 24, 29]  # every 5 iterations
    for key in ("train/g_loss", "train/D_x", "train/D_G_z", "train/d_grad_norm", "train/g_grad_norm", "train/images_per_sec"):
        assert all(key in r for r in metric_rows), key
    image_rows = [r for r in rows if r.get("samples/_type") == "images/separated"]
    assert [r["trainer/global_step"] for r in image_rows] == [10, 20, 30]
    for r in image_rows:
        assert (offline[0] / "files" / r["samples/filenames"][0]).is_file()
    # the checkpoint loads safely and holds the config needed to rebuild G
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 30 and ckpt["gan_lab"]["config"]["model"]["name"] == "dcgan_sn"  # the default run's


def test_sample_cli_writes_a_grid_from_a_checkpoint(tmp_path, cfg_factory):
    import subprocess
    import sys

    from gan_lab.runner import run
    from tests.conftest import SMALL_DCGAN

    summary = run(cfg_factory("checkpoint.every_n_steps=2", *SMALL_DCGAN))
    out = tmp_path / "gen"
    result = subprocess.run([sys.executable, "-m", "gan_lab.sample", f"ckpt_path={summary['last_checkpoint']}", "n=10",
                             f"out={out}", "individual=true"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from PIL import Image

    assert Image.open(out / "grid.png").size == (4 * 30 + 2, 3 * 30 + 2)  # 4 x 3 grid of 28 px + padding
    assert len(list(out.glob("sample_*.png"))) == 10

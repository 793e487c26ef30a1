"""trick=packing end to end: PacGAN's m = 2, 3, 4 on ring8 through the CLI, a packed DCGAN with label
smoothing whose checkpoint samples through ``python -m gan_lab.sample`` and rebuilds its packed D, and
the compositions (feature matching, minibatch discrimination, historical averaging, WGAN-GP)."""
import json
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from gan_lab.build import build_players
from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN, SMALL_MLP

QUICK = ["logger=csv", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "samples.every_n_steps=0",
         "trainer.log_every_n_steps=2", "trainer.max_steps=4", "checkpoint.every_n_steps=4", "metrics=none"]


def _finite(summary: dict) -> bool:
    return summary["steps"] == 4 and all(torch.isfinite(torch.tensor(v)) for v in summary["final"].values())


@pytest.mark.slow
def test_pacgan_2_3_4_train_on_ring8_through_the_cli(cli, tmp_path):
    result = cli("-m", "model=gan_mlp", "data=ring8", "trick=packing", "tricks.packing.m=2,3,4", "data.batch_size=48",
                 *QUICK, *SMALL_MLP)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(tmp_path.glob("multirun/*/summary.json"))
    assert len(runs) == 3
    for m, path in zip((2, 3, 4), runs):
        summary = json.loads(path.read_text())
        assert _finite(summary) and summary["tricks"] == ["packing"]
        state = torch.load(summary["last_checkpoint"], weights_only=True)["state_dict"]
        assert state["discriminator.net.body.2.linear.weight"].shape == (16 * 5, 2 * m)  # maxout over m points


@pytest.mark.slow
def test_packed_dcgan_with_label_smoothing_samples_and_rebuilds_from_its_checkpoint(cli, tmp_path):
    result = cli("trick=[packing,label_smoothing]", "data.batch_size=16", *QUICK, *SMALL_DCGAN)  # default data=mnist5k
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert _finite(summary) and summary["tricks"] == ["label_smoothing", "packing"]
    ckpt = summary["last_checkpoint"]

    out = tmp_path / "generated"
    sampled = subprocess.run([sys.executable, "-m", "gan_lab.sample", f"ckpt_path={ckpt}", "n=6", f"out={out}"],
                             capture_output=True, text=True)
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert (out / "grid.png").stat().st_size > 0

    # the config in the checkpoint rebuilds the packed D, which takes the trained weights strictly
    saved = torch.load(ckpt, weights_only=True)
    discriminator = build_players(OmegaConf.create(saved["gan_lab"]["config"])).discriminator
    prefix = "discriminator."
    discriminator.load_state_dict({k[len(prefix):]: v for k, v in saved["state_dict"].items() if k.startswith(prefix)})
    assert discriminator.net.body[0].in_channels == 2 and discriminator.pack_size == 2
    logits, features = discriminator.eval()(torch.zeros(16, 1, 28, 28))
    assert logits.shape == (8,) and features.shape == (8, discriminator.feature_dim)


def test_packing_composes_with_feature_matching_minibatch_discrimination_and_historical_averaging(cfg_factory):
    tricks = "trick=[packing,feature_matching,minibatch_discrimination,historical_averaging,label_smoothing]"
    summary = run(cfg_factory("model=gan_mlp", "data=ring8", tricks, "tricks.packing.m=3", "data.batch_size=24", *SMALL_MLP))
    assert _finite(summary) and "train/g_loss" in summary["final"]


def test_packing_trains_under_wgan_gp_with_a_per_pack_penalty(cfg_factory):
    summary = run(cfg_factory("model=gan_mlp", "data=ring8", "loss=wgan_gp", "trick=packing", "tricks.packing.m=4",
                              "data.batch_size=32", *SMALL_MLP))
    assert _finite(summary)

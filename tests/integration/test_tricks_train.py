"""All five Improved-GAN tricks compose and train, through the CLI too."""
import json

import pytest
import torch

from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN, SMALL_MLP

ALL = "trick=[feature_matching,minibatch_discrimination,historical_averaging,label_smoothing,virtual_bn]"


def test_all_five_tricks_train_together_on_mnist5k_and_save_their_state(cfg_factory, tmp_path):
    summary = run(cfg_factory(ALL, "data.batch_size=16", "checkpoint.every_n_steps=4", *SMALL_DCGAN))
    assert summary["steps"] == 4 and summary["tricks"] == sorted(ALL[7:-1].split(","))
    assert all(torch.isfinite(torch.tensor(v)) for v in summary["final"].values())
    ckpt = torch.load(summary["last_checkpoint"], weights_only=True)
    ha = ckpt["gan_lab"]["tricks"]["historical_averaging"]
    assert ha["counts"] == {"d": 5, "g": 5}  # theta[0] and 4 updates of each player
    assert ckpt["state_dict"]["generator.vbn_reference_z"].shape == (16, 100)
    assert ckpt["state_dict"]["discriminator.head.md.theta"].shape[1:] == (100, 5)  # the minibatch layer
    assert bool(ckpt["state_dict"]["discriminator.head.initialized"])  # its data-dependent init travels too


def test_all_five_tricks_train_together_on_ring8(cfg_factory):
    summary = run(cfg_factory("model=gan_mlp", "data=ring8", ALL, *SMALL_MLP, "model.generator.batch_norm=true", "data.batch_size=32"))
    assert summary["steps"] == 4


@pytest.mark.slow
def test_trick_glob_sweeps_every_trick(cli, tmp_path):
    result = cli("-m", "trick=glob(*)", "logger=csv", "trainer.max_steps=2", "samples.every_n_steps=0",
                 "checkpoint.every_n_steps=0", "trainer.enable_progress_bar=false", "data.batch_size=8", "metrics=none", *SMALL_DCGAN)
    assert result.returncode == 0, result.stderr[-3000:]
    tricks = sorted(json.loads(p.read_text())["tricks"][0] for p in (tmp_path / "multirun").glob("*/summary.json"))
    assert tricks == ["feature_matching", "historical_averaging", "label_smoothing", "minibatch_discrimination", "packing", "virtual_bn"]


@pytest.mark.slow
def test_improved_gan_ablation_preset_runs_the_table_3_rows(cli, tmp_path):
    result = cli("experiment=improved_gan_ablation", "data=mnist5k", "logger=none", "trainer.max_steps=2",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=0", "trainer.enable_progress_bar=false",
                 "data.batch_size=16", "metrics=none", *SMALL_DCGAN)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads((tmp_path / "multirun" / str(i) / "summary.json").read_text())["tricks"] for i in range(6)]
    assert rows == [
        ["label_smoothing", "minibatch_discrimination", "virtual_bn"],
        ["label_smoothing", "minibatch_discrimination"],
        ["historical_averaging", "label_smoothing", "minibatch_discrimination", "virtual_bn"],
        ["minibatch_discrimination", "virtual_bn"],
        ["label_smoothing", "virtual_bn"],
        [],
    ]

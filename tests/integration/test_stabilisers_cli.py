"""The D stabilisers train for 4 steps, alone, together with the Improved-GAN tricks through the real CLI,
under bf16 autocast on CPU, and their nets come back from the checkpoint."""
import json

import pytest
import torch

from gan_lab.checkpoints import load_checkpoint
from gan_lab.runner import build_run, run
from tests.conftest import SMALL_DCGAN

STABILISERS = {
    "diffaugment": ["augment=diffaugment"],
    "spectral_norm": ["model.discriminator.spectral_norm=true"],
    "r1": ["loss.r1_gamma=10", "loss.r1_interval=2"],
    "ttur": ["optim=ttur"],
}


@pytest.mark.parametrize("name", list(STABILISERS))
def test_each_stabiliser_trains_four_steps_and_its_checkpoint_rebuilds_d(name, cfg_factory):
    summary = run(cfg_factory(*STABILISERS[name], "data.batch_size=8", "checkpoint.every_n_steps=4", *SMALL_DCGAN))
    assert summary["steps"] == 4 and all(torch.isfinite(torch.tensor(v)) for v in summary["final"].values())
    ckpt = load_checkpoint(summary["last_checkpoint"])
    keys = set(ckpt["state_dict"])
    assert ("discriminator.body.0.parametrizations.weight.original" in keys) == (name == "spectral_norm")
    # the config travels in the checkpoint and the builder rebuilds the same D (strict load)
    from omegaconf import OmegaConf

    from gan_lab.build import build_players

    d = build_players(OmegaConf.create(ckpt["gan_lab"]["config"])).discriminator
    prefix = "discriminator."
    d.load_state_dict({k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
    assert (getattr(d, "augment", None) is not None) == (name == "diffaugment")


def test_diffaugment_sees_real_and_fake_in_d_step_and_g_step_under_feature_matching(cfg_factory):
    built = build_run(cfg_factory("augment=diffaugment", "trick=[feature_matching]", "data.batch_size=8", "trainer.max_steps=1", *SMALL_DCGAN))
    batches = []
    built.module.discriminator.augment.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
    built.trainer.fit(built.module, datamodule=built.datamodule)
    assert batches == [8, 8, 16]  # D's step: real, fake; G's step: [real; fake] in one forward


def test_all_stabilisers_compose_with_label_smoothing_and_feature_matching_through_the_cli(cli, tmp_path):
    result = cli("augment=diffaugment", "model.discriminator.spectral_norm=true", "loss.r1_gamma=10", "loss.r1_interval=2",
                 "optim=ttur", "trick=[label_smoothing,feature_matching]", "logger=csv", "trainer.max_steps=4",
                 "trainer.log_every_n_steps=2", "samples.every_n_steps=0", "checkpoint.every_n_steps=4",
                 "trainer.enable_progress_bar=false", "metrics=none", "data.batch_size=8", *SMALL_DCGAN)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["tricks"] == ["feature_matching", "label_smoothing"]
    assert summary["augment"] == ["color", "translation", "cutout"]  # the policy D's inputs got
    config = load_checkpoint(summary["last_checkpoint"])["gan_lab"]["config"]
    assert config["augment"]["policy"] == ["color", "translation", "cutout"] and config["loss"]["r1_gamma"] == 10
    assert config["model"]["discriminator"]["spectral_norm"] and config["optim"]["d"]["lr"] == 3e-4


@pytest.mark.parametrize("overrides", [
    ["loss.r1_gamma=10", "loss.r1_interval=1"],
    ["loss=wgan_gp", "augment=diffaugment"],
], ids=["r1", "wgan_gp+diffaugment"])
def test_double_backward_under_bf16_autocast_on_cpu(overrides, cfg_factory):
    summary = run(cfg_factory(*overrides, "trainer.precision=bf16-mixed", "data.batch_size=8", *SMALL_DCGAN))
    assert summary["steps"] == 4 and all(torch.isfinite(torch.tensor(v)) for v in summary["final"].values())

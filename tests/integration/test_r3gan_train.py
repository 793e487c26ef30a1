"""`python train.py model=r3gan loss=rpgan` trains a few steps through the real build path (gan_lab.runner.run)
and writes a checkpoint that rebuilds the trained G."""

import torch

from gan_lab.checkpoints import generator_from_checkpoint
from gan_lab.nets.r3gan import R3GANGenerator
from gan_lab.runner import run
from tests.conftest import compose_cfg


def test_model_r3gan_with_loss_rpgan_trains_and_writes_a_checkpoint(tmp_path, gan_lab_cache):
    # compose_cfg puts experiment=dcgan first, as every test; model=r3gan and R3GAN's optimiser come after it
    cfg = compose_cfg(["model=r3gan", "loss=rpgan", "optim=r3gan", "data.batch_size=16", "trainer.max_steps=3",
                       "checkpoint.every_n_steps=3"], run_dir=tmp_path / "run")
    assert cfg.optim.g.betas == [0.0, 0.99] and cfg.loss.gamma == 0.05
    summary = run(cfg)
    assert summary["steps"] == 3 and summary["loss"] == "rpgan" and summary["model"] == "r3gan"
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    generator, _ = generator_from_checkpoint(str(ckpt))
    assert isinstance(generator, R3GANGenerator)
    with torch.no_grad():
        assert torch.isfinite(generator(generator.sample_z(4))).all()


def test_model_r3gan_selects_its_optimiser():
    cfg = compose_cfg(["model=r3gan"], fast=False)
    assert cfg.optim.g.lr == 2e-4 and cfg.optim.d.betas == [0.0, 0.99]

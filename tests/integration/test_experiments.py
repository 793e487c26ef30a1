"""The paper presets compose to the papers' hyper-parameters and train."""
import torch

from gan_lab.runner import build_run
from tests.conftest import SMALL_DCGAN


def test_wgan_preset_is_arjovsky_algorithm_1(cfg_factory):
    cfg = cfg_factory("experiment=wgan", "trainer.max_steps=5", *SMALL_DCGAN)
    assert cfg.loss._target_ == "gan_lab.losses.Wasserstein" and cfg.loss.clip == 0.01
    assert cfg.optim.d_steps_per_g_step == 5 and cfg.name == "wgan"
    run = build_run(cfg)
    run.trainer.fit(run.module, datamodule=run.datamodule)
    d_opt, g_opt = run.trainer.optimizers
    assert isinstance(d_opt, torch.optim.RMSprop) and d_opt.defaults["lr"] == 5e-5
    assert max(p.abs().max().item() for p in run.module.discriminator.parameters()) <= 0.01 + 1e-7  # clipped
    assert len(g_opt.state) > 0 and all(s["step"] == 1 for s in g_opt.state.values())  # one G step in 5 iterations


def test_wgan_gp_preset_is_gulrajani_algorithm_1(cfg_factory):
    cfg = cfg_factory("experiment=wgan_gp", "trainer.max_steps=5", *SMALL_DCGAN)
    assert cfg.loss.gp_weight == 10.0 and cfg.optim.d_steps_per_g_step == 5
    run = build_run(cfg)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in run.module.discriminator.modules())
    run.trainer.fit(run.module, datamodule=run.datamodule)
    d_opt = run.trainer.optimizers[0]
    assert isinstance(d_opt, torch.optim.Adam) and d_opt.defaults["lr"] == 1e-4 and d_opt.defaults["betas"] == (0.0, 0.9)


def test_loss_wgan_gp_alone_switches_the_critic_to_layer_norm(cfg_factory):
    run = build_run(cfg_factory("loss=wgan_gp", *SMALL_DCGAN))
    assert any(isinstance(m, torch.nn.GroupNorm) for m in run.module.discriminator.modules())

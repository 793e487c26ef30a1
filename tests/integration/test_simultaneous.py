"""``optim.simultaneous=true``: G's gradient is taken at D's parameters before D's step (ALI's / PacGAN's
simultaneous updates), so after one iteration G does not depend on D's learning rate; with the default
alternating updates (Goodfellow et al. 2014, Algorithm 1) it does."""
import pytest
import torch

from gan_lab.errors import ConfigError
from gan_lab.runner import build_run
from tests.conftest import SMALL_MLP, compose_cfg

COMMON = ["model=gan_mlp", "data=ring8", *SMALL_MLP, "model.discriminator.input_dropout=0", "model.discriminator.dropout=0",
          "trainer.max_steps=1", "logger=none"]


def _generator_after_one_step(tmp_path, name, overrides):
    run = build_run(compose_cfg([*COMMON, *overrides], run_dir=tmp_path / name))
    run.trainer.fit(run.module, datamodule=run.datamodule)
    return {k: v.clone() for k, v in run.module.generator.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_simultaneous_updates_take_g_gradient_before_d_step(tmp_path):
    slow_d, fast_d = "optim.d.lr=1e-6", "optim.d.lr=0.5"
    sim = [_generator_after_one_step(tmp_path, f"sim{i}", ["optim.simultaneous=true", lr]) for i, lr in enumerate((slow_d, fast_d))]
    alt = [_generator_after_one_step(tmp_path, f"alt{i}", [lr]) for i, lr in enumerate((slow_d, fast_d))]
    assert _same(*sim)
    assert not _same(*alt)


def test_simultaneous_must_be_a_switch(tmp_path):
    with pytest.raises(ConfigError, match="optim.simultaneous=yes: use true or false"):
        build_run(compose_cfg([*COMMON, "optim.simultaneous=yes"], run_dir=tmp_path / "x"))

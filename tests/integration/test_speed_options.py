"""Speed options (issue 12 item 3): every loss and trick trains under bf16 autocast on the CPU (what
``trainer.precision=bf16-mixed`` does on a GPU), and ``model.channels_last`` / ``model.compile`` train,
compute the same losses as a plain run and write checkpoints that plain nets load.

R1 and WGAN-GP + DiffAugment under bf16 are in ``test_stabilisers_cli.py``; WGAN-GP here runs with
trick=packing (the penalty per pack) instead of repeating them.
"""
import json
import logging
import shutil

import pytest
import torch

from gan_lab.build import cpp_compiler
from gan_lab.checkpoints import generator_from_checkpoint, load_checkpoint
from gan_lab.errors import ConfigError
from gan_lab.runner import build_run, run
from tests.conftest import SMALL_DCGAN, SMALL_MLP, compose_cfg

TWO_STEPS = ["trainer.max_steps=2", "data.batch_size=8", *SMALL_DCGAN]  # log_every_n_steps=2 (FAST): step 2 is logged
LOSSES = {
    "minimax": ["loss=minimax"],
    "nonsaturating": ["loss=nonsaturating"],
    "wasserstein": ["loss=wasserstein"],
    "hinge": ["loss=hinge"],
    "wgan_gp+packing": ["loss=wgan_gp", "trick=[packing]"],
}
TRICKS = ["label_smoothing", "feature_matching", "minibatch_discrimination", "historical_averaging", "virtual_bn", "packing"]


def _finite(summary: dict) -> bool:
    return all(torch.isfinite(torch.tensor(v)) for v in summary["final"].values())


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_trains_two_steps_under_bf16_autocast_on_cpu(name, cfg_factory):
    summary = run(cfg_factory(*LOSSES[name], "trainer.precision=bf16-mixed", *TWO_STEPS))
    assert summary["steps"] == 2 and _finite(summary) and "train/g_loss" in summary["final"]


@pytest.mark.parametrize("trick", TRICKS)
def test_every_trick_trains_two_steps_under_bf16_autocast_on_cpu(trick, cfg_factory):
    summary = run(cfg_factory(f"trick=[{trick}]", "trainer.precision=bf16-mixed", *TWO_STEPS))
    assert summary["steps"] == 2 and _finite(summary) and summary["tricks"] == [trick]


def test_bf16_autocast_rounds_the_losses_but_stays_near_float32(cfg_factory, tmp_path):
    """Autocast really runs D in bf16 (8 bits of mantissa: the losses differ from float32) and the step-2
    losses stay within bf16's rounding of float32's (relative 2^-8 per op, a few ops deep)."""
    fp32 = run(cfg_factory(*TWO_STEPS))["final"]
    bf16 = run(compose_cfg(["trainer.precision=bf16-mixed", *TWO_STEPS], run_dir=tmp_path / "bf16"))["final"]
    for key in ("train/d_loss", "train/g_loss"):
        assert bf16[key] != fp32[key] and bf16[key] == pytest.approx(fp32[key], rel=0.05)


def test_channels_last_trains_the_same_losses_and_its_checkpoint_loads_into_a_plain_generator(cfg_factory, tmp_path):
    plain = run(cfg_factory(*TWO_STEPS))["final"]
    built = build_run(compose_cfg(["model.channels_last=true", "checkpoint.every_n_steps=2", *TWO_STEPS],
                                  run_dir=tmp_path / "nhwc"))
    built.trainer.fit(built.module, datamodule=built.datamodule)
    final = {k: float(v) for k, v in built.trainer.callback_metrics.items()}
    for key in ("train/d_loss", "train/g_loss", "train/D_x", "train/D_G_z"):  # same maths, other memory order
        assert final[key] == pytest.approx(plain[key], abs=1e-5)
    state = load_checkpoint(tmp_path / "nhwc" / "checkpoints" / "last.ckpt")["state_dict"]
    weights = {k: v for k, v in state.items() if v.dim() == 4}
    assert len(weights) == 5 and all(v.is_contiguous(memory_format=torch.channels_last) for v in weights.values())
    generator, cfg = generator_from_checkpoint(tmp_path / "nhwc" / "checkpoints" / "last.ckpt")  # strict load
    assert cfg.model.channels_last and generator.net[1].weight.is_contiguous()  # rebuilt plain: NCHW weights
    z = built.module.fixed_z[:8]
    torch.testing.assert_close(generator(z), built.module.generate(z, ema=False), atol=1e-6, rtol=1e-5)


def test_channels_last_is_a_logged_no_op_for_an_mlp_on_2d_points(cfg_factory, caplog):
    with caplog.at_level(logging.INFO, logger="gan_lab"):
        built = build_run(cfg_factory("model=gan_mlp", "data=ring8", "model.channels_last=true", "trainer.max_steps=2",
                                      "data.batch_size=8", *SMALL_MLP))
        built.trainer.fit(built.module, datamodule=built.datamodule)
    assert built.trainer.global_step == 2 and not built.module.channels_last
    assert "model.channels_last=true: G and D have no convolutions" in caplog.text


@pytest.mark.parametrize("key", ["compile", "channels_last"])
def test_a_speed_option_that_is_not_a_boolean_is_one_line(key, cfg_factory):
    with pytest.raises(ConfigError, match=rf"^model\.{key}=1: use true or false$"):
        build_run(cfg_factory(f"model.{key}=1", *TWO_STEPS))


def test_compile_with_a_gradient_penalty_is_refused_where_torch_cannot_run_it_eagerly(cfg_factory, monkeypatch):
    """torch 2.4 / 2.5 (the supported range's oldest) have no ``torch.compiler.set_stance``."""
    monkeypatch.delattr(torch.compiler, "set_stance")
    with pytest.raises(ConfigError, match=r"^model\.compile=true with loss=wgan_gp's gradient penalty .* set model\.compile=false$"):
        build_run(cfg_factory("model.compile=true", "loss=wgan_gp", *TWO_STEPS))
    build_run(cfg_factory("model.compile=true", *TWO_STEPS))  # without a penalty nothing needs it


def test_compile_on_a_cpu_without_a_cpp_compiler_is_one_line_before_training(cfg_factory, monkeypatch, tmp_path):
    """Compiled kernels are C++ on the CPU (Inductor's, minibatch discrimination's own): without g++ a compiled run stops at the build with one line, not at the first
    iteration with Inductor's trace; each compile switch that is on is named, and what to set instead."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(ConfigError, match=r"^model\.compile=true and tricks\.minibatch_discrimination\.compile=true: compiled kernels "
                                          r"on the CPU are C\+\+ .* no C\+\+ compiler was found .* set model\.compile=false and "
                                          r"tricks\.minibatch_discrimination\.compile=false$"):
        build_run(cfg_factory("model.compile=true", "trick=minibatch_discrimination", "tricks.minibatch_discrimination.compile=true",
                              "trainer.accelerator=cpu", *TWO_STEPS))
    assert not (tmp_path / "run" / "checkpoints").exists()
    build_run(cfg_factory("trainer.accelerator=cpu", *TWO_STEPS))  # nothing compiled: nothing needed


# ---- torch.compile: inductor writes C++ and needs a compiler ---------------------------------------
needs_compiler = pytest.mark.skipif(cpp_compiler() is None,
                                    reason="torch.compile's inductor backend needs a C++ compiler (g++) on the CPU")


def _state_keys(path) -> list[str]:
    return sorted(load_checkpoint(path)["state_dict"])


@pytest.fixture
def fresh_dynamo():
    """Dynamo keeps at most 8 compiled versions of one function (``Module._call_impl``, shared by every
    net): each compile test starts from none, so none of them silently falls back to eager."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    yield counters
    torch._dynamo.reset()


@needs_compiler
@pytest.mark.slow  # 30-50 s with a cold inductor cache (compiling G and D), ~4 s warm
def test_compile_trains_the_same_losses_and_keeps_the_state_dict_keys(tmp_path, fresh_dynamo):
    """``nn.Module.compile()`` compiles in place: no ``_orig_mod.`` keys, and the compiled D and G compute
    the uncompiled run's losses (same seed) up to float reassociation."""
    plain = run(compose_cfg(["checkpoint.every_n_steps=2", *TWO_STEPS], run_dir=tmp_path / "plain"))
    built = build_run(compose_cfg(["model.compile=true", "checkpoint.every_n_steps=2", *TWO_STEPS],
                                  run_dir=tmp_path / "compiled"))
    built.trainer.fit(built.module, datamodule=built.datamodule)
    assert built.module.generator._compiled_call_impl is not None and built.module.discriminator._compiled_call_impl is not None
    assert fresh_dynamo["stats"]["unique_graphs"] >= 3  # G, D, D with frozen weights (at least): compiled for real
    final = {k: float(v) for k, v in built.trainer.callback_metrics.items()}
    for key in ("train/d_loss", "train/g_loss"):
        assert final[key] == pytest.approx(plain["final"][key], abs=1e-4)
    compiled_ckpt = tmp_path / "compiled" / "checkpoints" / "last.ckpt"
    assert _state_keys(compiled_ckpt) == _state_keys(plain["last_checkpoint"])
    assert not any("_orig_mod" in k for k in _state_keys(compiled_ckpt))
    generator, _ = generator_from_checkpoint(compiled_ckpt)  # a plain G takes the compiled run's weights (strict)
    assert generator._compiled_call_impl is None


@needs_compiler
@pytest.mark.slow  # 13-50 s each with a cold inductor cache
@pytest.mark.parametrize("overrides", [
    ["loss=wgan_gp", "trainer.precision=bf16-mixed"],
    ["loss.r1_gamma=10", "loss.r1_interval=1", "model.channels_last=true"],
], ids=["wgan_gp+bf16", "r1+channels_last"])
def test_compile_with_a_gradient_penalty_runs_the_penalty_eagerly(overrides, cfg_factory, fresh_dynamo):
    """Inductor raises on double backward ("torch.compile with aot_autograd does not currently support double
    backward"): the penalty's D forward runs under ``force_eager``, the rest stays compiled."""
    summary = run(cfg_factory("model.compile=true", *overrides, *TWO_STEPS))
    assert summary["steps"] == 2 and _finite(summary) and fresh_dynamo["stats"]["unique_graphs"] >= 3


@needs_compiler
@pytest.mark.ddp
@pytest.mark.slow  # two processes compiling: ~40-60 s
def test_compile_and_channels_last_under_per_player_ddp_keep_the_ranks_identical(cli, tmp_path):
    """GANDDPStrategy wraps the compiled, NHWC nets (GAN.configure_model runs before the Trainer's DDP setup);
    each rank draws its own z, so identical weights after 4 steps mean the gradients were all-reduced."""
    result = cli("trainer=ddp_cpu", "model.compile=true", "model.channels_last=true", "trainer.max_steps=4",
                 "trainer.log_every_n_steps=2", "samples.every_n_steps=0", "checkpoint.every_n_steps=4", "logger=csv",
                 "trainer.enable_progress_bar=false", "metrics=none", "data.batch_size=8", *SMALL_DCGAN)
    assert result.returncode == 0, result.stderr[-3000:]
    consistency = json.loads((tmp_path / "run" / "rank_consistency.json").read_text())
    assert consistency["world_size"] == 2 and consistency["identical"] and consistency["rng_distinct_per_rank"]
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    assert not any("_orig_mod" in k or "module." in k for k in state)

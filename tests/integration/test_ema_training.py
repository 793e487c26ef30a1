"""The averaged G (``ema=``) in training: updated after each G step with the global batch, leaving
G's training unchanged, used by samples and metrics with statistics of its own, kept exactly through
checkpoints and resume."""
import lightning as L
import pytest
import torch

from gan_lab.checkpoints import generator_from_checkpoint
from gan_lab.errors import ConfigError
from gan_lab.runner import build_run, run
from tests.conftest import SMALL_DCGAN, compose_cfg


def _fit(tmp_path, name, overrides):
    built = build_run(compose_cfg(overrides, run_dir=tmp_path / name))
    built.trainer.fit(built.module, datamodule=built.datamodule, ckpt_path=built.ckpt_path)
    return built


class RecordG(L.Callback):
    """G's parameters after every iteration."""

    def __init__(self) -> None:
        self.params: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.params.append([p.detach().clone() for p in module.generator.parameters()])


@pytest.mark.parametrize("k", [1, 2])
def test_training_averages_g_after_each_g_step_with_the_global_batch(tmp_path, k):
    cfg = compose_cfg([*SMALL_DCGAN, "data.batch_size=32", "trainer.max_steps=6", f"optim.d_steps_per_g_step={k}",
                       "ema=default", "ema.half_life_kimg=0.064", "ema.rampup=0.5"], run_dir=tmp_path / "run")
    built = build_run(cfg)
    record = RecordG()
    built.trainer.callbacks.append(record)
    initial = [p.detach().clone() for p in built.module.generator.parameters()]
    built.trainer.fit(built.module, datamodule=built.datamodule)
    average = initial
    for number in range(k, 7, k):  # G steps at iterations k, 2k, ...; 32 images an iteration
        ema_nimg = min(64.0, (number - 1) * 32 * 0.5)
        beta = 0.5 ** (32 * k / max(ema_nimg, 1e-8))
        average = [p + beta * (a - p) for a, p in zip(average, record.params[number - 1])]
    for expected, actual in zip(average, built.module.generator_ema.parameters()):
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


def test_the_average_leaves_training_unchanged(tmp_path):
    common = [*SMALL_DCGAN, "trainer.max_steps=4", "samples.every_n_steps=2"]  # grids use the average
    plain = _fit(tmp_path, "plain", common)
    averaged = _fit(tmp_path, "averaged", [*common, "ema=default"])
    assert plain.module.generator_ema is None and averaged.module.generator_ema is not None
    for key, value in plain.module.state_dict().items():
        assert torch.equal(value, averaged.module.state_dict()[key]), key  # no RNG drawn, no weight touched


def test_generate_uses_the_average_with_its_own_statistics_unless_asked_for_g(tmp_path):
    built = _fit(tmp_path, "run", [*SMALL_DCGAN, "trainer.max_steps=3", "ema=default"])
    module = built.module
    z = torch.randn(8, 100)
    assert not module.ema.stale  # the end-of-run sample grid used the average
    module.ema.update(module.generator_ema, module.generator, cur_nimg=10_000, images=64)  # G's statistics copied
    samples = module.generate(z)
    assert not module.ema.stale and module.generator_ema.training  # recomputed; the mode restored
    g_stats, ema_stats = module.generator.net[2].running_mean, module.generator_ema.net[2].running_mean
    assert not torch.allclose(g_stats, ema_stats)
    module.generator_ema.eval()
    torch.testing.assert_close(samples, module.generator_ema(z))
    torch.testing.assert_close(module.generate(z, ema=False), module.generator.eval()(z))
    assert not torch.allclose(samples, module.generate(z, ema=False))


def test_checkpoint_round_trip_and_resume_keep_the_average_exactly(tmp_path):
    common = [*SMALL_DCGAN, "data.batch_size=64", "checkpoint.every_n_steps=3", "ema=default", "ema.half_life_kimg=0.5"]
    full = _fit(tmp_path, "full", [*common, "trainer.max_steps=6"])
    _fit(tmp_path, "first_half", [*common, "trainer.max_steps=3"])
    ckpt = tmp_path / "first_half" / "checkpoints" / "last.ckpt"
    resumed = _fit(tmp_path, "resumed", [*common, "trainer.max_steps=6", f"ckpt_path={ckpt}"])
    expected, actual = full.module.state_dict(), resumed.module.state_dict()
    ema_keys = [key for key in expected if key.startswith("generator_ema.")]
    assert ema_keys and expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key

    # the checkpoint holds the average with its recomputed statistics; generator_from_checkpoint gives it
    last = tmp_path / "full" / "checkpoints" / "last.ckpt"
    full.module.ema.refresh_statistics(full.module.generator_ema)
    averaged, _ = generator_from_checkpoint(last)
    raw, _ = generator_from_checkpoint(last, ema=False)
    assert averaged.averaged and not raw.averaged
    assert not torch.allclose(averaged.net[2].running_mean, raw.net[2].running_mean)  # statistics of its own
    for (name, value), reference in zip(averaged.state_dict().items(), full.module.generator_ema.state_dict().values()):
        assert torch.equal(value, reference), name
    for (name, value), reference in zip(raw.state_dict().items(), full.module.generator.state_dict().values()):
        assert torch.equal(value, reference), name


def test_checkpoints_without_an_average_sample_g_and_refuse_ema_true(tmp_path):
    summary = run(compose_cfg([*SMALL_DCGAN, "checkpoint.every_n_steps=2"], run_dir=tmp_path / "run"))
    generator, _ = generator_from_checkpoint(summary["last_checkpoint"])
    assert not generator.averaged and summary["ema"] is None
    with pytest.raises(ConfigError, match="use_ema=true: .* holds no averaged G"):
        generator_from_checkpoint(summary["last_checkpoint"], ema=True)
    # resuming it with ema on starts the average from its G
    resumed = _fit(tmp_path, "resumed", [*SMALL_DCGAN, "trainer.max_steps=4", "ema=default",
                                         f"ckpt_path={summary['last_checkpoint']}"])
    assert resumed.trainer.global_step == 4 and resumed.module.generator_ema is not None

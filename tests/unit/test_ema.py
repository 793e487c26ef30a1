"""The averaged G (``ema=``): stylegan2-ada's EMA schedule, BatchNorm statistics of its own,
checkpoints and resume, and what samples and metrics use."""
import lightning as L
import pytest
import torch
from torch import nn

from gan_lab.checkpoints import generator_from_checkpoint
from gan_lab.errors import ConfigError
from gan_lab.nets import MLPGenerator
from gan_lab.nets.ema import GeneratorEMA
from gan_lab.runner import build_run, run
from tests.conftest import SMALL_DCGAN, compose_cfg


class Scalar(nn.Module):
    """One parameter theta and one buffer, to follow the average by hand."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([value]))
        self.register_buffer("count", torch.tensor([value]))


def test_beta_follows_stylegan2_ada_half_life_and_rampup():
    ema = GeneratorEMA(half_life_kimg=0.1, rampup=0.5)  # 100 images; half-life <= half the images seen
    # cur_nimg 0: ema_nimg = min(100, 0) = 0 -> beta = 0.5 ** (100 / 1e-8) = 0 (the average starts at G)
    assert ema.beta(cur_nimg=0, images=100) == 0.0
    assert ema.beta(cur_nimg=100, images=100) == 0.25  # ema_nimg = min(100, 50) = 50: 0.5 ** 2
    assert ema.beta(cur_nimg=200, images=100) == 0.5  # ema_nimg = min(100, 100): one half-life
    assert ema.beta(cur_nimg=10_000, images=100) == 0.5
    assert GeneratorEMA(half_life_kimg=0.1, rampup=None).beta(cur_nimg=0, images=25) == 0.5 ** 0.25
    assert GeneratorEMA(half_life_kimg=10, rampup=0.05).beta(cur_nimg=64_000, images=64) == 0.5 ** (64 / 3200)


def test_averaged_weights_equal_the_closed_form_and_buffers_are_copied():
    ema = GeneratorEMA(half_life_kimg=0.1, rampup=0.5)
    net, average = Scalar(0.0), Scalar(-7.0)
    betas = []
    for t in (1, 2, 3, 4):  # G's parameter after its t-th step is t; batches of 100 images
        net.theta.data.fill_(t)
        net.count.fill_(10 * t)
        betas.append(ema.update(average, net, cur_nimg=(t - 1) * 100, images=100))
    assert betas == [0.0, 0.25, 0.5, 0.5]
    # 1 -> 0.25 * 1 + 0.75 * 2 = 1.75 -> 0.5 * 1.75 + 0.5 * 3 = 2.375 -> 0.5 * 2.375 + 0.5 * 4 = 3.1875
    assert average.theta.item() == 3.1875
    assert average.count.item() == 40.0  # buffers: G's, copied


@pytest.mark.parametrize("options, message", [
    ({"half_life_kimg": -1}, "ema.half_life_kimg=-1"), ({"rampup": 0}, "ema.rampup=0"),
    ({"stat_batches": -2}, "ema.stat_batches=-2"), ({"stat_batch_size": 1}, "ema.stat_batch_size=1"),
])
def test_bad_ema_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        GeneratorEMA(**options)


def test_batchnorm_statistics_of_the_average_are_recomputed_by_hand_on_the_same_z():
    torch.manual_seed(0)
    generator = MLPGenerator(image_size=None, channels=None, z_dim=4, hidden=[8, 6], batch_norm=True)
    generator.train()
    for _ in range(3):  # G's own running statistics, from its own batches
        generator(torch.randn(16, 4) * 3)
    ema = GeneratorEMA(half_life_kimg=1, stat_batches=3, stat_batch_size=5, seed=11)
    average = GeneratorEMA.copy_of(generator).eval()
    with torch.no_grad():
        for p in average.parameters():
            p.add_(0.1 * torch.randn_like(p))  # the averaged weights differ from G's
    assert ema.refresh_statistics(average)

    linear1, bn1, _, linear2, bn2 = list(average.net)[:5]
    gen = torch.Generator().manual_seed(11)
    zs = [torch.randn(5, 4, generator=gen) for _ in range(3)]
    means1, vars1, means2, vars2 = [], [], [], []
    with torch.no_grad():
        for z in zs:
            h1 = z @ linear1.weight.T + linear1.bias  # [5, 8]
            means1.append(h1.mean(0))
            vars1.append(h1.var(0, unbiased=True))  # running_var: unbiased batch variance
            a1 = torch.relu((h1 - h1.mean(0)) / torch.sqrt(h1.var(0, unbiased=False) + bn1.eps) * bn1.weight + bn1.bias)
            h2 = a1 @ linear2.weight.T + linear2.bias  # [5, 6]: layer 1 normalised by its batch statistics
            means2.append(h2.mean(0))
            vars2.append(h2.var(0, unbiased=True))
    # momentum=None: the plain average over the 3 batches
    torch.testing.assert_close(bn1.running_mean, torch.stack(means1).mean(0))
    torch.testing.assert_close(bn1.running_var, torch.stack(vars1).mean(0))
    torch.testing.assert_close(bn2.running_mean, torch.stack(means2).mean(0))
    torch.testing.assert_close(bn2.running_var, torch.stack(vars2).mean(0))
    assert int(bn1.num_batches_tracked) == 3 and bn1.momentum == 0.1 and not average.training  # eval mode restored
    assert not torch.allclose(bn1.running_mean, generator.net[1].running_mean, atol=1e-3)  # not G's copied

    assert not ema.refresh_statistics(average)  # unchanged weights: nothing recomputed
    ema.update(average, generator, cur_nimg=10_000, images=64)  # buffers copied from G: stale
    assert torch.equal(bn1.running_mean, generator.net[1].running_mean)
    assert ema.refresh_statistics(average)
    copying = GeneratorEMA(half_life_kimg=1, stat_batches=0)  # stylegan2-ada's behaviour: G's statistics
    copying.update(average, generator, cur_nimg=10_000, images=64)
    assert not copying.refresh_statistics(average) and torch.equal(bn1.running_mean, generator.net[1].running_mean)


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

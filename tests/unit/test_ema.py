"""The averaged G (``ema=``), by hand: stylegan2-ada's EMA schedule, the closed form of the average,
BatchNorm statistics of its own, bad options. Training with it: tests/integration/test_ema_training.py."""
import pytest
import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.nets import MLPGenerator
from gan_lab.ema import GeneratorEMA


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

"""data=stacked_mnist and its mode count (VEEGAN §5.2, PacGAN §5.2), on hand-built stacks."""
import math

import pytest
import torch
from torch import nn

from gan_lab.data.stacked import StackedMNIST, stack_digits
from gan_lab.errors import ConfigError
from gan_lab.metrics.stacked import ModeHistogram, channel_digits, histogram_metrics, modes_of


def test_stacks_put_three_independent_digits_in_the_channels_and_label_the_mode():
    """Digit i is an image of constant value i (its class i % 10): each channel of a stack tells which
    digit was drawn, and the label is 100 r + 10 g + b of their classes."""
    digits = torch.arange(30, dtype=torch.float32).view(30, 1, 1, 1).expand(30, 1, 4, 4).clone()
    labels = torch.arange(30) % 10
    images, modes = stack_digits(digits, labels, 5000, torch.Generator().manual_seed(0))
    assert images.shape == (5000, 3, 4, 4)
    picks = images[:, :, 0, 0].long()  # [N, 3]: which digit each channel holds
    assert torch.equal(modes, (picks % 10) @ torch.tensor([100, 10, 1]))
    assert (images == images[:, :, :1, :1]).all()  # each channel is one whole digit
    assert not torch.equal(picks[:, 0], picks[:, 1])  # drawn independently, not the same digit thrice
    # every digit is drawn in every channel, about equally (5000 / 30 = 167 each)
    for channel in range(3):
        counts = torch.bincount(picks[:, channel], minlength=30)
        assert counts.min() > 100 and counts.max() < 240


def test_histogram_metrics_by_hand():
    uniform = torch.ones(1000)
    assert histogram_metrics(uniform) == {"modes_covered": 1000, "kl": pytest.approx(0.0, abs=1e-12)}
    one = torch.zeros(1000)
    one[7] = 26000
    assert histogram_metrics(one) == {"modes_covered": 1, "kl": pytest.approx(math.log(1000))}
    two = torch.zeros(1000)
    two[[3, 900]] = torch.tensor([1.0, 3.0])  # p = 1/4, 3/4: KL = 1/4 log(250) + 3/4 log(750)
    assert histogram_metrics(two) == {"modes_covered": 2, "kl": pytest.approx(0.25 * math.log(250) + 0.75 * math.log(750))}


class MeanIntensityDigits(nn.Module):
    """A hand-built 'classifier': the class of a 1-channel image is its mean pixel value (rounded)."""

    def forward(self, x):
        cls = x.mean(dim=(1, 2, 3)).round().long()
        return torch.nn.functional.one_hot(cls, 10).float(), x.flatten(1)


def test_channel_digits_and_modes_classify_each_channel_alone():
    images = torch.tensor([[1.0, 2.0, 3.0], [9.0, 0.0, 9.0]]).view(2, 3, 1, 1).expand(2, 3, 5, 5)
    digits = channel_digits(MeanIntensityDigits(), images)
    assert digits.tolist() == [[1, 2, 3], [9, 0, 9]]
    assert modes_of(digits).tolist() == [123, 909]
    histogram = ModeHistogram()
    histogram.update(modes_of(digits))
    histogram.update(torch.tensor([123]))
    assert histogram.compute() == histogram_metrics(torch.bincount(torch.tensor([123, 909, 123]), minlength=1000).double())


def test_real_stacks_cover_the_modes_and_one_stack_covers_one(gan_lab_cache):
    """On the embedded digits: the held-out real stacks cover nearly every mode their count allows, and a
    G that draws one stack over and over covers 1 mode with KL = log 1000."""
    from gan_lab.data.stacked import load_stacked_mnist
    from gan_lab.metrics.classifier_metrics import ClassifierMetrics, StackedEvaluator

    data = load_stacked_mnist(28, num_train=3000, num_val=3000)
    assert data.num_classes == 1000 and data.train_x.shape == (3000, 3, 28, 28)
    evaluator = ClassifierMetrics("stacked_mnist", num_samples=3000, num_classes=1000).build(data)  # what metrics=classifier builds
    assert isinstance(evaluator, StackedEvaluator)
    real = evaluator.protocol["held_out_real"]
    # 3,000 uniform draws of 1,000 modes cover 1000 (1 - e^-3) = 950 on average; the classifier's errors move a few
    assert real["images"] == 3000 and 900 <= real["modes_covered"] <= 1000 and real["kl"] < 0.3
    scores = evaluator.evaluate(lambda n: data.train_x[:1].expand(n, -1, -1, -1))
    assert scores == {"metrics/stacked_modes_covered3k": 1.0, "metrics/stacked_kl3k": pytest.approx(math.log(1000))}
    train = evaluator.evaluate(lambda n, it=iter(data.train_x.split(500)): next(it)[:n])
    assert train["metrics/stacked_modes_covered3k"] >= 900


def test_stacked_mnist_refuses_other_channel_counts_and_bad_sizes():
    with pytest.raises(ConfigError, match="Stacked MNIST has 3 channels"):
        StackedMNIST(name="stacked_mnist", channels=1, image_size=28)
    with pytest.raises(ConfigError, match=r"data.num_train=0: .* positive integer"):
        StackedMNIST(name="stacked_mnist", channels=3, image_size=28, num_train=0)

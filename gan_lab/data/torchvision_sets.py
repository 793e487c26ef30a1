"""torchvision's labelled image datasets held in memory: ``data=mnist|fashion_mnist|cifar10|svhn``.

The train split trains; the test split is the validation split. Files are read from ``data.root``
(``$GAN_LAB_DATA`` or ``./data``); ``data.download=true`` fetches them.
"""
from __future__ import annotations

from pathlib import Path

import torchvision

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, torchvision_split


class TorchvisionImages(GANDataModule):
    """``dataset`` is the class name in ``torchvision.datasets`` (MNIST, FashionMNIST, CIFAR10)."""

    def __init__(self, dataset: str, root: str, download: bool = False, **common) -> None:
        super().__init__(**common)
        self.dataset_class = getattr(torchvision.datasets, dataset)
        self.root, self.download = Path(root).expanduser(), download

    def open_split(self, train: bool):
        return self.dataset_class(str(self.root), train=train, download=self.download)

    def load(self) -> Prepared:
        train = torchvision_split(lambda: self.open_split(True), self.name, self.root, self.image_size)
        test = torchvision_split(lambda: self.open_split(False), self.name, self.root, self.image_size)
        return Prepared("image", *train, *test, num_classes=self.num_classes,
                        info={"source": f"torchvision.datasets.{self.dataset_class.__name__}"})


class SVHN(TorchvisionImages):
    """SVHN names its splits ``split="train" | "test"``."""

    def __init__(self, root: str, download: bool = False, **common) -> None:
        super().__init__("SVHN", root, download, **common)

    def open_split(self, train: bool):
        return self.dataset_class(str(self.root), split="train" if train else "test", download=self.download)

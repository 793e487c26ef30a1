"""Images streamed from a folder: ``data=folder data.root=DIR`` and ``data=celeba``."""
from __future__ import annotations

from pathlib import Path

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, load_folder
from gan_lab.errors import DataError


class ImageFolder(GANDataModule):
    """Every image file below ``root`` (resized and centre-cropped to ``image_size``)."""

    def __init__(self, root: str, **common) -> None:
        super().__init__(**common)
        self.root = Path(root).expanduser()

    def image_root(self) -> Path:
        return self.root

    def load(self) -> Prepared:
        return load_folder(self.image_root(), self.image_size, self.channels)


class CelebA(ImageFolder):
    """CelebA's aligned faces: ``img_align_celeba`` under ``root`` (or ``root/celeba``)."""

    def image_root(self) -> Path:
        candidates = [self.root / "celeba" / "img_align_celeba", self.root / "img_align_celeba", self.root]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise DataError(
                f"data=celeba: no img_align_celeba folder under data.root={self.root}. Download CelebA "
                "(torchvision.datasets.CelebA(root, download=True) or by hand) and set data.root=/path"
            )
        return found

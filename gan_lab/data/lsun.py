"""LSUN scenes (Yu et al. 2015), the dataset of the DCGAN paper (Radford et al. 2015, §4.1:
"LSUN bedrooms"), through ``torchvision.datasets.LSUN``: ``data=lsun data.root=DIR``.

``root`` holds one LMDB folder per category, ``<category>_<split>_lmdb`` (the layout of LSUN's
own download script), e.g. ``bedroom_train_lmdb``; ``classes`` lists the ``<category>_<split>``
names to train on. Images are streamed, resized (shorter side) and centre-cropped. Reading LMDB
needs the ``lmdb`` package: ``pip install 'gan-lab[lsun]'``.
Deviation: torchvision caches the LMDB keys in a pickle in the working directory; here the working
directory for that is gan-lab's cache folder, so runs never litter the folder they start in.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.datasets import Prepared, cache_dir, image_transform
from gan_lab.errors import DataError


class _Images(torch.utils.data.Dataset):
    """The images of a torchvision dataset of (image, target) pairs, transformed."""

    def __init__(self, dataset, transform) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        image, _ = self.dataset[index]
        return self.transform(image)


class LSUN(GANDataModule):
    def __init__(self, root: str, classes: list[str] | str = "bedroom_train", cache_dir: str | None = None, **common) -> None:
        super().__init__(**common)
        self.root = Path(root).expanduser()
        self.cache_dir = cache_dir  # paths.cache_dir: where torchvision's key cache goes (None: $GAN_LAB_CACHE or ~/.cache/gan-lab)
        self.classes = [classes] if isinstance(classes, str) else list(classes)

    def load(self) -> Prepared:
        try:
            import lmdb  # noqa: F401  (torchvision imports it inside LSUN)
        except ImportError:
            raise DataError("data=lsun reads LMDB files and needs the lmdb package: pip install 'gan-lab[lsun]'") from None
        from torchvision.datasets import LSUN as TorchvisionLSUN

        missing = [c for c in self.classes if not (self.root / f"{c}_lmdb").is_dir()]
        if missing:
            raise DataError(
                f"data=lsun: no {', '.join(f'{c}_lmdb' for c in missing)} under data.root={self.root}. Download LSUN "
                "with its download.py (e.g. -c bedroom), unzip it there, or set data.root=/path/to/lsun"
            )
        keys_dir = cache_dir(self.cache_dir) / "lsun_keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.chdir(keys_dir):
            dataset = TorchvisionLSUN(str(self.root), classes=self.classes)
        stream = _Images(dataset, image_transform(self.image_size, self.channels))
        return Prepared("image", stream=stream, info={"source": f"torchvision.datasets.LSUN {self.root} {self.classes}"})

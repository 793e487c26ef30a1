"""A small digit classifier trained by the project: the fast CPU feature extractor for FID / IS.

Inception-v3 features are the standard (Heusel et al. 2017, §3) but cost ~8 images/s on this CPU;
for 10-class digit data a classifier trained on the dataset's own train split gives meaningful FID
(on its penultimate features), IS (on its softmax, at most 10) and mode coverage (predicted class
histogram) — the approach of e.g. the AC-GAN / VEEGAN MNIST evaluations (VEEGAN §5 "Stacked
MNIST" uses a pretrained classifier to count modes). Deviation: numbers are *not* comparable to
Inception-based FID; metrics are named ``clf_*`` for that reason.

Training is deterministic (fixed seed, local generator) and cached on disk under
``gan_lab.data.datasets.cache_dir()/classifiers`` keyed by dataset, resolution, channels and seed.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from gan_lab.data.datasets import cache_dir, write_cache

log = logging.getLogger("gan_lab")


class DigitClassifier(nn.Module):
    """conv(32) -> conv(64) -> pool -> fc(``feature_dim``) -> fc(classes); returns (logits, features)."""

    def __init__(self, channels: int = 1, num_classes: int = 10, feature_dim: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveMaxPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.head(features), features


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int = 0, epochs: int = 4,
                     batch_size: int = 64) -> DigitClassifier:
    """Adam with a one-cycle schedule (peak lr 2e-3), ``epochs`` passes over (x in [-1, 1], y); deterministic given ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(x.shape[1], num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * -(-x.shape[0] // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx])[0], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    correct = sum(int((model(x[i:i + batch_size])[0].argmax(1) == y[i:i + batch_size]).sum()) for i in range(0, len(x), batch_size))
    return correct / len(x)


def classifier_path(dataset: str, image_size: int, channels: int, seed: int, cache: str | Path | None = None) -> Path:
    """The classifier's file under ``cache`` (``paths.cache_dir``; None: ``$GAN_LAB_CACHE`` or ``~/.cache/gan-lab``)."""
    return cache_dir(cache) / "classifiers" / f"{dataset}_{image_size}px_c{channels}_seed{seed}.pt"


MAX_TRAIN = 10_000  # larger train splits (MNIST 60k, CIFAR-10 50k) use their first 10k images: < 1 min on CPU


def load_or_train(dataset: str, data, seed: int = 0, cache: str | Path | None = None) -> tuple[DigitClassifier, dict]:
    """The cached classifier for ``dataset`` (a ``Prepared`` with labels), training it on first use
    (on at most ``MAX_TRAIN`` training images).

    Returns the model (eval mode, frozen) and its info: held-out accuracy and the cache path.
    """
    channels, image_size = int(data.train_x.shape[1]), int(data.train_x.shape[-1])
    path = classifier_path(dataset, image_size, channels, seed, cache)
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitClassifier(channels, int(saved["num_classes"]))
        model.load_state_dict(saved["state_dict"])
        info = {"val_accuracy": float(saved["val_accuracy"]), "path": str(path), "cached": True}
    else:
        model = train_classifier(data.train_x[:MAX_TRAIN], data.train_y[:MAX_TRAIN], int(data.num_classes), seed=seed)
        acc = accuracy(model, data.val_x, data.val_y) if data.val_x is not None else float("nan")
        info = {"val_accuracy": acc, "path": str(path), "cached": False}
        log.info("digit classifier for %s trained: %.2f%% on %d held-out images", dataset, 100 * acc,
                 0 if data.val_x is None else len(data.val_x))
        # where the cache is not writable the classifier is retrained next time
        write_cache({"state_dict": model.state_dict(), "num_classes": model.num_classes, "val_accuracy": acc}, path)
    model.eval().requires_grad_(False)
    return model, info

"""The labelled subset of semi-supervised training: ``labels_per_class`` examples of each class.

As in the original code (``seed_data``): permute the training set with a seeded generator and
take the first ``labels_per_class`` examples of every class. The unlabelled set is the whole
training set (labelled examples included), as in the original.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from gan_lab.errors import ConfigError, DataError


def balanced_subset(labels: torch.Tensor, labels_per_class: int, seed: int, num_classes: int | None = None) -> torch.Tensor:
    """Indices (sorted by class) of ``labels_per_class`` training examples per class."""
    if not isinstance(labels_per_class, int) or labels_per_class < 1:
        raise ConfigError(f"data.labels_per_class={labels_per_class}: must be a positive integer (e.g. data.labels_per_class=10)")
    num_classes = num_classes or int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=num_classes)
    if int(counts.min()) < labels_per_class:
        smallest = int(counts.argmin())
        raise DataError(
            f"data.labels_per_class={labels_per_class}: class {smallest} has only {int(counts.min())} training examples "
            f"(set data.labels_per_class={max(1, int(counts.min()))} or smaller)"
        )
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(int(seed)))
    chosen = [order[labels[order] == k][:labels_per_class] for k in range(num_classes)]
    return torch.cat(chosen)


def save_subset(path: Path, indices: torch.Tensor, labels: torch.Tensor, seed: int) -> None:
    """Write the chosen training-set indices and their labels to ``path`` (JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seed": int(seed), "indices": indices.tolist(), "labels": labels[indices].tolist()}))


def labelled_batch_indices(num_labelled: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """``batch_size`` indices into the labelled set: concatenated random permutations of it.

    With ``batch_size`` a multiple of ``num_labelled`` (100 and 100 in the paper) every labelled
    example is in every batch; drawn on ``device`` from the global RNG (no host sync).
    """
    repeats = -(-batch_size // num_labelled)
    perms = [torch.randperm(num_labelled, device=device) for _ in range(repeats)]
    return torch.cat(perms)[:batch_size]

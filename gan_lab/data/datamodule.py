"""The LightningDataModule behind every ``data=`` option: one subclass per dataset, each with
the options it takes and nothing else (a misspelt key is an error, never swallowed).

A subclass implements :meth:`GANDataModule.load`; everything else (rank-sharded, resumable
batches, the batch-size check) is here. Adding a dataset is one Python file with a subclass and
one ``conf/data/NAME.yaml`` whose ``_target_`` names it (docs/architecture.md, "Extending gan-lab").
"""
from __future__ import annotations

import lightning as L
import torch

from gan_lab.data.datasets import Prepared
from gan_lab.data.loader import InMemoryLoader, StreamLoader
from gan_lab.errors import ConfigError, DataError


class GANDataModule(L.LightningDataModule):
    """Loads its dataset once and serves shuffled, rank-sharded batches of real examples
    (``[B, C, H, W]`` images or ``[B, 2]`` points).

    ``name``, ``kind``, ``image_size``, ``channels`` and ``num_classes`` describe the data to the
    rest of the config (``${data.image_size}`` in the model configs, the objective's checks).
    """

    def __init__(
        self,
        name: str,
        kind: str = "image",
        batch_size: int = 64,
        seed: int = 0,
        image_size: int | None = None,
        channels: int | None = None,
        num_classes: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size}: the batch size must be a positive integer (e.g. data.batch_size=64)")
        self.name, self.kind = name, kind
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.data: Prepared | None = None
        self.member_seeds: list[int] | None = None  # an ensemble of seeds (set by the run builder)
        self.serve_labels = False  # batches of (images, labels): the objective needs_labels (set by the run builder)

    def load(self) -> Prepared:
        """Read the dataset (called once)."""
        raise NotImplementedError

    def prepare(self, world_size: int = 1, for_training: bool = True) -> Prepared:
        """Load the data (once) and check it can feed batches of ``batch_size`` on every rank
        (``for_training=False``: evaluation only reads it)."""
        if self.data is None:
            self.data = self.load()
        per_rank = self.data.num_train // max(world_size, 1)
        if for_training and self.batch_size > per_rank:
            raise DataError(
                f"data.batch_size={self.batch_size} is larger than the {self.data.num_train} training examples of "
                f"data={self.name}" + (f" split over {world_size} ranks" if world_size > 1 else "")
                + f": set data.batch_size={max(1, min(per_rank, 64))} or smaller"
            )
        return self.data

    def setup(self, stage: str | None = None) -> None:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        self.prepare(world_size)

    def train_dataloader(self):
        data = self.prepare()
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        if data.stream is not None and self.member_seeds:
            raise DataError(f"ensemble.seeds with data={self.name}: an ensemble reads in-memory datasets only "
                            "(mnist5k, digits, ring8, grid25, mnist, ...); run one seed per run for streamed data")
        if self.serve_labels and (data.stream is not None or data.train_y is None):
            raise DataError(f"data={self.name} serves no class labels in memory and the task needs them: "
                            "use data=mnist5k, mnist, digits, fashion_mnist, svhn or cifar10")
        if data.stream is not None:  # read from disk by worker processes, resumable mid-epoch too
            return StreamLoader(
                data.stream, self.batch_size, seed=self.seed, rank=rank, world_size=world,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=torch.cuda.is_available(),
            )
        tensors = (data.train_x, data.train_y) if self.serve_labels else (data.train_x,)
        return InMemoryLoader(tensors, self.batch_size, seed=self.seed, rank=rank, world_size=world,
                              member_seeds=self.member_seeds)

    def real_examples(self, split: str = "train") -> torch.Tensor:
        """All real examples of ``split`` ('train' or 'val') as one tensor (in-memory datasets)."""
        data = self.prepare()
        x = data.train_x if split == "train" else data.val_x
        if x is None:
            raise DataError(f"data={self.name} streams from disk and has no in-memory {split} split")
        return x

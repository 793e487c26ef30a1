"""Resumable, rank-sharded loaders: over tensors held in memory, and over a streaming ``Dataset``.

Small datasets (mnist5k, digits, the 2-D mixtures, MNIST, CIFAR-10, ...) live as one tensor;
a batch is one index_select, with no per-item Python or PIL work per step
(:class:`InMemoryLoader`). Datasets read from disk (``data=folder``, ``celeba``, ``lsun``) are
read by DataLoader worker processes (:class:`StreamLoader`).

Both loaders are *stateful* in Lightning's sense (``state_dict`` / ``load_state_dict``): the
checkpoint stores the epoch and how many batches of it were trained on, so that a run resumed
from a mid-epoch checkpoint sees exactly the batches an uninterrupted run would have seen.
Both draw the same order: epoch ``e`` is ``randperm(n, generator=seed + e)``, rank ``r`` of ``w``
takes every ``w``-th index of it, ``drop_last``.

Deviation from torch's ``DataLoader(shuffle=True)`` (what streaming datasets used before): the
order is a function of (seed, epoch) instead of the state of one generator advanced epoch after
epoch, which is what lets a resumed run recompute it; and ranks are sharded here, not by the
``DistributedSampler`` Lightning would inject (whose seed is not the run's). torchdata's
``StatefulDataLoader`` would do the same job with a new dependency and snapshots of worker and
sampler state; counting batches is enough because the order is recomputable.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class _EpochOrder:
    """The epoch / batches-trained bookkeeping both loaders share, and their per-epoch order."""

    def __init__(self, num_examples: int, batch_size: int, seed: int, shuffle: bool, rank: int, world_size: int) -> None:
        self.num_examples = int(num_examples)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.num_batches = (self.num_examples // world_size) // self.batch_size
        if self.num_batches < 1:
            raise ValueError(
                f"batch size {batch_size} x {world_size} rank(s) is larger than the {num_examples} examples"
            )
        self.epoch = 0
        self._yielded = 0  # batches of the current epoch handed to training (not pre-fetched ones:
        #                    Lightning does not pre-fetch from an iterable that has a length)
        self._resume_at: int | None = None  # set by load_state_dict

    def __len__(self) -> int:
        return self.num_batches

    def _order(self, epoch: int, seed: int | None = None) -> torch.Tensor:
        """This rank's indices for ``epoch`` (``[n // w]`` or one more), shuffled by ``seed`` (default: the loader's)."""
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed if seed is None else seed) + epoch)
            order = torch.randperm(self.num_examples, generator=generator)
        else:
            order = torch.arange(self.num_examples)
        return order[self.rank :: self.world_size]

    def _begin(self) -> int:
        """Set ``epoch`` for a new pass and return the batch it starts at (> 0 after a resume)."""
        if self._resume_at is not None:  # continue the epoch saved in a checkpoint
            start, self._resume_at = self._resume_at, None
        else:
            if self._yielded >= self.num_batches:  # the previous epoch is complete: next one
                self.epoch += 1
            start = 0
        self._yielded = start
        return start

    def _batch_indices(self, order: torch.Tensor, i: int) -> torch.Tensor:
        return order[i * self.batch_size : (i + 1) * self.batch_size]

    # ---- Lightning's _Stateful protocol (saved in checkpoints, restored on resume) --------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_trained": self._yielded, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self._yielded = int(state["batches_trained"])
        # mid-epoch: continue it; at its end: the next __iter__ starts the next epoch
        self._resume_at = self._yielded if self._yielded < self.num_batches else None


class InMemoryLoader(_EpochOrder):
    """Shuffled batches of ``tensors`` (all with the same first dimension), ``drop_last``.

    The order of epoch ``e`` is ``randperm(n, generator=seed + e)``; under DDP rank ``r`` of
    ``w`` takes every ``w``-th index of that permutation, so ranks see disjoint data.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        member_seeds: Sequence[int] | None = None,
    ) -> None:
        self.tensors = tuple(tensors)
        super().__init__(self.tensors[0].shape[0], batch_size, seed, shuffle, rank, world_size)
        # an ensemble of seeds: each member's batch in the order of its own seed, member-major [M * B]
        self.member_seeds = [int(s) for s in member_seeds] if member_seeds and len(member_seeds) > 1 else [None]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...] | torch.Tensor]:
        start = self._begin()
        orders = [self._order(self.epoch, seed) for seed in self.member_seeds]
        for i in range(start, self.num_batches):
            index = torch.cat([self._batch_indices(order, i) for order in orders]) if len(orders) > 1 else self._batch_indices(orders[0], i)
            self._yielded = i + 1
            batch = tuple(t.index_select(0, index) for t in self.tensors)
            yield batch if len(batch) > 1 else batch[0]


class _RemainingBatches:
    """The batch sampler a :class:`StreamLoader` hands its DataLoader: the index lists of one
    epoch from batch ``start`` on (the batches already trained are never read). Iterated in the
    main process when an epoch's DataLoader iterator starts, also with persistent workers."""

    def __init__(self, owner: StreamLoader) -> None:
        self.owner = owner
        self.start = 0

    def __len__(self) -> int:
        return self.owner.num_batches - self.start

    def __iter__(self) -> Iterator[list[int]]:
        order = self.owner._order(self.owner.epoch)
        for i in range(self.start, self.owner.num_batches):
            yield self.owner._batch_indices(order, i).tolist()


class StreamLoader(_EpochOrder):
    """Shuffled, rank-sharded, ``drop_last`` batches of a map-style ``dataset`` read by
    ``num_workers`` DataLoader workers (0: in the main process), resumable mid-epoch.

    The order is :class:`InMemoryLoader`'s. Batches are counted here, in the main process, as they
    are yielded to training; the up to ``prefetch_factor x num_workers`` batches the workers
    read ahead are not counted, so a checkpoint saved mid-epoch resumes at the first untrained one.
    The workers' base seed is drawn from a generator seeded ``seed + epoch`` (never from the
    global RNG, which the run's z and dropout draw from); it matters only to random transforms,
    and gan-lab's image transforms have none.
    """

    def __init__(
        self,
        dataset: torch.utils.data.Dataset,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        persistent_workers: bool = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(len(dataset), batch_size, seed, shuffle, rank, world_size)
        self.dataset = dataset
        self._batches = _RemainingBatches(self)
        self._worker_seed = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=self._batches,
            num_workers=num_workers,
            persistent_workers=persistent_workers and num_workers > 0,
            pin_memory=pin_memory,
            generator=self._worker_seed,
        )

    def __iter__(self) -> Iterator[torch.Tensor]:
        self._batches.start = self._begin()  # before iter(): the DataLoader reads its batch sampler then
        self._worker_seed.manual_seed(self.seed + self.epoch)
        for batch in self.loader:
            self._yielded += 1
            yield batch

"""A resumable, rank-sharded loader over tensors held in memory.

Small datasets (mnist5k, digits, the 2-D mixtures, MNIST, CIFAR-10, ...) live as one tensor;
a batch is one index_select, with no per-item Python or PIL work per step.

The loader is *stateful* in Lightning's sense (``state_dict`` / ``load_state_dict``): the
checkpoint stores the epoch and how many batches of it were trained on, so that a run resumed
from a mid-epoch checkpoint sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class InMemoryLoader:
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
    ) -> None:
        self.tensors = tuple(tensors)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        n = self.tensors[0].shape[0]
        self.num_batches = (n // world_size) // self.batch_size
        if self.num_batches < 1:
            raise ValueError(
                f"batch size {batch_size} x {world_size} rank(s) is larger than the {n} examples"
            )
        self.epoch = 0
        self._yielded = 0  # batches of the current epoch handed out (= trained: Lightning does
        #                    not pre-fetch from an iterable that has a length)
        self._resume_at: int | None = None  # set by load_state_dict

    def __len__(self) -> int:
        return self.num_batches

    def _order(self, epoch: int) -> torch.Tensor:
        n = self.tensors[0].shape[0]
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...] | torch.Tensor]:
        if self._resume_at is not None:  # continue the epoch saved in a checkpoint
            start, self._resume_at = self._resume_at, None
        else:
            if self._yielded >= self.num_batches:  # the previous epoch is complete: next one
                self.epoch += 1
            start = 0
        order = self._order(self.epoch)
        self._yielded = start
        for i in range(start, self.num_batches):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            self._yielded = i + 1
            batch = tuple(t.index_select(0, index) for t in self.tensors)
            yield batch if len(batch) > 1 else batch[0]

    # ---- Lightning's _Stateful protocol (saved in checkpoints, restored on resume) --------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_trained": self._yielded, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self._yielded = int(state["batches_trained"])
        # mid-epoch: continue it; at its end: the next __iter__ starts the next epoch
        self._resume_at = self._yielded if self._yielded < self.num_batches else None

"""What a checkpoint carries beside the weights and optimizers, so that a resumed run continues exactly
and ``gan_lab.sample`` / ``gan_lab.evaluate`` can rebuild its nets: the composed config, the tricks'
state (θ̄ of historical averaging), and the random number generators of torch, CUDA, NumPy and Python,
of every rank (each rank draws its own z and dropout masks).

Everything is plain types and tensors, so checkpoints load with ``torch.load(weights_only=True)``.
It lives under ``checkpoint["gan_lab"]``; ``CHECKPOINT_FORMAT`` versions that section (2: the config
of the one build path, 2026-11-26).
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

CHECKPOINT_FORMAT = 2


def rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(rng["python"])


def seed_rank(seed: int, rank: int) -> None:
    """A fresh distributed run: the same weights on every rank (seeded, then broadcast by DDP), but
    each rank draws its own z and dropout masks, so the seed is offset by the rank."""
    seed = seed + 1_000_003 * rank
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def save(checkpoint: dict[str, Any], config: dict[str, Any], tricks: Iterable, world_size: int = 1,
         latent: list[torch.Tensor] | None = None) -> None:
    """Fill ``checkpoint["gan_lab"]``. Under DDP (``world_size`` > 1, called on every rank) every rank's
    RNG state is gathered, so each rank resumes with its own. ``latent``: the states of the objective's
    z generators (one per member of an ensemble of seeds), saved with the rank's RNG."""
    rng = rng_state()
    if latent:
        rng["latent"] = [s.cpu() for s in latent]
    checkpoint["gan_lab"] = {"format": CHECKPOINT_FORMAT, "config": config,
                             "tricks": {t.name: t.state_dict() for t in tricks}, "rng": rng}
    if world_size > 1:
        per_rank: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(per_rank, rng)
        checkpoint["gan_lab"]["rng_per_rank"] = per_rank


def load(checkpoint: dict[str, Any], tricks: Iterable, rank: int = 0) -> dict[str, Any] | None:
    """Give the tricks their saved state; return this rank's RNG state, to restore once training starts
    (after everything that sets up the run has drawn from the generators)."""
    state = checkpoint.get("gan_lab", {})
    for trick in tricks:
        if trick.name in state.get("tricks", {}):
            trick.load_state_dict(state["tricks"][trick.name])
    per_rank = state.get("rng_per_rank")
    return per_rank[rank] if per_rank and rank < len(per_rank) else state.get("rng")

"""Check at the end of a distributed run that every rank holds the same G and D.

Under DDP the parameters of all ranks should be bit-identical after every optimizer step
(same initial broadcast, same all-reduced gradients). Buffers (BatchNorm running statistics)
follow rank 0: DDP broadcasts them before each forward, then each rank's forward updates them
with its own batch, so they are synchronised (:func:`broadcast_buffers`) before being compared. Each
rank hashes every tensor of G and D; rank 0 compares the hashes and records the result in
``rank_consistency.json`` and in summary.json (``ranks_identical``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightning as L
import torch


def tensor_digests(module: torch.nn.Module) -> dict[str, str]:
    """sha256 of the bytes of every parameter and buffer, by name."""
    state = module.state_dict(keep_vars=False)
    return {name: hashlib.sha256(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
            for name, t in state.items()}



@torch.no_grad()
def broadcast_buffers(nets: list[torch.nn.Module]) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics) of ``nets``.

    DDP broadcasts buffers before each forward, but each rank's forward then updates them with its own
    batch, so between steps they differ slightly; parameters never do.
    """
    for net in nets:
        for buffer in net.buffers():
            torch.distributed.broadcast(buffer, src=0)

class RankConsistency(L.Callback):
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.result: dict | None = None

    def on_train_end(self, trainer: L.Trainer, module) -> None:
        if trainer.world_size < 2 or not torch.distributed.is_initialized():
            return

        def mismatched_tensors() -> list[str]:
            digests = {**{f"generator.{k}": v for k, v in tensor_digests(module.generator).items()},
                       **{f"discriminator.{k}": v for k, v in tensor_digests(module.discriminator).items()}}
            gathered: list[dict[str, str] | None] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, digests)
            return sorted(name for name in digests if len({g[name] for g in gathered}) > 1)

        buffer_names = {f"generator.{n}" for n, _ in module.generator.named_buffers()}
        buffer_names |= {f"discriminator.{n}" for n, _ in module.discriminator.named_buffers()}
        # parameters must agree on their own; buffers (BatchNorm running statistics) follow rank 0
        # by convention, so they are compared after broadcasting rank 0's
        parameters_mismatched = [n for n in mismatched_tensors() if n not in buffer_names]
        broadcast_buffers([module.generator, module.discriminator])
        mismatched = sorted(set(parameters_mismatched) | set(mismatched_tensors()))
        rng_states: list[str | None] = [None] * trainer.world_size
        torch.distributed.all_gather_object(rng_states, hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest())
        self.result = {
            "world_size": trainer.world_size,
            "tensors": len(tensor_digests(module.generator)) + len(tensor_digests(module.discriminator)),
            "identical": not mismatched,
            "mismatched": mismatched,
            "rng_distinct_per_rank": len(set(rng_states)) == trainer.world_size,  # each rank draws its own z
        }
        if trainer.is_global_zero:
            (self.out_dir / "rank_consistency.json").write_text(json.dumps(self.result, indent=2))

    def summary(self) -> dict:
        return {"ranks_identical": self.result["identical"]} if self.result else {}

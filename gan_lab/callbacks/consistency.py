"""Check at the end of a distributed run that every rank holds the same G and D.

Under DDP the parameters of all ranks should be bit-identical after every optimizer step
(same initial broadcast, same all-reduced gradients), and the buffers too (broadcast from rank
0). Each rank hashes every tensor of G and D; rank 0 compares the hashes and records the
result in ``rank_consistency.json`` and in summary.json (``ranks_identical``).
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


class RankConsistency(L.Callback):
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.result: dict | None = None

    def on_train_end(self, trainer: L.Trainer, module) -> None:
        if trainer.world_size < 2 or not torch.distributed.is_initialized():
            return
        digests = {**{f"generator.{k}": v for k, v in tensor_digests(module.generator).items()},
                   **{f"discriminator.{k}": v for k, v in tensor_digests(module.discriminator).items()}}
        gathered: list[dict[str, str] | None] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, digests)
        mismatched = sorted(name for name in digests if len({g[name] for g in gathered}) > 1)
        self.result = {"world_size": trainer.world_size, "tensors": len(digests), "identical": not mismatched, "mismatched": mismatched}
        if trainer.is_global_zero:
            (self.out_dir / "rank_consistency.json").write_text(json.dumps(self.result, indent=2))

    def summary(self) -> dict:
        return {"ranks_identical": self.result["identical"]} if self.result else {}

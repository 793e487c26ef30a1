"""How metrics are named and shared out: the sample count in a metric's name (StyleGAN2-ADA's
convention: ``metrics/clf_fid5k``), and each DDP rank's share of the samples."""
from __future__ import annotations


def count_tag(n: int) -> str:
    """5000 -> '5k', 2500 -> '2500' (the sample count in a metric's name)."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def shard(n: int, rank: int, world_size: int) -> int:
    """How many of ``n`` samples rank ``rank`` generates (the first ranks take the remainder)."""
    return n // world_size + (1 if rank < n % world_size else 0)

"""What every ``metrics=`` group's scorer (its ``_target_``) has in common, the sample count in a
metric's name (StyleGAN2-ADA's convention: ``metrics/clf_fid5k``) and each DDP rank's share of the
samples: the helpers of ``classifier_metrics.py`` and ``inception.py``."""
from __future__ import annotations

from gan_lab.errors import ConfigError


class Scorer:
    """The options of a ``metrics=`` group, checked before any data is read; ``build(data, ...)``
    makes the evaluator once the data is loaded (training and ``gan_lab.evaluate`` alike)."""

    name = "scorer"
    #: why the metrics are off for this data (None: on)
    disabled: str | None = None

    def __init__(self, dataset: str, num_samples: int, batch_size: int) -> None:
        if int(num_samples) < 1 or int(batch_size) < 1:
            raise ConfigError(f"metrics.num_samples={num_samples} and metrics.batch_size={batch_size} must be positive")
        self.dataset, self.num_samples, self.batch_size = dataset, int(num_samples), int(batch_size)


def count_tag(n: int) -> str:
    """5000 -> '5k', 2500 -> '2500' (the sample count in a metric's name)."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def shard(n: int, rank: int, world_size: int) -> int:
    """How many of ``n`` samples rank ``rank`` generates (the first ranks take the remainder)."""
    return n // world_size + (1 if rank < n % world_size else 0)

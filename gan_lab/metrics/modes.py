"""Mode coverage on the 2-D mixtures (``data=ring8`` / ``grid25``), as in VEEGAN and PacGAN.

A sample is *high quality* when it lies within 3 standard deviations of its nearest mode; a mode
is *covered* when it is the nearest mode of at least one high-quality sample (PacGAN, §5.1 and
Table 1, following VEEGAN §5: 2,500 samples).
"""
from __future__ import annotations

import torch


def mode_metrics(samples: torch.Tensor, means: torch.Tensor, std: float) -> dict[str, float]:
    """``samples`` [N, 2], ``means`` [M, 2] -> modes covered (of M) and the high-quality fraction."""
    distances = torch.cdist(samples.double(), means.double())  # [N, M]
    nearest_distance, nearest_mode = distances.min(dim=1)
    high_quality = nearest_distance <= 3.0 * std
    covered = torch.unique(nearest_mode[high_quality]).numel()
    return {"modes_covered": int(covered), "high_quality_fraction": float(high_quality.double().mean())}

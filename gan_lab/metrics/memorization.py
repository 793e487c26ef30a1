"""Is G reproducing training images? Nearest-neighbour L1 distances to the training set.

For each of M generated samples the nearest training image by L1 distance (mean absolute pixel
difference on [-1, 1] pixels, so 0 = identical, 2 = opposite); the same for M held-out real images,
which gives the scale of "a new image from the same distribution". A generated mean well below the
held-out mean (ratio < 1) says the samples sit closer to the training set than new real images do:
memorization. The picture pairs the closest samples with their nearest training images.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def nearest_l1(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query, (mean absolute difference to its nearest reference, the reference's index)."""
    q, ref = queries.flatten(1).float(), reference.flatten(1).float().to(queries.device)
    dims = q.shape[1]
    dists, idx = [], []
    for block in q.split(chunk):
        d = torch.cdist(block, ref, p=1.0)
        best = d.min(dim=1)
        dists.append(best.values / dims)
        idx.append(best.indices)
    return torch.cat(dists), torch.cat(idx)


def memorization_report(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor | None) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics and a [2k, C, H, W] picture batch (top: the k samples closest to the training set,
    bottom: their nearest training images)."""
    gen_d, gen_i = nearest_l1(samples, train)
    out = {"metrics/nn_l1_generated": float(gen_d.mean())}
    if heldout is not None and len(heldout):
        held_d, _ = nearest_l1(heldout[: len(samples)], train)
        out["metrics/nn_l1_heldout"] = float(held_d.mean())
        out["metrics/nn_l1_ratio"] = out["metrics/nn_l1_generated"] / max(out["metrics/nn_l1_heldout"], 1e-12)
    k = min(8, len(samples))
    closest = gen_d.argsort()[:k]
    pairs = torch.cat([samples[closest].cpu(), train[gen_i[closest].cpu()].cpu()])
    return out, pairs

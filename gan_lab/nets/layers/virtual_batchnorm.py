"""Virtual batch normalization (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.5),
as in the original code (openai/improved-gan)."""
from __future__ import annotations

import torch
from torch import nn


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalization, §3.5: each example is normalised with the statistics of a
    fixed reference batch (chosen once, at the start of training) combined with itself.

    The input is ``[reference batch; live batch]`` along dim 0 (``ref_size`` rows first, set by
    the ``virtual_bn`` trick that propagates the reference batch through G at every call). As in
    the original code (``VBN`` of openai/improved-gan), for features ``[N, C, (H, W)]``:

    * the reference batch is normalised with its own statistics: mean and E[h^2] over (N, H, W);
    * a live example i uses mu = mu_i / (N + 1) + N mu_ref / (N + 1), with mu_i its own mean over
      (H, W), likewise for E[h^2]; var = E[h^2] - mu^2;
    * out = gamma (h - mu) / sqrt(var + eps) + beta with gamma = exp(gamma_driver): the
      original's ``VBNL`` parametrisation (the log of the scale is learned), gamma_driver ~ N(0, 0.02)
      (so gamma ~ 1 +- 0.02 at the start) and beta = 0.

    The reference statistics are recomputed at every call from the current weights and gradients
    flow through them, as in the original. There are no running statistics: eval mode uses the
    reference batch too.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.gamma_driver = nn.Parameter(torch.randn(num_features) * 0.02)
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.ref_size = 0

    def _normalize(self, h: torch.Tensor, mean: torch.Tensor, mean_sq: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (h.dim() - 2)
        std = torch.sqrt(self.eps + mean_sq - mean.square())
        return (h - mean) / std * self.gamma_driver.exp().view(shape) + self.beta.view(shape)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [N_ref + B, C, ...] -> same
        n = self.ref_size
        if n < 1 or h.shape[0] <= n:
            raise RuntimeError("VirtualBatchNorm needs the reference batch first in its input (trick=virtual_bn sets this up)")
        ref, live = h[:n], h[n:]
        spatial = tuple(range(2, h.dim()))
        ref_dims = (0, *spatial)
        ref_mean = ref.mean(dim=ref_dims, keepdim=True)  # [1, C, 1, 1]
        ref_mean_sq = ref.square().mean(dim=ref_dims, keepdim=True)
        if spatial:
            live_mean = live.mean(dim=spatial, keepdim=True)  # [B, C, 1, 1]: each example's own
            live_mean_sq = live.square().mean(dim=spatial, keepdim=True)
        else:
            live_mean, live_mean_sq = live, live.square()
        new_coeff = 1.0 / (n + 1.0)
        mean = new_coeff * live_mean + (1.0 - new_coeff) * ref_mean
        mean_sq = new_coeff * live_mean_sq + (1.0 - new_coeff) * ref_mean_sq
        return torch.cat([self._normalize(ref, ref_mean, ref_mean_sq), self._normalize(live, mean, mean_sq)])

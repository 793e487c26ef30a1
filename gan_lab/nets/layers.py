"""Layers of Salimans et al. 2016 ("Improved Techniques for Training GANs"), paper-faithful.

* :class:`MinibatchDiscrimination` (§3.2)
* :class:`VirtualBatchNorm` (§3.5), as in the original code (openai/improved-gan)
"""
from __future__ import annotations

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination, §3.2: lets D look at a whole batch to spot mode collapse.

    f(x_i) in R^A is multiplied by a tensor T in R^{A x B x C}: M_i = f(x_i) T in R^{B x C}. For
    each kernel b, c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1), and o(x_i)_b = sum_j c_b(x_i, x_j).
    The output is [f(x_i), o(x_i)] in R^{A + B}.

    As in the original code (``MinibatchLayer``, ``nn.py``), the self term j = i is excluded (it
    would add exp(0) = 1 to every o_b) and the sum runs within the batch D sees (real and fake
    batches separately). T starts from N(0, 0.05) (the code's ``theta`` init). Deviation: the
    code re-parametrises T with weight normalisation and a per-kernel bias initialised to -1;
    this layer uses T directly, as the paper's §3.2 writes it.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, init_std: float = 0.05) -> None:
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels, kernel_dim) * init_std)

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, A] -> [B, A + B_kernels]
        M = torch.einsum("na,abc->bnc", features, self.T)  # [N, A] x [A, B, C] -> [B, N, C]
        l1 = torch.cdist(M, M, p=1)  # [B, N, N]: ||M_i,b - M_j,b||_1, without an [N, N, B, C] temporary
        o = torch.exp(-l1).sum(dim=2) - 1.0  # [B, N]: sum over j, minus the j = i term exp(0) = 1
        return torch.cat([features, o.t()], dim=1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalization, §3.5: each example is normalised with the statistics of a
    fixed reference batch (chosen once, at the start of training) combined with itself.

    The input is ``[reference batch; live batch]`` along dim 0 (``ref_size`` rows first, set by
    the ``virtual_bn`` trick that propagates the reference batch through G at every call). As in
    the original code (``VBN`` of openai/improved-gan), for features ``[N, C, (H, W)]``:

    * the reference batch is normalised with its own statistics: mean and E[h^2] over (N, H, W);
    * a live example i uses mu = mu_i / (N + 1) + N mu_ref / (N + 1), with mu_i its own mean over
      (H, W), likewise for E[h^2]; var = E[h^2] - mu^2;
    * out = gamma (h - mu) / sqrt(var + eps) + beta, gamma = exp(gamma_driver) with
      gamma_driver ~ N(0, 0.02) (so gamma ~ 1 +- 0.02 at the start) and beta = 0.

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

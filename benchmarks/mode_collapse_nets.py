"""Ensembles of PacGAN's 2-D nets: K independent GANs (seeds x datasets) trained as one batched model.

Every parameter carries a leading model axis K; a linear layer is one ``torch.baddbmm`` over
[K, batch, in] x [K, in, out]. Adam is element-wise, so one ``torch.optim.Adam`` over the stacked
tensors is exactly K independent Adams. Batch norm is written out (statistics per model, and per
packing slot, as in PacGAN's Theano graph where the decoder is applied once per slot).

G (PacGAN's ``decoder``): z -> [Linear(no bias) -> BN -> ReLU] x depth -> Linear(+bias) -> 2.
D (PacGAN's ``discriminator``): 2m -> [Linear -> maxout(pieces)] x depth -> Linear -> 1 logit.
Weights N(0, 0.02), biases 0, BN scale 1 / shift 0 (blocks' defaults as PacGAN configures them).
"""
from __future__ import annotations

import torch

BN_EPS = 1e-4  # blocks.bricks.bn.BatchNormalization's default epsilon
BN_MOMENTUM = 0.05  # PacGAN: population <- 0.05 * minibatch + 0.95 * population


def _normal(generators: list[torch.Generator], shape: tuple[int, ...], std: float) -> torch.Tensor:
    """One N(0, std) tensor per model from that model's own generator (init independent of K)."""
    return torch.stack([torch.randn(shape, generator=g) * std for g in generators])


class Ensemble:
    """K GANs with PacGAN's architecture family; ``g_*`` / ``d_*`` are lists of stacked tensors."""

    def __init__(self, seeds: list[int], *, z_dim: int = 2, g_hidden: int = 400, g_depth: int = 4,
                 d_hidden: int = 200, d_depth: int = 3, pieces: int = 5, pack: int = 1,
                 x_dim: int = 2, init_std: float = 0.02) -> None:
        gens = [torch.Generator().manual_seed(1_000_003 * s + 17) for s in seeds]
        self.K, self.pack, self.pieces, self.z_dim = len(seeds), pack, pieces, z_dim
        dims = [z_dim] + [g_hidden] * g_depth
        self.g_w = [_normal(gens, (a, b), init_std) for a, b in zip(dims[:-1], dims[1:])]
        self.g_gamma = [torch.ones(self.K, 1, g_hidden) for _ in range(g_depth)]
        self.g_beta = [torch.zeros(self.K, 1, g_hidden) for _ in range(g_depth)]
        self.g_out_w = _normal(gens, (g_hidden, x_dim), init_std)
        self.g_out_b = torch.zeros(self.K, 1, x_dim)
        self.run_mean = [torch.zeros(self.K, 1, g_hidden) for _ in range(g_depth)]
        self.run_var = [torch.ones(self.K, 1, g_hidden) for _ in range(g_depth)]
        ddims = [x_dim * pack] + [d_hidden] * d_depth
        self.d_w = [_normal(gens, (a, b * pieces), init_std) for a, b in zip(ddims[:-1], ddims[1:])]
        self.d_b = [torch.zeros(self.K, 1, b * pieces) for b in ddims[1:]]
        self.d_out_w = _normal(gens, (d_hidden, 1), init_std)
        self.d_out_b = torch.zeros(self.K, 1, 1)
        for p in self.g_params() + self.d_params():
            p.requires_grad_(True)

    def g_params(self) -> list[torch.Tensor]:
        return [*self.g_w, *self.g_gamma, *self.g_beta, self.g_out_w, self.g_out_b]

    def d_params(self) -> list[torch.Tensor]:
        return [*self.d_w, *self.d_b, self.d_out_w, self.d_out_b]

    def generate(self, z: torch.Tensor, train: bool) -> torch.Tensor:
        """z [K, S, B, z_dim] (S packing slots, batch-norm statistics per slot) -> x [K, S, B, 2]."""
        K, S, B, _ = z.shape
        h = z.reshape(K, S * B, -1)
        for i, w in enumerate(self.g_w):
            h = torch.bmm(h, w)
            if train:
                hs = h.view(K, S, B, -1)
                mean = hs.mean(2, keepdim=True)
                var = hs.var(2, unbiased=False, keepdim=True)
                h = ((hs - mean) * torch.rsqrt(var + BN_EPS)).view(K, S * B, -1)
                with torch.no_grad():  # PacGAN averages the slots' statistics, then momentum 0.05
                    self.run_mean[i].lerp_(mean.mean(1), BN_MOMENTUM)
                    self.run_var[i].lerp_(var.mean(1) * B / max(B - 1, 1), BN_MOMENTUM)
            else:
                h = (h - self.run_mean[i]) * torch.rsqrt(self.run_var[i] + BN_EPS)
            h = torch.relu(torch.addcmul(self.g_beta[i], h, self.g_gamma[i]))
        return torch.baddbmm(self.g_out_b, h, self.g_out_w).view(K, S, B, -1)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """x [K, N, 2m] -> logits [K, N]."""
        h = x
        for w, b in zip(self.d_w, self.d_b):
            h = torch.baddbmm(b, h, w)
            h = h.view(*h.shape[:-1], -1, self.pieces).amax(-1)  # blocks' Maxout: contiguous pieces
        return torch.baddbmm(self.d_out_b, h, self.d_out_w).squeeze(-1)


def pack_fake(x: torch.Tensor) -> torch.Tensor:
    """[K, m, B, 2] -> [K, B, 2m]: slot j's sample is columns 2j..2j+1 (PacGAN concatenates on axis 1)."""
    K, S, B, D = x.shape
    return x.permute(0, 2, 1, 3).reshape(K, B, S * D)


def gan_losses(net: Ensemble, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PacGAN's losses, summed over the K models (each one a mean over its batch).

    D: softplus(-D(x)) + softplus(D(G(z))); G (non-saturating): softplus(-D(G(z))) (+ softplus(D(x)),
    which has no gradient for G). D sees real and fake in one call, as PacGAN's ``get_predictions``.
    """
    fake = pack_fake(net.generate(z, train=True))
    B = real.shape[1]
    logits = net.discriminate(torch.cat([real, fake], dim=1))
    d_real, d_fake = logits[:, :B], logits[:, B:]
    d_loss = (torch.nn.functional.softplus(-d_real) + torch.nn.functional.softplus(d_fake)).mean(1).sum()
    g_loss = torch.nn.functional.softplus(-d_fake).mean(1).sum()
    return d_loss, g_loss


def simultaneous_step(net: Ensemble, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer,
                      real: torch.Tensor, z: torch.Tensor) -> None:
    """ALI's ``ali_algorithm`` (used by PacGAN): both gradients at the same parameters, one update."""
    d_loss, g_loss = gan_losses(net, real, z)
    d_params, g_params = net.d_params(), net.g_params()
    d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, g_params)
    for p, g in zip(d_params, d_grads):
        p.grad = g
    for p, g in zip(g_params, g_grads):
        p.grad = g
    opt_d.step()
    opt_g.step()

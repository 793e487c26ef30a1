"""Ensembles of PacGAN's 2-D nets: K independent GANs (seeds x datasets) trained as one batched model.

Every parameter carries a leading model axis K; a linear layer is one ``torch.baddbmm`` over
[K, batch, in] x [K, in, out]. Adam is element-wise, so one ``torch.optim.Adam`` over the stacked
tensors is exactly K independent Adams. Batch norm is written out (statistics per model, and per
packing slot, as in PacGAN's Theano graph where the decoder is applied once per slot).

G (PacGAN's ``decoder``): z -> [Linear(no bias) -> BN -> ReLU] x depth -> Linear(+bias) -> 2.
D (PacGAN's ``discriminator``): 2m -> [Linear -> maxout(pieces)] x depth -> Linear -> 1 logit.
Weights N(0, 0.02), biases 0, BN scale 1 / shift 0 (blocks' defaults as PacGAN configures them).

Improved-GAN tricks (Salimans et al. 2016, §3), switched on by :class:`Tricks`, each the formula of
gan-lab's own trick with its hyper-parameters (``mode_collapse.apply_tricks`` reads them from the
trick objects built from conf/trick/*.yaml), computed per model k (no statistic mixes models):

* §3.1 feature matching (gan_lab/tricks/feature_matching.py): G's loss becomes
  weight * || mean_B f(x) - mean_B f(G(z)) ||^2 (``reduction=sum``), f = D's last hidden layer (the
  last maxout output), the real side detached;
* §3.2 minibatch discrimination (gan_lab/nets/layers/minibatch_discrimination.py, trick
  minibatch_discrimination.py): D's output layer becomes the ``MinibatchDiscriminationHead`` --
  [f(x), o(x)] with per-kernel normalised theta, then a weight-normalised dense layer -- initialised
  from the first ``INIT_EXAMPLES`` real points of each run (gan_lab/build.py), o(x) computed within
  the real batch and within the fake batch separately (gan-lab calls D on each on its own);
* §3.3 historical averaging (gan_lab/tricks/historical_averaging.py): each player's loss gets
  lambda ||theta_k - mean_{i<=t} theta_k[i]||^2 over all that player's parameters of model k;
* §3.4 one-sided label smoothing (gan_lab/tricks/label_smoothing.py, losses.bce_real): D's real
  term is the BCE against ``real_target`` (0.9), the fake term and G's loss are unchanged;
* §3.5 virtual batch norm (gan_lab/nets/layers/virtual_batchnorm.py, trick virtual_bn.py): every BN of G
  becomes VBN against a reference batch of z drawn once per model (seeded by the model's seed),
  propagated with every call of G, training and sampling alike (no running statistics).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_lab.nets.layers.minibatch_discrimination import mean_nearest_neighbour_l1, pairwise_l1

BN_EPS = 1e-4  # blocks.bricks.bn.BatchNormalization's default epsilon
BN_MOMENTUM = 0.05  # PacGAN: population <- 0.05 * minibatch + 0.95 * population
INIT_EXAMPLES = 500  # gan_lab.build.INIT_EXAMPLES: D's data-dependent init sees the first 500 examples
MD_STD = 0.05  # minibatch layer theta and its dense layer's v ~ N(0, 0.05) (improved-gan nn.py, train script l. 67)
MD_INIT_STDV = 0.1  # the dense layer's logits have std 0.1 on the init batch (weight_norm init_stdv)
VBN_GAMMA_STD = 0.02  # VBN's log-scale ~ N(0, 0.02) (gan_lab VirtualBatchNorm.gamma_driver)


@dataclass(frozen=True)
class Tricks:
    """A row's Improved-GAN tricks and their hyper-parameters; the defaults switch every trick off."""

    real_target: float = 1.0  # §3.4 one-sided label smoothing: D's target for real points
    feature_matching: bool = False  # §3.1: G's loss is fm_weight * ||mean f(x) - mean f(G(z))||^2
    fm_weight: float = 1.0
    fm_reduction: str = "sum"  # "mean" divides by the number of features (gan-lab's option)
    fm_add_to_adversarial: bool = False
    historical_weight: float | None = None  # §3.3 lambda (None: off)
    md_kernels: int = 0  # §3.2 number of kernels B (0: off)
    md_kernel_dim: int = 5  # §3.2 kernel dimension C
    vbn_reference_size: int = 0  # §3.5 reference batch size (0: off; BN as PacGAN)


def _normal(generators: list[torch.Generator], shape: tuple[int, ...], std: float) -> torch.Tensor:
    """One N(0, std) tensor per model from that model's own generator (init independent of K)."""
    return torch.stack([torch.randn(shape, generator=g) * std for g in generators])


def virtual_batch_norm(h: torch.Tensor, ref_size: int, log_gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float = BN_EPS) -> torch.Tensor:
    """§3.5, gan_lab's ``VirtualBatchNorm`` per model: h [K, n + N, H] = [reference; live] -> same.

    The reference rows use their own mean and E[h^2]; a live row i uses mu = h_i / (n + 1) +
    n mu_ref / (n + 1), likewise E[h^2], var = E[h^2] - mu^2; out = exp(log_gamma) (h - mu) /
    sqrt(var + eps) + beta. The statistics are over each model's own rows (dim 1)."""
    ref, live = h[:, :ref_size], h[:, ref_size:]
    ref_mean = ref.mean(1, keepdim=True)  # [K, 1, H]
    ref_mean_sq = ref.square().mean(1, keepdim=True)
    new_coeff = 1.0 / (ref_size + 1.0)
    mean = new_coeff * live + (1.0 - new_coeff) * ref_mean
    mean_sq = new_coeff * live.square() + (1.0 - new_coeff) * ref_mean_sq

    def normalize(x: torch.Tensor, m: torch.Tensor, m_sq: torch.Tensor) -> torch.Tensor:
        return (x - m) / torch.sqrt(eps + m_sq - m.square()) * log_gamma.exp() + beta

    return torch.cat([normalize(ref, ref_mean, ref_mean_sq), normalize(live, mean, mean_sq)], dim=1)


def md_pair_sums(sets: torch.Tensor) -> torch.Tensor:
    """sum_{j != i} exp(-||m_i - m_j||_1) within each set: [S, n, C] -> [S, n], with gan-lab's
    ``pairwise_l1`` (torch.cdist, the self pair masked to +inf)."""
    return torch.exp(-pairwise_l1(sets.transpose(0, 1))).sum(dim=2)


def _fused_sums(sets_t: torch.Tensor, self_pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward of :class:`FusedPairSums`, for Inductor: [S, C, n] (points contiguous) -> the sums [S, n]
    and E [S, n, n], E_ij = exp(-||m_i - m_j||_1) with E_ii = 0: ``self_pairs`` [n, n] is +inf on the
    diagonal, 0 elsewhere (an input rather than an ``eye`` built inside: with the mask built in the graph
    Inductor's loop was not vectorised, 21 ms against 6.5 ms for 500 sets of 100 points, same values)."""
    l1 = (sets_t.unsqueeze(3) - sets_t.unsqueeze(2)).abs().sum(1)  # [S, n, n], fused: never stored
    e = torch.exp(-(l1 + self_pairs))
    return e.sum(-1), e


def _self_pairs(n: int, device: torch.device) -> torch.Tensor:
    """[n, n]: +inf on the diagonal (the self pair of :func:`_fused_sums`), 0 elsewhere."""
    return torch.zeros(n, n, device=device).fill_diagonal_(float("inf"))


def _fused_sums_grad(sets_t: torch.Tensor, e: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Backward of :class:`FusedPairSums`: d/dm_ic of sum_i' g_i' o_i' = -sum_j (g_i + g_j) E_ij sign(m_ic - m_jc)
    (E symmetric); [S, C, n], [S, n, n], [S, n] -> [S, C, n]."""
    w = (grad.unsqueeze(2) + grad.unsqueeze(1)) * e  # [S, n, n]
    return -(w.unsqueeze(1) * (sets_t.unsqueeze(3) - sets_t.unsqueeze(2)).sign()).sum(3)


_COMPILED: dict[str, object] = {}


def _compiled(name: str, fn):
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile(fn, dynamic=False)
    return _COMPILED[name]


class FusedPairSums(torch.autograd.Function):
    """:func:`md_pair_sums` with a hand-written backward, both compiled by ``torch.compile`` (Inductor
    fuses the differences, L1 sums, mask and exponentials into one loop over the pairs; E is kept for
    the backward, [S, n, n]). Same values as gan-lab's cdist up to rounding (tested). In one iteration
    of 5 runs (2 forwards of 500 sets of 100 points, 3 backwards) o(x) costs ~70 ms on one core of
    the shared machine, against ~350 ms with cdist (whose backward recomputes the distances)."""

    @staticmethod
    def forward(ctx, sets: torch.Tensor) -> torch.Tensor:  # [S, n, C] -> [S, n]
        sets_t = sets.transpose(1, 2).contiguous()  # [S, C, n]: the pair loops run over contiguous points
        sums, e = _compiled("sums", _fused_sums)(sets_t, _self_pairs(sets_t.shape[2], sets_t.device))
        ctx.save_for_backward(sets_t, e)
        return sums

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        sets_t, e = ctx.saved_tensors
        return _compiled("grad", _fused_sums_grad)(sets_t, e, grad.contiguous()).transpose(1, 2)


def fused_md_pair_sums(sets: torch.Tensor) -> torch.Tensor:
    """:func:`md_pair_sums`, fused and compiled (:class:`FusedPairSums`); no double backward."""
    return FusedPairSums.apply(sets)


class Ensemble:
    """K GANs with PacGAN's architecture family; ``g_*`` / ``d_*`` are lists of stacked tensors."""

    def __init__(self, seeds: list[int], *, z_dim: int = 2, g_hidden: int = 400, g_depth: int = 4,
                 d_hidden: int = 200, d_depth: int = 3, pieces: int = 5, pack: int = 1,
                 x_dim: int = 2, init_std: float = 0.02, tricks: Tricks = Tricks()) -> None:
        gens = [torch.Generator().manual_seed(1_000_003 * s + 17) for s in seeds]
        self.K, self.pack, self.pieces, self.z_dim, self.tricks = len(seeds), pack, pieces, z_dim, tricks
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
        self.d_out_w = _normal(gens, (d_hidden, 1), init_std)  # drawn even when the MD head replaces it
        self.d_out_b = torch.zeros(self.K, 1, 1)
        # the tricks draw after the plain nets, from the same per-model generators: a row without
        # tricks draws exactly what it drew before they existed
        self.md_kernels, self.md_kernel_dim = tricks.md_kernels, tricks.md_kernel_dim
        self.md_pair_sums = md_pair_sums  # train_row swaps in fused_md_pair_sums (same values)
        if self.md_kernels:  # §3.2: MinibatchDiscriminationHead(d_hidden, 1, B, C)
            B, C = self.md_kernels, self.md_kernel_dim
            self.md_theta = _normal(gens, (d_hidden, B, C), MD_STD)  # [K, A, B, C]
            self.md_log_scale = torch.zeros(self.K, B, C)
            self.md_b = torch.full((self.K, 1, B), -1.0)
            self.md_v = _normal(gens, (d_hidden + B, 1), MD_STD)  # the dense layer's direction, [K, A + B, 1]
            self.md_g = torch.ones(self.K, 1, 1)  # its scale (weight norm per output unit)
            self.md_bias = torch.zeros(self.K, 1, 1)
        self.vbn_size = tricks.vbn_reference_size
        if self.vbn_size:  # §3.5: G's BN layers become VBN (log-scale, shift); a fixed reference batch per model
            self.g_log_gamma = [_normal(gens, (1, g_hidden), VBN_GAMMA_STD) for _ in range(g_depth)]
            self.vbn_z = torch.stack([torch.randn(self.vbn_size, z_dim, generator=torch.Generator().manual_seed(s))
                                      for s in seeds])  # [K, n, z_dim], gan-lab's sample_z(n, Generator(seed))
        for p in self.g_params() + self.d_params():
            p.requires_grad_(True)
        self.history = HistoricalAverages(tricks.historical_weight) if tricks.historical_weight is not None else None

    def to(self, device: torch.device | str) -> "Ensemble":
        """Every tensor of the nets on ``device`` (``--device``); call it before the optimisers are built.
        Leaves stay leaves with their ``requires_grad``."""
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to(device).requires_grad_(t.requires_grad)

        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, name, move(value))
            elif isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
                setattr(self, name, [move(v) for v in value])
        return self

    def g_params(self) -> list[torch.Tensor]:
        if self.vbn_size:
            return [*self.g_w, *self.g_log_gamma, *self.g_beta, self.g_out_w, self.g_out_b]
        return [*self.g_w, *self.g_gamma, *self.g_beta, self.g_out_w, self.g_out_b]

    def d_params(self) -> list[torch.Tensor]:
        if self.md_kernels:
            return [*self.d_w, *self.d_b, self.md_theta, self.md_log_scale, self.md_b, self.md_v, self.md_g, self.md_bias]
        return [*self.d_w, *self.d_b, self.d_out_w, self.d_out_b]

    def generate(self, z: torch.Tensor, train: bool) -> torch.Tensor:
        """z [K, S, B, z_dim] (S packing slots, batch-norm statistics per slot) -> x [K, S, B, 2]."""
        K, S, B, _ = z.shape
        h = z.reshape(K, S * B, -1)
        if self.vbn_size:
            return self._generate_vbn(h).view(K, S, B, -1)
        for i, w in enumerate(self.g_w):
            h = torch.bmm(h, w)
            if train:
                hs = h.view(K, S, B, -1)
                mean = hs.mean(2, keepdim=True)
                var = (hs - mean).square().mean(2, keepdim=True)  # biased; Tensor.var here took 10x longer
                h = ((hs - mean) * torch.rsqrt(var + BN_EPS)).view(K, S * B, -1)
                with torch.no_grad():  # PacGAN averages the slots' statistics, then momentum 0.05
                    self.run_mean[i].lerp_(mean.mean(1), BN_MOMENTUM)
                    self.run_var[i].lerp_(var.mean(1) * B / max(B - 1, 1), BN_MOMENTUM)
            else:
                h = (h - self.run_mean[i]) * torch.rsqrt(self.run_var[i] + BN_EPS)
            h = torch.relu(torch.addcmul(self.g_beta[i], h, self.g_gamma[i]))
        return torch.baddbmm(self.g_out_b, h, self.g_out_w).view(K, S, B, -1)

    def _generate_vbn(self, z: torch.Tensor) -> torch.Tensor:
        """gan-lab's VirtualBN transform: [z_ref; z] through G, the outputs of z only ([K, N, z_dim] ->
        [K, N, 2]); the same in training and sampling. The packing slots need no special case: a
        live point's normalisation depends on itself and the reference batch only."""
        n = self.vbn_size
        h = torch.cat([self.vbn_z, z], dim=1)
        for w, log_gamma, beta in zip(self.g_w, self.g_log_gamma, self.g_beta):
            h = torch.relu(virtual_batch_norm(torch.bmm(h, w), n, log_gamma, beta))
        return torch.baddbmm(self.g_out_b, h[:, n:], self.g_out_w)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """D's last hidden layer f(x): x [K, N, 2m] -> [K, N, d_hidden]."""
        h = x
        for w, b in zip(self.d_w, self.d_b):
            h = torch.baddbmm(b, h, w)
            if self.pieces == 1:  # no maxout: LeakyReLU(0.2) units (a variant, ``--set pieces=1``)
                h = F.leaky_relu(h, 0.2)
            else:  # blocks' Maxout: contiguous pieces. ``max`` rather than ``amax``: the same values and
                # (without ties) the same gradient, but its backward is a scatter (amax's compares and
                # divides: 3x slower)
                h = h.view(*h.shape[:-1], -1, self.pieces).max(-1).values
        return h

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """D's output layer: features [K, N, d_hidden] -> logits [K, N]. With minibatch discrimination,
        o(x) compares a point with the other N - 1 points of the call."""
        return self.head_sets(features, 1)[0]

    def head_sets(self, features: torch.Tensor, sets: int) -> list[torch.Tensor]:
        """D's output layer on ``sets`` consecutive sets of N / sets points (``model_losses``: the real
        batch, then the fake one): logits [K, N / sets] per set. With minibatch discrimination, o(x)
        compares a point with the other points of its own set; M is projected once for all sets (one
        weight normalisation, one bmm), and each set's logits come from its own pair sums and dense
        layer, so G's gradient (through the fake set's logits) never runs the real set's pair-sum
        backward (a joined output would send it zeros: 5 ms of work per step)."""
        K, N, _ = features.shape
        n = N // sets
        if not self.md_kernels:
            logits = torch.baddbmm(self.d_out_b, features, self.d_out_w).squeeze(-1)
            return [logits[:, i * n:(i + 1) * n] for i in range(sets)]
        M = self.md_project(features)  # [K, N, B, C]
        weight = self.md_dense_weight()
        out = []
        for i in range(sets):
            rows = slice(i * n, (i + 1) * n)
            o = self.md_set_sums(M[:, rows]) + self.md_b  # [K, n, B]
            out.append(torch.baddbmm(self.md_bias, torch.cat([features[:, rows], o], dim=-1), weight).squeeze(-1))
        return out

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """x [K, N, 2m] -> logits [K, N]."""
        return self.head(self.features(x))

    # ---- minibatch discrimination (§3.2), gan_lab.nets.layers.minibatch_discrimination per model ----------
    def md_project(self, features: torch.Tensor) -> torch.Tensor:
        """M = f(x) W, W = theta exp(log_scale) / ||theta||_A: [K, N, A] -> [K, N, B, C]."""
        K, N, A = features.shape
        norm = self.md_theta.square().sum(dim=1).sqrt()  # [K, B, C], no epsilon (nn.py l. 140)
        weight = self.md_theta * (self.md_log_scale.exp() / norm).unsqueeze(1)  # [K, A, B, C]
        return torch.bmm(features, weight.reshape(K, A, -1)).view(K, N, self.md_kernels, self.md_kernel_dim)

    def md_kernel_sums(self, features: torch.Tensor) -> torch.Tensor:
        """sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1) over the batch: [K, N, A] -> [K, N, B] (no bias)."""
        return self.md_set_sums(self.md_project(features))

    def md_set_sums(self, M: torch.Tensor) -> torch.Tensor:
        """The pair sums of one set of projected points: M [K, n, B, C] -> [K, n, B], self pairs excluded."""
        K, n, B, C = M.shape
        sums = self.md_pair_sums(M.permute(0, 2, 1, 3).reshape(K * B, n, C))  # [K * B, n]
        return sums.view(K, B, n).transpose(1, 2)

    def md_dense_weight(self) -> torch.Tensor:
        """The weight-normalised dense layer: g v / ||v|| (norm over the inputs), [K, A + B, 1]."""
        return self.md_v * (self.md_g / self.md_v.square().sum(dim=1, keepdim=True).sqrt())

    @torch.no_grad()
    def init_from_data(self, real: torch.Tensor) -> None:
        """The minibatch-discrimination head's data-dependent init (``MinibatchDiscriminationHead.
        init_from_data``) on each model's own real points ``real`` [K, N, 2m], one model at a time
        (its [B, N, N] distances): each kernel's mean nearest-neighbour L1 distance becomes 2, the
        bias -mean o, then the dense layer's logits mean 0 and std 0.1. No-op without the head."""
        if not self.md_kernels:
            return
        features = self.features(real)
        M = self.md_project(features)
        for k in range(self.K):
            mean_min_abs_dif = 0.5 * mean_nearest_neighbour_l1(M[k])  # [B], nn.py l. 157
            self.md_log_scale[k].sub_(mean_min_abs_dif.log().unsqueeze(1))  # l. 159
        M = self.md_project(features)
        sums = torch.stack([torch.exp(-pairwise_l1(M[k])).sum(dim=2).t() for k in range(self.K)])  # [K, N, B], l. 161
        self.md_b.copy_(-sums.mean(dim=1, keepdim=True))  # l. 164-166
        o = sums + self.md_b
        t = torch.bmm(torch.cat([features, o], dim=-1), self.md_dense_weight())  # [K, N, 1], no bias
        m = t.mean(dim=1, keepdim=True)
        inv_stdv = MD_INIT_STDV / (t - m).square().mean(dim=1, keepdim=True).sqrt()
        self.md_g.mul_(inv_stdv)
        self.md_bias.copy_(-m * inv_stdv)


class HistoricalAverages:
    """§3.3, gan_lab's ``HistoricalAveraging`` per model: lambda ||theta_k - theta_bar_k||^2 for each player,
    theta_bar the running mean of the player's parameters after each of its updates, theta[0] (taken
    at the first penalty, after the data-dependent init) included."""

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.averages: dict[str, list[torch.Tensor]] = {}
        self.counts: dict[str, int] = {}

    def penalty(self, player: str, params: list[torch.Tensor]) -> torch.Tensor:
        """[K]: model k's penalty, a sum over its own slices of the player's parameters."""
        if player not in self.averages:
            self.averages[player] = [p.detach().clone() for p in params]
            self.counts[player] = 1
        return self.weight * sum((p - a).square().flatten(1).sum(1) for p, a in zip(params, self.averages[player]))

    @torch.no_grad()
    def after_step(self, player: str, params: list[torch.Tensor]) -> None:
        self.counts[player] += 1
        torch._foreach_lerp_(self.averages[player], [p.detach() for p in params], 1.0 / self.counts[player])


def pack_fake(x: torch.Tensor) -> torch.Tensor:
    """[K, m, B, 2] -> [K, B, 2m]: slot j's sample is columns 2j..2j+1 (PacGAN concatenates on axis 1)."""
    K, S, B, D = x.shape
    return x.permute(0, 2, 1, 3).reshape(K, B, S * D)


def model_losses(net: Ensemble, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each model's D and G loss, [K] each (a mean over its batch), with the row's tricks.

    PacGAN's: D softplus(-D(x)) + softplus(D(G(z))); G (non-saturating) softplus(-D(G(z))). D sees real
    and fake in one call, as PacGAN's ``get_predictions`` (with minibatch discrimination o(x) is
    computed within the real and within the fake half). Label smoothing: D's real term is the BCE
    against ``real_target``. Feature matching: G's loss is the feature distance, the real half's
    features detached. Historical averaging: each player's penalty is added to its loss.
    """
    tricks = net.tricks
    fake = pack_fake(net.generate(z, train=True))
    B = real.shape[1]
    features = net.features(torch.cat([real, fake], dim=1))
    # minibatch discrimination's o(x) within the real and within the fake batch, as gan-lab calls D on each
    d_real, d_fake = net.head_sets(features, 2)
    if tricks.real_target == 1.0:
        real_term = F.softplus(-d_real)
    else:  # gan_lab.losses.bce_real
        real_term = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, tricks.real_target), reduction="none")
    d_loss = (real_term + F.softplus(d_fake)).mean(1)
    g_loss = F.softplus(-d_fake).mean(1)
    if tricks.feature_matching:  # gan_lab.tricks.feature_matching.feature_matching_loss, per model
        squared = (features[:, :B].detach().mean(dim=1) - features[:, B:].mean(dim=1)).square()  # [K, F]
        fm = tricks.fm_weight * (squared.mean(-1) if tricks.fm_reduction == "mean" else squared.sum(-1))
        g_loss = fm + g_loss if tricks.fm_add_to_adversarial else fm
    if net.history is not None:
        d_loss = d_loss + net.history.penalty("d", net.d_params())
        g_loss = g_loss + net.history.penalty("g", net.g_params())
    return d_loss, g_loss


def gan_losses(net: Ensemble, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The losses of :func:`model_losses`, summed over the K models (each model's gradient is its own)."""
    d_loss, g_loss = model_losses(net, real, z)
    return d_loss.sum(), g_loss.sum()


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
    if net.history is not None:
        net.history.after_step("d", d_params)
        net.history.after_step("g", g_params)

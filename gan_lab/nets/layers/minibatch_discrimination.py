"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2),
written as the original code does it, data-dependent init included.

Original: openai/improved-gan, ``mnist_svhn_cifar10/nn.py``, class ``MinibatchLayer`` (lines 131-170)
and ``WeightNormLayer`` / ``weight_norm`` (lines 45-100); wired in
``mnist_svhn_cifar10/train_cifar_minibatch_discrimination.py`` lines 66-67 (a ``MinibatchLayer`` with
100 kernels, then ``nn.weight_norm(ll.DenseLayer(..., W=Normal(0.05), nonlinearity=None),
train_g=True, init_stdv=0.1)``) and initialised from data once, on the first batch, lines 73-75,
100 and 140 (``init_param(trainx[:500])``).

Minibatch layer (``MinibatchLayer``):

* parameters ``theta`` [A, K, C] ~ N(0, 0.05), ``log_weight_scale`` [K, C] = 0, ``b`` [K] = -1
  (nn.py l. 133-141);
* the tensor actually used is ``W = theta * exp(log_weight_scale) / ||theta||``, the norm taken over
  the input axis A for each (kernel, dim) column (nn.py l. 140; no epsilon, as there);
* ``M_i = f(x_i) W`` in R^{K x C}, ``c_k(x_i, x_j) = exp(-||M_{i,k} - M_{j,k}||_1)``,
  ``o(x_i)_k = sum_{j != i} c_k(x_i, x_j) + b_k`` and the output is ``[f(x_i), o(x_i)]``
  (nn.py l. 152-170). The self term j = i is excluded, as in the original: it adds
  ``1e6 * eye`` to the distances (l. 153-154), so the j = i term is exp(-1e6) = 0, not exp(0) = 1.
  Here the diagonal is masked (distance +inf), which gives the same values.

Data-dependent init (``init_from_data``, nn.py l. 156-166, run with ``init=True``):

* ``m_k = 0.5 * mean_i min_{j != i} ||M_{i,k} - M_{j,k}||_1`` (l. 157);
* ``log_weight_scale[k, :] -= log(m_k)`` (l. 159): W_k is divided by m_k, so on that batch the mean
  nearest-neighbour L1 distance of every kernel becomes exactly 2;
* ``b_k = -mean_i sum_{j != i} c_k(x_i, x_j)`` with the rescaled distances (l. 164-166): on that
  batch ``mean_i o(x_i)_k = 0`` exactly.

Dense layer after it (``weight_norm(ll.DenseLayer)``, i.e. ``WeightNormLayer``): ``W = g v / ||v||``
(norm per output unit, nn.py l. 77), v ~ N(0, 0.05), g = 1, bias 0 (lasagne's own bias is removed,
l. 97-99). Init (l. 82-87) with ``init_stdv = 0.1`` (train script l. 67): ``t = x W`` (no bias),
``m = mean_i t``, ``s = sqrt(mean_i (t - m)^2)``, ``g <- g * init_stdv / s``,
``bias <- -m * init_stdv / s``. So on the init batch every logit has mean 0 and (population)
std ``init_stdv`` = 0.1, not 1 (the older ``nn.DenseLayer``, l. 286-291, used 1; the minibatch
discrimination scripts use ``weight_norm`` with 0.1). ``g`` is trained (``train_g=True``).

In the original all layers initialise in one pass, each on the already-normalised output of the
layer below; :meth:`MinibatchDiscriminationHead.init_from_data` does the same (MD layer first, then
the dense layer on the MD layer's post-init output, same batch). Note the original initialises on
500 labelled examples and trains on batches of 100; o is a sum over the batch, so its offset
depends on the batch size: initialise on a batch of the training batch size to get mean(o) = 0
at the start of training.

Init-once rule: each module has a persistent bool buffer ``initialized`` (saved in the state dict).
``init_from_data`` initialises only if ``initialized`` is False, or if called with ``force=True``;
otherwise it is a no-op and returns False. A checkpoint restores ``initialized`` = True, so nothing
re-initialises after loading. Nothing initialises automatically in ``forward``: the caller runs
``init_from_data`` once, on the first batch, as the original's ``init_param`` does.

Deviation: ``torch.nn.utils.parametrizations.weight_norm`` computes ``||v||`` without the original's
``1e-6`` inside the square root (nn.py l. 77); irrelevant for v ~ N(0, 0.05).
Deviation: o(x) is computed by :class:`PairKernelSums`, a ``torch.autograd.Function`` with a
hand-written backward, instead of the original's [N, K, C, N] broadcast (l. 153): on M as [K, C, N]
it accumulates the L1 distances one dimension at a time into [K, N, N], in place, and keeps
E_kij = c_k(x_i, x_j) for the backward, d/dM_ic sum_i' g_i' o_i' = -sum_j (g_i + g_j) E_ij
sign(M_ic - M_jc) (E symmetric), instead of ``torch.cdist``'s backward, which recomputes the
distances. Eager ops by default; ``compile=True`` (``tricks.minibatch_discrimination.compile=true``) runs
compiled kernels: on a CPU, float32, :class:`CpuPairKernelSums`, gan-lab's own C kernel over the unordered pairs
(:mod:`gan_lab.nets.layers.pair_sums_cpu`: half the work, nothing of size N^2 kept; built by the machine's
compiler in ~1 s on first use), else :class:`CompiledPairKernelSums`, Inductor kernels (a GPU; a CPU without a
compiler cannot compile either) whose first call of each shape compiles (~15 s in a fresh process). On the 2-D
protocol's shapes, one thread: forward 1.45 / 10.1 / 28.9 ms and backward 2.89 / 6.5 / 28.4 ms for the CPU kernel /
Inductor / eager (``benchmarks/results/md_kernel_2026-12-07_m5_k100_c5_n100_1thread_174117.json``). With ``create_graph=True`` (gradient penalties) the backward
recomputes E by differentiable ops, so double backward works; under ``torch.func.vmap`` (ensembles)
the vmapped dim is folded into the kernel axis. The self pair j = i is excluded by zeroing E's
diagonal (the original adds 1e6 to the distances, l. 153-154: the same values). Pairs at L1
distance >= ``FAR_L1`` = 40 count 0 instead of exp(-L1) <= 4.2e-18: beyond ~87 exp(-L1) is a
denormal (or underflows through one), which this CPU's exp computes ~40x slower (5% such pairs made
exp over E 3x slower), and the backward's (g_i + g_j) E_ij is one whenever E_ij times o's gradient drops
below 1.2e-38: with the first threshold, 80, a gradient ~1e-3 on E ~1e-35 did. At 40, E >= 4.2e-18 keeps
those products normal for gradients above ~3e-21. Together with E saved by the compiled forward (below), a
5-seed ensemble of the 2-D protocol's nets with this trick on grid25 went from 3,124 to 5,377 img/s on one
thread, one seed from 2,801 to 4,154 (``benchmarks/results/ensemble_2026-12-06_gan_mlp_grid25_m5_1thread_md*.json``). The distances are clamped before
exp instead of flushing denormals process-wide. o changes by less than N 4.2e-18; a gradient of that size
moves no weight under Adam (eps 1e-8). The reference of tests/integration/test_bit_identical.py (all five
tricks, minibatch discrimination by this kernel) did not change with 80 -> 40.
Deviation: the init recomputes o with the updated ``log_weight_scale`` instead of dividing the
cached distances by m_k (l. 158); identical up to rounding.
"""
from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from gan_lab.nets.layers import pair_sums_cpu

__all__ = [
    "MinibatchDiscrimination",
    "MinibatchDiscriminationHead",
    "pairwise_l1",
    "mean_nearest_neighbour_l1",
    "pair_kernel_sums",
    "PairKernelSums",
    "CpuPairKernelSums",
    "kernel_sums_op",
]

FAR_L1 = 40.0  # pairs farther apart (L1) count exp(-L1) = 0, not <= 4.2e-18 (module docstring)


def pairwise_l1(projected: torch.Tensor) -> torch.Tensor:
    """L1 distances between examples, per kernel, self pairs masked to +inf.

    ``projected``: M of shape [N, K, C] (as ``MinibatchLayer``'s ``activation``). Returns [K, N, N]
    with ``out[k, i, j] = ||M_{i,k} - M_{j,k}||_1`` and ``out[k, i, i] = inf`` (the original adds
    1e6 on the diagonal, nn.py l. 153-154). Uses ``torch.cdist(p=1)``: no [N, N, K, C] temporary.
    """
    m = projected.transpose(0, 1)  # [K, N, C]
    l1 = torch.cdist(m, m, p=1)  # [K, N, N]
    n = l1.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=l1.device)
    return l1.masked_fill(eye, float("inf"))


def mean_nearest_neighbour_l1(projected: torch.Tensor) -> torch.Tensor:
    """Per-kernel mean over i of min_{j != i} ||M_{i,k} - M_{j,k}||_1; ``projected`` [N, K, C] -> [K].

    The data-dependent init of :class:`MinibatchDiscrimination` makes this exactly 2 on the init
    batch (``mean_min_abs_dif = 0.5 * ...``, nn.py l. 157).
    """
    if projected.shape[0] < 2:
        raise ValueError("nearest neighbours need a batch of at least 2 examples")
    return pairwise_l1(projected).amin(dim=2).mean(dim=1)


def _kernel_matrix(mt: torch.Tensor) -> torch.Tensor:
    """E [K, N, N] from ``mt`` = M as [K, C, N]: E_kij = exp(-||M_ik - M_jk||_1) (§3.2), 0 for j = i and
    for L1 >= ``FAR_L1``. No autograd (in place, one [K, N, N] buffer for the differences)."""
    d = mt.new_zeros(mt.shape[0], mt.shape[2], mt.shape[2])
    buf = torch.empty_like(d)
    for x in mt.unbind(1):  # [K, N]: one dim at a time, no [K, C, N, N] temporary
        d.add_(torch.sub(x.unsqueeze(2), x.unsqueeze(1), out=buf).abs_())
    near = torch.lt(d, FAR_L1, out=buf)
    e = d.clamp_(max=FAR_L1).neg_().exp_().mul_(near)  # clamped first: exp never makes denormals
    e.diagonal(dim1=1, dim2=2).zero_()  # j = i excluded (nn.py l. 153-154)
    return e


def _kernel_grad(mt: torch.Tensor, e: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """d/dM_ic of sum_i' g_i' o_i' = -sum_j (g_i + g_j) E_ij sign(M_ic - M_jc) (E symmetric):
    [K, C, N], [K, N, N], [K, N] -> [K, C, N]. No autograd (in place, one [K, N, N] buffer)."""
    w = torch.add(grad.unsqueeze(2), grad.unsqueeze(1)).mul_(e)
    buf = torch.empty_like(w)
    return torch.stack([torch.sub(x.unsqueeze(1), x.unsqueeze(2), out=buf).sign_().mul_(w).sum(2) for x in mt.unbind(1)], 1)


class PairKernelSums(torch.autograd.Function):
    """``mt`` = M as [K, C, N] -> (s [K, N], E [K, N, N]), s_ki = sum_{j != i} E_kij (§3.2; E as in
    :func:`_kernel_matrix`, returned for the backward only, not differentiable). Hand-written backward
    from the saved E; with ``create_graph=True`` it recomputes E by differentiable ops (double
    backward). Under ``torch.func.vmap`` the vmapped dim is folded into the kernel axis K."""

    @staticmethod
    def forward(mt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = _kernel_matrix(mt)
        return e.sum(2), e

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0], output[1])
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # no [K, N, N] of zeros for E's gradient

    @staticmethod
    def backward(ctx, grad: torch.Tensor | None, _grad_e: None) -> torch.Tensor | None:
        if grad is None:
            return None
        mt, e = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True (gradient penalties): E again, by differentiable ops
            return _grad_by_pairs(mt, grad)
        return _kernel_grad(mt, e, grad)

    @staticmethod
    def vmap(info, in_dims, mt):
        mt = mt.movedim(in_dims[0], 0)  # [B, K, C, N] -> B * K kernels
        s, e = PairKernelSums.apply(mt.flatten(0, 1))
        return (s.unflatten(0, mt.shape[:2]), e.unflatten(0, mt.shape[:2])), (0, 0)


def _kernel_by_pairs(mt: torch.Tensor) -> torch.Tensor:
    """E [K, N, N] from ``mt`` = M as [K, C, N] by ops Inductor fuses and autograd differentiates; unlike
    :func:`_kernel_matrix`, the diagonal keeps exp(-0) = 1 (the backward's sign(M_ic - M_ic) = 0 drops it)."""
    d = (mt.unsqueeze(3) - mt.unsqueeze(2)).abs().sum(1)  # [K, N, N]
    return torch.where(d < FAR_L1, torch.exp(-d.clamp(max=FAR_L1)), 0.0)


def _sums_by_pairs(mt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(s [K, N], E [K, N, N]) from ``mt`` = M as [K, C, N], written for Inductor to fuse into one loop over (k, i, j):
    the j = i term is exp(-0) = 1 exactly, so it is subtracted from s instead of masked."""
    e = _kernel_by_pairs(mt)
    return e.sum(2) - 1.0, e


def _grad_from_kernel(mt: torch.Tensor, e: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """:func:`_kernel_grad` from the forward's E, written for Inductor (one loop over (k, c, i, j), no [K, C, N, N] in
    memory); E's diagonal is not read (sign(0) = 0)."""
    w = (grad.unsqueeze(2) + grad.unsqueeze(1)) * e
    return -((mt.unsqueeze(3) - mt.unsqueeze(2)).sign() * w.unsqueeze(1)).sum(3)


def _grad_by_pairs(mt: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """:func:`_kernel_grad` with E recomputed from ``mt`` by ops autograd differentiates (double backward,
    ``create_graph=True``); the diagonal's sign(0) = 0 drops the j = i term."""
    return _grad_from_kernel(mt, _kernel_by_pairs(mt), grad)


@functools.cache
def _compiled(fn):
    """``torch.compile(fn)`` once per process (one specialisation per shape: a batch size is one shape)."""
    return torch.compile(fn, dynamic=False)


class CompiledPairKernelSums(PairKernelSums):
    """:class:`PairKernelSums` by Inductor kernels (``tricks.minibatch_discrimination.compile=true``): ``mt`` -> (s, E),
    E saved for the backward (as the eager kernel does) instead of recomputed there, which costs the forward
    nothing more (it computes E anyway) and spares the backward its exp over [K, N, N]. The first call of a
    shape compiles (~15 s in a fresh process, ~2 s with Inductor's cache warm). Sums differ from the eager
    kernel's by float rounding (~4e-6 on sums of ~100)."""

    @staticmethod
    def forward(mt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # setup_context: PairKernelSums' (mt and E saved)
        return _compiled(_sums_by_pairs)(mt)

    @staticmethod
    def backward(ctx, grad: torch.Tensor | None, _grad_e: None) -> torch.Tensor | None:
        if grad is None:
            return None
        mt, e = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True (gradient penalties): eager, by differentiable ops
            return _grad_by_pairs(mt, grad)
        return _compiled(_grad_from_kernel)(mt, e, grad.contiguous())

    @staticmethod
    def vmap(info, in_dims, mt):
        mt = mt.movedim(in_dims[0], 0)  # [B, K, C, N] -> B * K kernels
        s, e = CompiledPairKernelSums.apply(mt.flatten(0, 1))
        return (s.unflatten(0, mt.shape[:2]), e.unflatten(0, mt.shape[:2])), (0, 0)


class CpuPairKernelSums(PairKernelSums):
    """:class:`PairKernelSums` on a CPU by gan-lab's own C kernel over the unordered pairs (``compile=True``, float32,
    C <= 16; :mod:`gan_lab.nets.layers.pair_sums_cpu`): ``mt`` [K, C, N] -> (s [K, N], M in the kernel's layout, kept
    for the backward, which recomputes E from it instead of saving E [K, N, N]). Sums differ from the other kernels'
    by float rounding (pairs summed in another order, exp by a degree-6 polynomial: ~2e-6 on sums of ~5)."""

    @staticmethod
    def forward(mt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # setup_context: PairKernelSums' (mt and rows saved)
        rows = pair_sums_cpu.to_rows(mt)
        return pair_sums_cpu.sums(rows, mt.shape[0], FAR_L1), rows

    @staticmethod
    def backward(ctx, grad: torch.Tensor | None, _grad_rows: None) -> torch.Tensor | None:
        mt, rows = ctx.saved_tensors
        if grad is None or torch.is_grad_enabled():  # create_graph=True (gradient penalties): by differentiable ops
            return PairKernelSums.backward(ctx, grad, None)
        return pair_sums_cpu.sums_grad(rows, grad, FAR_L1)

    @staticmethod
    def vmap(info, in_dims, mt):
        mt = mt.movedim(in_dims[0], 0)  # [B, K, C, N] -> B * K kernels
        s, rows = CpuPairKernelSums.apply(mt.flatten(0, 1))
        return (s.unflatten(0, mt.shape[:2]), rows), (0, None)


@torch.compiler.disable
def kernel_sums_op(mt: torch.Tensor, compiled: bool) -> torch.Tensor:
    """s [K', N] of :class:`PairKernelSums` (eager) or, ``compiled``, of :class:`CpuPairKernelSums` (float32 on a CPU with
    a compiler) else :class:`CompiledPairKernelSums` (Inductor: a GPU, float64) on ``mt`` [K', C, N].
    Opaque to Dynamo: under ``model.compile=true`` D's graph breaks around it and the kernel keeps its own compiled
    forward and backward, which save E [K', N, N] alone (or nothing of size N^2, the CPU kernel). Traced into D's graph
    instead, the 2-D protocol's 5-seed grid25 iterations were slower than with no model.compile at all (AOTAutograd
    saved more of the pairs for the backward, and each iteration page-faulted several times as much fresh memory)."""
    if not compiled:
        return PairKernelSums.apply(mt)[0]
    return (CpuPairKernelSums if pair_sums_cpu.supports(mt) else CompiledPairKernelSums).apply(mt)[0]


def pair_kernel_sums(projected: torch.Tensor, compiled: bool = False) -> torch.Tensor:
    """sum_{j != i} c_k(x_i, x_j) = sum_{j != i} exp(-||M_ik - M_jk||_1) (§3.2): M [N, K, C] -> [N, K],
    by :class:`PairKernelSums` (eager) or compiled kernels (``compiled``: :func:`kernel_sums_op`)."""
    mt = projected.permute(1, 2, 0).contiguous()
    return kernel_sums_op(mt, compiled).t()


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination layer, §3.2, as ``MinibatchLayer`` (improved-gan ``nn.py``).

    ``forward(features [N, A]) -> [N, A + num_kernels] = [features, o]`` with
    ``o_k(x_i) = sum_{j != i} exp(-||M_{i,k} - M_{j,k}||_1) + b_k`` and
    ``M = features @ (theta * exp(log_weight_scale) / ||theta||_A)``. Inputs with more than two
    dimensions are flattened to [N, A] as in the original. See the module docstring for the
    data-dependent init and the init-once rule.
    """

    initialized: torch.Tensor

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, compile: bool = False) -> None:
        super().__init__()
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.compile = compile  # o(x) by compiled kernels (CpuPairKernelSums on a CPU, CompiledPairKernelSums on a GPU)
        # nn.py l. 133-141: theta ~ N(0, 0.05), log_weight_scale = 0, b = -1
        self.theta = nn.Parameter(torch.randn(in_features, num_kernels, kernel_dim) * 0.05)
        self.log_weight_scale = nn.Parameter(torch.zeros(num_kernels, kernel_dim))
        self.b = nn.Parameter(torch.full((num_kernels,), -1.0))
        self.register_buffer("initialized", torch.tensor(False), persistent=True)

    @property
    def out_features(self) -> int:
        return self.in_features + self.num_kernels

    @property
    def weight(self) -> torch.Tensor:
        """W = theta * exp(log_weight_scale) / ||theta|| (norm over the input axis), [A, K, C]."""
        norm = self.theta.square().sum(dim=-3).sqrt()  # [K, C], nn.py l. 140 (no epsilon)
        # axes from the right: an ensemble's member layer reads it of its stacked [M, A, K, C] theta too
        return self.theta * (self.log_weight_scale.exp() / norm).unsqueeze(-3)

    def _flatten(self, features: torch.Tensor) -> torch.Tensor:
        return features.flatten(1) if features.dim() > 2 else features

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """M = f(x) W: [N, A] -> [N, K, C] (``activation``, nn.py l. 152)."""
        return torch.einsum("na,akc->nkc", self._flatten(features), self.weight)

    def kernel_sums(self, features: torch.Tensor) -> torch.Tensor:
        """sum_{j != i} c_k(x_i, x_j), without the bias: [N, A] -> [N, K] (``f``, nn.py l. 161)."""
        return pair_kernel_sums(self.project(features), compiled=self.compile)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self._flatten(features)
        o = self.kernel_sums(features) + self.b  # nn.py l. 168
        return torch.cat([features, o], dim=1)  # nn.py l. 170

    @torch.no_grad()
    def init_from_data(self, features: torch.Tensor, force: bool = False) -> bool:
        """Data-dependent init of nn.py l. 156-166 on ``features`` [N, A], N >= 2.

        Rescales each kernel so that its mean nearest-neighbour L1 distance on this batch is 2, then
        sets ``b = -mean_i o_nobias(x_i)`` so that ``mean_i o(x_i) = 0`` on this batch. Runs only if
        not yet initialised or ``force``; returns whether it ran.
        """
        if bool(self.initialized) and not force:
            return False
        features = self._flatten(features)
        mean_min_abs_dif = 0.5 * mean_nearest_neighbour_l1(self.project(features))  # [K], l. 157
        self.log_weight_scale.sub_(mean_min_abs_dif.log().unsqueeze(1))  # l. 159
        self.b.copy_(-self.kernel_sums(features).mean(dim=0))  # l. 161, 164-166
        self.initialized.fill_(True)
        return True

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}"


def weight_norm_layer(layer: nn.Module, train_g: bool = True) -> nn.Module:
    """The original's ``nn.weight_norm(layer, W=Normal(0.05))`` (nn.py l. 45-100) of a linear or conv
    layer: v ~ N(0, 0.05), bias 0, ``w = g v / ||v||`` per output unit (``dim=0``) with g = 1;
    ``train_g=False`` (its default in the original, l. 47) freezes g after the data-dependent init."""
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.05)
        layer.bias.zero_()
    layer = weight_norm(layer, name="weight", dim=0)
    g = layer.parametrizations.weight.original0
    with torch.no_grad():
        g.fill_(1.0)
    g.requires_grad_(train_g)
    return layer


@torch.no_grad()
def weight_norm_init_(layer: nn.Module, t: torch.Tensor, init_stdv: float, dims: tuple[int, ...]) -> None:
    """The weight-norm data-dependent init (nn.py l. 82-87): ``t`` is the layer's output on an init batch
    without bias, the output units on dim 1, ``dims`` the dims reduced over (batch, and the pixels of a
    conv); g <- g init_stdv / s, b <- -m init_stdv / s with m, s (population std) per output unit."""
    m = t.mean(dim=dims, keepdim=True)  # l. 83
    inv_stdv = (init_stdv / (t - m).square().mean(dim=dims, keepdim=True).sqrt()).flatten()  # l. 85
    g = layer.parametrizations.weight.original0  # [out, 1, ...]
    g.mul_(inv_stdv.view(-1, *[1] * (g.dim() - 1)))  # l. 87: g <- g * inv_stdv
    layer.bias.copy_(-m.flatten() * inv_stdv)  # l. 87: b <- -m * inv_stdv


class MinibatchDiscriminationHead(nn.Module):
    """D's output head of the original's minibatch discrimination scripts: ``MinibatchLayer``
    followed by a weight-normalised dense layer (train_cifar_minibatch_discrimination.py l. 66-67).

    ``forward(features [N, A]) -> logits [N, out_dim]``. The dense layer is
    ``weight_norm(nn.Linear(A + num_kernels, out_dim))`` with v ~ N(0, 0.05), g = 1, bias 0 as in
    ``WeightNormLayer`` (nn.py l. 45-100); ``init_from_data`` initialises the MD layer then the
    dense layer on the same batch so that every logit has mean 0 and std ``init_stdv`` (0.1, the
    original's value) on it. Own persistent ``initialized`` buffer; same init-once rule.
    """

    initialized: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_dim: int,
        num_kernels: int = 100,
        kernel_dim: int = 5,
        init_stdv: float = 0.1,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_dim, self.init_stdv = in_features, out_dim, init_stdv
        self.md = MinibatchDiscrimination(in_features, num_kernels, kernel_dim, compile=compile)
        self.dense = weight_norm_layer(nn.Linear(self.md.out_features, out_dim))  # train script l. 67, g trained
        self.register_buffer("initialized", torch.tensor(False), persistent=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dense(self.md(features))

    @torch.no_grad()
    def init_from_data(self, features: torch.Tensor, force: bool = False) -> bool:
        """MD init (if needed or forced), then the dense layer's weight-norm init (nn.py l. 82-87) on
        the MD layer's output for the same batch. Runs only if not yet initialised or ``force``;
        returns whether it ran."""
        if bool(self.initialized) and not force:
            return False
        self.md.init_from_data(features, force=force)
        t = nn.functional.linear(self.md(features), self.dense.weight)  # x W, no bias
        weight_norm_init_(self.dense, t, self.init_stdv, dims=(0,))
        self.initialized.fill_(True)
        return True

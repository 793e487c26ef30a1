"""An ensemble of seeds as one batched model (``ensemble.seeds=M``): M independent copies of one net,
trained in one process, whose weights are stacked along a leading member dimension and run with
``torch.func.functional_call`` under ``torch.func.vmap`` (the model-ensembling recipe of the torch.func
docs: one batched forward instead of M small ones, which is what makes small nets fast).

Layout: the examples of all members travel as one batch, member-major (``[M * B, ...]``: member m's
B examples are rows ``m * B ... (m + 1) * B - 1``), so the objective, the losses and the tricks see the
shapes of a single run; a phase's total is the mean over members of each member's loss (every term
is a mean over examples; a term that sums over parameters divides by M), and the objective
scales it by M before the backward, so member m's parameters get exactly the gradient of member m's
loss. Optimizers, EMA, weight clipping and historical averaging act elementwise on the stacked tensors,
which is per member (Adam's step counter is shared, and equal).

``net`` keeps the module structure of member 0 with every parameter and buffer replaced by its stack
(``[M, *shape]``), so an ensemble's state-dict keys are a single net's with a ``net.`` prefix and one more
dimension: :meth:`member` (and ``gan_lab.checkpoints``) slice member i out into a plain net. In-place
buffer updates (BatchNorm running statistics, spectral norm's power iteration) write into the member's
slice. Random numbers drawn inside a forward (dropout, DiffAugment) use ``randomness="different"``: each
member gets its own, but not the stream a single run of its seed would draw.

Member layers instead of vmap, where the net allows: vmap pays its batching rules in Python at every op
of every forward, which is much of a small net's iteration (a 10-member ensemble of the 2-D protocol's MLPs
on ring8: 44,449 img/s under vmap, 52,096 with member layers, 2 threads;
``benchmarks/results/ensemble_2026-12-06_gan_mlp_ring8_m10*.json``). A net built only of
row-wise modules (``ROW_WISE``: activations, dropout, flatten, and the MLP nets' own containers whose
forward is row-wise) and of layers that have a member form (``nn.Linear`` -> :class:`MemberLinear`, one
``baddbmm``; ``nn.BatchNorm1d`` -> :class:`MemberBatchNorm1d`, each member's statistics as channels of one
``batch_norm``; minibatch discrimination's head -> :class:`MemberMinibatchDiscriminationHead`; virtual BN ->
:class:`MemberVirtualBatchNorm`, with ``trick=virtual_bn``'s hooks putting each member's reference batch before its
rows) runs its own forward on the member-major batch, each layer batching its members itself. The test is by exact
type, so a parametrised layer (spectral norm) or any other module (convolutions) keeps the vmap path.
Parameters, buffers and state-dict keys are the same either way.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gan_lab.nets.layers.minibatch_discrimination import MinibatchDiscriminationHead, kernel_sums_op
from gan_lab.nets.layers.virtual_batchnorm import VirtualBatchNorm
from gan_lab.nets.mlp import Maxout, MLPDiscriminator, MLPGenerator


class MemberLinear(nn.Linear):
    """``nn.Linear`` of M members: weight ``[M, out, in]``, bias ``[M, out]``, on member-major rows ``[M * B, in]``."""

    members: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xm = x.reshape(self.members, -1, x.shape[-1])
        weight = self.weight.transpose(1, 2)
        y = torch.bmm(xm, weight) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), xm, weight)
        return y.reshape(-1, y.shape[-1])


class MemberBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` of M members on ``[M * B, C]``: each member's C channels normalised by its own batch's
    statistics (training) or its own running statistics (eval), as M * C channels of one ``F.batch_norm``; the
    running statistics ``[M, C]`` are updated in place, by the momentum, or cumulatively with ``momentum=None``."""

    members: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"an ensemble's BatchNorm1d takes [M * B, C] rows, not {tuple(x.shape)}")
        m, c = self.members, self.num_features
        flat = x.view(m, -1, c).transpose(0, 1).reshape(-1, m * c)  # [B, M * C]
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:  # as nn.BatchNorm1d.forward
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked[0])
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        y = F.batch_norm(flat, self.running_mean.view(-1) if track and self.running_mean is not None else None,
                         self.running_var.view(-1) if track and self.running_var is not None else None,
                         None if self.weight is None else self.weight.view(-1), None if self.bias is None else self.bias.view(-1),
                         use_batch, factor, self.eps)
        return y.view(-1, m, c).transpose(0, 1).reshape(-1, c)


class MemberMinibatchDiscriminationHead(MinibatchDiscriminationHead):
    """The minibatch-discrimination head (§3.2; ``MinibatchDiscriminationHead``) of M members on ``[M * B, A]``:
    each member's o(x) sums over its own B rows only (the members' kernels as M * K kernels of one
    ``PairKernelSums``, as the layer's vmap rule folds them), then each member's weight-normalised dense layer
    (``w = g v / ||v||`` per output unit) as one ``baddbmm``."""

    members: int

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        m, md = self.members, self.md
        f = md._flatten(features).reshape(m, -1, md.in_features)  # [M, B, A]
        mt = torch.einsum("mba,makc->mkcb", f, md.weight).reshape(m * md.num_kernels, md.kernel_dim, -1)  # [M * K, C, B]
        sums = kernel_sums_op(mt, md.compile)  # [M * K, B]
        o = sums.view(m, md.num_kernels, -1).transpose(1, 2) + md.b.unsqueeze(1)  # [M, B, K]
        x = torch.cat([f, o], dim=2)
        norm = self.dense.parametrizations.weight
        g, v = norm.original0, norm.original1  # [M, out, 1], [M, out, A + K]
        w = g * v / v.square().sum(dim=2, keepdim=True).sqrt()
        y = torch.baddbmm(self.dense.bias.unsqueeze(1), x, w.transpose(1, 2))
        return y.reshape(-1, y.shape[-1])


class MemberVirtualBatchNorm(VirtualBatchNorm):
    """Virtual batch norm (§3.5; ``VirtualBatchNorm``) of M members on ``[M * (n + B), C]``: each member's rows are its own
    [reference batch; live batch] (``trick=virtual_bn``'s hooks put them so on member layers), normalised by its own
    reference statistics and its own gamma / beta ``[M, C]``."""

    members: int

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m, n = self.members, self.ref_size
        if h.dim() != 2 or n < 1 or h.shape[0] <= m * n:
            raise ValueError(f"an ensemble's VirtualBatchNorm takes [M * (n + B), C] rows, each member's reference first, "
                             f"not {tuple(h.shape)}")
        hm = h.view(m, -1, h.shape[-1])
        ref, live = hm[:, :n], hm[:, n:]
        ref_mean, ref_mean_sq = ref.mean(dim=1, keepdim=True), ref.square().mean(dim=1, keepdim=True)  # [M, 1, C]
        new_coeff = 1.0 / (n + 1.0)
        mean = new_coeff * live + (1.0 - new_coeff) * ref_mean  # a row's own "mean" is itself (no spatial dims)
        mean_sq = new_coeff * live.square() + (1.0 - new_coeff) * ref_mean_sq
        gamma, beta = self.gamma_driver.exp().unsqueeze(1), self.beta.unsqueeze(1)  # [M, 1, C]

        def normalize(x, mu, mu_sq):
            return (x - mu) / torch.sqrt(self.eps + mu_sq - mu.square()) * gamma + beta

        return torch.cat([normalize(ref, ref_mean, ref_mean_sq), normalize(live, mean, mean_sq)], dim=1).flatten(0, 1)


#: each layer that has a member form, by exact type (its children are the member form's business)
MEMBER_LAYERS: dict[type, type] = {nn.Linear: MemberLinear, nn.BatchNorm1d: MemberBatchNorm1d,
                                   MinibatchDiscriminationHead: MemberMinibatchDiscriminationHead,
                                   VirtualBatchNorm: MemberVirtualBatchNorm}
#: modules whose forward treats every row alone (or only calls its children): they run an ensemble's rows as they are
ROW_WISE = (nn.Sequential, nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Flatten, nn.Identity,
            Maxout, MLPGenerator, MLPDiscriminator)


def _has_member_form(module: nn.Module) -> bool:
    if type(module) in MEMBER_LAYERS:
        return True
    return type(module) in ROW_WISE and all(_has_member_form(child) for child in module.children())


def _to_member_form(module: nn.Module, members: int) -> None:
    if type(module) in MEMBER_LAYERS:
        module.__class__ = MEMBER_LAYERS[type(module)]
        module.members = members
        return
    for child in module.children():
        _to_member_form(child, members)


def to_member_layers(net: nn.Module, members: int) -> bool:
    """Turn ``net`` (stacked parameters) into member layers in place if every module of it allows (see the module's
    docstring); return whether it did. A layer keeps its parameters, buffers and hooks: only its class changes."""
    if not _has_member_form(net):
        return False
    _to_member_form(net, members)
    return True


class Ensemble(nn.Module):
    """M nets of one architecture (built from M seeds) as one module; forward on ``[M * B, ...]``."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble has at least two members")
        self.members = len(members)
        params, buffers = stack_module_state(list(members))
        net = copy.deepcopy(members[0])
        for name, value in params.items():
            _set(net, name, nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            _set(net, name, value.detach().clone())
        self.net = net
        self._template = [members[0]]  # a plain net of the architecture, for member() (a list: not a submodule)
        self.member_layers = to_member_layers(net, self.members)

    def __getattr__(self, name: str):  # z_dim, example_shape, feature_dim, out_dim, head, augment: member 0's
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["net"], name)

    def forward(self, x: torch.Tensor, **kwargs):
        """The members on a member-major batch ``[M * B, ...]``; ``kwargs`` go to each member's forward
        (a discriminator's ``head=False``)."""
        m = self.members
        if x.shape[0] % m:
            raise ValueError(f"an ensemble of {m} members takes a member-major batch of M * B rows, not {x.shape[0]}")
        if self.member_layers:
            return self.net(x, **kwargs)
        return self._vmapped(self.net, x, kwargs)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """A discriminator ensemble's head on member-major features ``[M * B, feature_dim]`` (``Discriminator.logits``
        of each member on its own rows)."""
        if self.member_layers:
            return self.net.logits(features)
        head = self.net.head
        logits = self._vmapped(head, features, {}, prefix=next(n for n, mod in self.net.named_modules() if mod is head) + ".")
        return logits.squeeze(-1) if self.net.out_dim == 1 else logits

    def _vmapped(self, module: nn.Module, x: torch.Tensor, kwargs: dict, prefix: str = ""):
        """``module`` (``self.net`` or one of its submodules, named ``prefix``) of every member on its rows of ``x``,
        by ``vmap`` over the stacked parameters and buffers."""
        state = [{k[len(prefix):]: v for k, v in named() if k.startswith(prefix)}
                 for named in (self.net.named_parameters, self.net.named_buffers)]

        def call(params: dict, buffers: dict, rows: torch.Tensor):
            return functional_call(module, (params, buffers), (rows,), kwargs)

        m = self.members
        return _flatten(vmap(call, in_dims=(0, 0, 0), randomness="different")(*state, x.view(m, -1, *x.shape[1:])))

    def sample_z(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes in all (member-major: n / M per member)."""
        return self.net.sample_z(n, device=device, generator=generator)

    def member(self, i: int) -> nn.Module:
        """Member ``i`` as a plain net (a copy: training the ensemble does not change it)."""
        net = copy.deepcopy(self._template[0])
        for name, value in list(self.net.named_parameters()):
            _set(net, name, nn.Parameter(value.detach()[i].clone(), requires_grad=value.requires_grad))
        for name, value in list(self.net.named_buffers()):
            _set(net, name, value[i].clone())
        net.train(self.net.training)
        return net

    @torch.no_grad()
    def load_member(self, i: int, net: nn.Module) -> None:
        """Write a plain net's parameters and buffers into member ``i`` (the inverse of :meth:`member`)."""
        mine = dict(self.net.named_parameters()) | dict(self.net.named_buffers())
        for name, value in list(net.named_parameters()) + list(net.named_buffers()):
            mine[name][i].copy_(value)


def member_state(state_dict: dict[str, torch.Tensor], i: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Member ``i``'s state dict out of an ensemble's (keys ``{prefix}net.*``, stacked): the keys of a single net."""
    head = prefix + "net."
    return {prefix + k[len(head):]: v[i] for k, v in state_dict.items() if k.startswith(head)}


def _set(module: nn.Module, dotted: str, value) -> None:
    owner_name, _, leaf = dotted.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    if isinstance(value, nn.Parameter):
        owner._parameters[leaf] = value
    else:
        owner._buffers[leaf] = value


def _flatten(out):
    if isinstance(out, tuple):
        return tuple(_flatten(o) for o in out)
    return out.reshape(-1, *out.shape[2:])

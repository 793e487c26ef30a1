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
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


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

    def __getattr__(self, name: str):  # z_dim, example_shape, feature_dim, out_dim, head, augment: member 0's
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["net"], name)

    def _call(self, params: dict, buffers: dict, x: torch.Tensor):
        return functional_call(self.net, (params, buffers), (x,))

    def forward(self, x: torch.Tensor):
        m = self.members
        if x.shape[0] % m:
            raise ValueError(f"an ensemble of {m} members takes a member-major batch of M * B rows, not {x.shape[0]}")
        params = dict(self.net.named_parameters())
        buffers = dict(self.net.named_buffers())
        out = vmap(self._call, in_dims=(0, 0, 0), randomness="different")(params, buffers, x.view(m, -1, *x.shape[1:]))
        return _flatten(out)

    def sample_z(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes in all (member-major: n / M per member)."""
        return self.net.sample_z(n, device=device, generator=generator)

    def member(self, i: int) -> nn.Module:
        """Member ``i`` as a plain net (a copy: training the ensemble does not change it)."""
        net = copy.deepcopy(self.net)
        for name, value in list(net.named_parameters()):
            _set(net, name, nn.Parameter(value.detach()[i].clone(), requires_grad=value.requires_grad))
        for name, value in list(net.named_buffers()):
            _set(net, name, value[i].clone())
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

"""The tensors of one training iteration and the nets it uses, shared by the objective and the tricks
(stylegan2-ada's ``accumulate_gradients(phase, real_img, gen_z, ...)`` arguments, as objects)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Iteration:
    """What one training iteration has computed so far (filled in by the objective's phases).

    ``real_logits`` / ``fake_logits`` are D's raw outputs (``[B]``, or ``[B, K]`` for a K-class D);
    ``real_features`` is f(x), D's last hidden layer on the real batch, detached (feature matching).
    In G's phase ``fake_logits`` / ``fake_features`` are D's outputs on G(z) with gradients to G; when
    a trick or the loss asks for it (``needs_real_in_g_phase``) the features come from one forward of [real; fake]
    through the updated D's layers below its head, ``real_features`` is replaced by that forward's real half,
    ``g_real_logits`` holds D's head on that half alone, detached (a relativistic G loss, ``loss=rpgan``), and
    ``fake_logits`` is None until G's adversarial loss asks for it (the head on the fake half alone).
    """

    number: int  # 1-based number of the training iteration
    real: torch.Tensor
    fake: torch.Tensor | None  # G(z); None where the objective does not train G
    log: bool = False  # a logging iteration: the phases also return the values to log
    members: int = 1  # an ensemble of seeds (gan_lab.nets.ensemble): M members' batches, member-major
    real_logits: torch.Tensor | None = None
    real_features: torch.Tensor | None = None
    fake_logits: torch.Tensor | None = None
    fake_features: torch.Tensor | None = None
    g_real_logits: torch.Tensor | None = None  # G's phase: the current D's raw outputs on the real batch, detached
    labels: torch.Tensor | None = None  # the real batch's classes ``[B]`` (task=conditional), else None
    fake_labels: torch.Tensor | None = None  # the classes G(z, y) was asked for ``[B]`` (task=conditional)


@dataclass
class Nets:
    """The players as a phase uses them.

    ``generator`` / ``discriminator`` are the plain modules (what a frozen player's forward and a
    penalty call); ``synced_generator`` / ``synced_discriminator`` are what a player's own step calls:
    its DDP wrapper under DDP (gradients all-reduced, ``gan_lab.strategy``), else the plain module.
    ``compiled`` (``model.compile``): a penalty that back-propagates through D's input gradient runs
    D eagerly (:meth:`eager`), since compiled graphs have no double backward.
    """

    generator: nn.Module
    discriminator: nn.Module
    synced_generator: nn.Module
    synced_discriminator: nn.Module
    compiled: bool = False

    @property
    def members(self) -> int:
        """M of an ensemble of seeds (``ensemble.seeds``), 1 for a single run."""
        return getattr(self.generator, "members", 1)

    def eager(self) -> contextlib.AbstractContextManager:
        return torch.compiler.set_stance("force_eager") if self.compiled else contextlib.nullcontext()


@dataclass
class PhaseLoss:
    """What a phase computed: ``total`` (what the phase back-propagates: the loss, the loss's
    penalties and the tricks' penalties), ``loss`` (the player's loss alone, logged and checked
    for finiteness) and ``values`` (more to log on logging iterations, ``train/...``)."""

    total: torch.Tensor
    loss: torch.Tensor
    values: dict[str, torch.Tensor] = field(default_factory=dict)


def per_member(x: torch.Tensor, members: int) -> torch.Tensor:
    """``[M * B, ...]`` (member-major) -> ``[M, B, ...]``."""
    return x.view(members, -1, *x.shape[1:])


def member_cat(a: torch.Tensor, b: torch.Tensor, members: int) -> torch.Tensor:
    """[a; b] per member: ``[M * B, ...]`` twice -> ``[M * 2B, ...]`` with member m's rows a_m then b_m."""
    if members == 1:
        return torch.cat([a, b])
    return torch.cat([per_member(a, members), per_member(b, members)], dim=1).flatten(0, 1)

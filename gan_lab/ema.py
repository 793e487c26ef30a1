"""An exponential moving average (EMA) of G's weights, for sample grids, metrics and checkpoints.

Karras et al. 2018 ("Progressive Growing of GANs", §4 and appendix A.1: "an exponential running
average of the weights of the generator" is what they show and score) and Yazıcı et al. 2019 ("The
Unusual Effectiveness of Averaging in GAN Training", §3: the EMA converges where the raw iterates
cycle). Configured as stylegan2-ada-pytorch does it (``training/training_loop.py``, "Update G_ema"):

* ``ema_nimg = half_life_kimg * 1000``, with a ramp-up ``ema_nimg = min(ema_nimg, cur_nimg * rampup)``
  (``cur_nimg``: training images seen before this update), so early on the average forgets fast;
* ``beta = 0.5 ** (images / max(ema_nimg, 1e-8))``: a half-life of ``ema_nimg`` images;
* parameters: ``theta_ema <- theta + beta * (theta_ema - theta)`` (``lerp``); buffers copied from G.

BatchNorm (our DCGAN G has it; StyleGAN's G has none): the running statistics of G describe G's
activations, not those of the averaged weights, and sampling the averaged G with G's statistics
scores worse than G itself. So the averaged G gets statistics of its own, recomputed as SWA does
for averaged weights (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima", §3.2;
``torch.optim.swa_utils.update_bn``): running statistics reset, ``momentum=None`` (a cumulative
average), ``stat_batches`` batches of ``stat_batch_size`` latent codes through the averaged G in
train mode without gradients. The codes come from a generator seeded with ``seed`` (the same codes
every time, identical on every rank, and the training RNG is not touched); the recompute runs only
when the weights changed since the last one (:meth:`GeneratorEMA.refresh_statistics`).
``stat_batches=0`` keeps G's copied statistics (stylegan2-ada's behaviour, for comparison; under DDP
they are then each rank's own, as G's are between steps: ``gan_lab.callbacks.consistency.broadcast_buffers``).
Virtual BatchNorm (``trick=virtual_bn``) keeps no statistics: the averaged G normalises with its own
reference batch, nothing to recompute.

Deviations from stylegan2-ada:

* stylegan2-ada updates G_ema every iteration, after G's step; here it is updated after each of G's
  steps, i.e. every ``d_steps_per_g_step`` (k) iterations, and ``images`` is then the k batches of
  training images since the previous update, so the half-life stays counted in training images
  (k = 1 is stylegan2-ada's formula);
* the statistics recompute above.
"""
from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

from gan_lab.errors import ConfigError

#: state-dict prefix of the averaged G (``GAN.generator_ema``) in the training module's checkpoints
EMA_PREFIX = "generator_ema."

log = logging.getLogger("gan_lab")


def _batch_norms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


class GeneratorEMA:
    """The EMA's settings (the ``ema=`` config group) and the two operations on the averaged G.

    ``half_life_kimg`` 0 turns the average off (``ema=none``); ``rampup`` null: no ramp-up.
    The averaged G itself is a copy of G held by the training module (``GAN.generator_ema``), so it is
    in every checkpoint. Under DDP, G's parameters are identical on all ranks after every step, so
    the average is too, and the statistics recompute uses the same codes on every rank: no sync.
    """

    def __init__(self, half_life_kimg: float = 0.0, rampup: float | None = 0.05, stat_batches: int = 8,
                 stat_batch_size: int = 64, seed: int = 0) -> None:
        if not isinstance(half_life_kimg, (int, float)) or half_life_kimg < 0:
            raise ConfigError(f"ema.half_life_kimg={half_life_kimg}: the half-life in thousands of images must be >= 0 "
                              "(e.g. ema.half_life_kimg=10; 0 turns the average off)")
        if rampup is not None and (not isinstance(rampup, (int, float)) or rampup <= 0):
            raise ConfigError(f"ema.rampup={rampup}: must be > 0 (stylegan2-ada's 0.05), or null for no ramp-up")
        if not isinstance(stat_batches, int) or stat_batches < 0:
            raise ConfigError(f"ema.stat_batches={stat_batches}: batches of z for the averaged G's BatchNorm statistics "
                              "must be an integer >= 0 (e.g. 8; 0 copies G's statistics)")
        if not isinstance(stat_batch_size, int) or stat_batch_size < 2:
            raise ConfigError(f"ema.stat_batch_size={stat_batch_size}: BatchNorm needs batches of >= 2 (e.g. ema.stat_batch_size=64)")
        self.half_life_kimg, self.rampup = float(half_life_kimg), rampup
        self.stat_batches, self.stat_batch_size, self.seed = stat_batches, stat_batch_size, int(seed)
        self.member_seeds: list[int] | None = None  # an ensemble of seeds: member i's statistics from its own z (set by the builder)
        self.stale = True  # the averaged weights changed since the statistics were last recomputed

    @property
    def enabled(self) -> bool:
        return self.half_life_kimg > 0

    def settings(self) -> dict[str, Any]:
        """What summary.json records."""
        return {"half_life_kimg": self.half_life_kimg, "rampup": self.rampup, "stat_batches": self.stat_batches,
                "stat_batch_size": self.stat_batch_size}

    @staticmethod
    def copy_of(generator: nn.Module) -> nn.Module:
        """The averaged G's starting point: a copy of G without gradients (its train / eval mode
        follows the module's; whoever samples it sets eval mode)."""
        return copy.deepcopy(generator).requires_grad_(False)

    def beta(self, cur_nimg: int, images: int) -> float:
        """The weight of the old average after ``images`` more training images, ``cur_nimg`` seen before."""
        ema_nimg = self.half_life_kimg * 1000
        if self.rampup is not None:
            ema_nimg = min(ema_nimg, cur_nimg * self.rampup)
        return 0.5 ** (images / max(ema_nimg, 1e-8))

    @torch.no_grad()
    def update(self, generator_ema: nn.Module, generator: nn.Module, cur_nimg: int, images: int) -> float:
        """One EMA step after G's optimizer step; returns the beta used."""
        beta = self.beta(cur_nimg, images)
        averaged, current = list(generator_ema.parameters()), [p.detach() for p in generator.parameters()]
        buffers_ema, buffers = list(generator_ema.buffers()), list(generator.buffers())
        if len(averaged) != len(current) or len(buffers_ema) != len(buffers):
            raise ValueError("the averaged G and G have different parameters or buffers")
        # theta_ema + (1 - beta) * (theta - theta_ema), every tensor in one fused call (no per-tensor temporaries)
        if averaged:
            torch._foreach_lerp_(averaged, current, 1.0 - beta)
        if buffers:
            torch._foreach_copy_(buffers_ema, buffers)
        self.stale = True
        return beta

    def latent_batches(self, generator_ema: nn.Module, seed: int | None = None) -> list[torch.Tensor]:
        """The ``stat_batches`` batches of z the statistics are computed on (the same every time)."""
        device = next(generator_ema.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.seed if seed is None else seed)
        return [generator_ema.sample_z(self.stat_batch_size, device=device, generator=gen) for _ in range(self.stat_batches)]

    @torch.no_grad()
    def refresh_statistics(self, generator_ema: nn.Module) -> bool:
        """Recompute the averaged G's BatchNorm running statistics if its weights changed since the
        last time (SWA's ``update_bn``); returns whether it recomputed them."""
        norms = _batch_norms(generator_ema)
        if not self.stale or not norms or self.stat_batches == 0:
            self.stale = False
            return False
        members = getattr(generator_ema, "members", 1)
        if members == 1:
            self._recompute(generator_ema, norms)
        else:  # an ensemble of seeds: each member's own statistics, from its own z
            for i in range(members):
                member = generator_ema.member(i)
                self._recompute(member, _batch_norms(member), self.member_seeds[i] if self.member_seeds else None)
                generator_ema.load_member(i, member)
        self.stale = False
        return True

    def _recompute(self, generator_ema: nn.Module, norms: list, seed: int | None = None) -> None:
        was_training = generator_ema.training
        momenta = {m: m.momentum for m in norms}
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
        generator_ema.train()
        try:
            for z in self.latent_batches(generator_ema, seed):
                generator_ema(z)
        finally:
            for m, momentum in momenta.items():
                m.momentum = momentum
            generator_ema.train(was_training)

    # ---- checkpoints ------------------------------------------------------------------------
    def save_into(self, state_dict: dict[str, torch.Tensor], generator_ema: nn.Module) -> None:
        """A checkpoint's averaged G carries BatchNorm statistics of its own weights (recomputed now if stale)."""
        self.refresh_statistics(generator_ema)
        for name, buffer in generator_ema.named_buffers():
            state_dict[EMA_PREFIX + name] = buffer.detach().clone()

    def match_checkpoint(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Resuming a checkpoint trained with ``ema=none`` (runs before the strict state-dict load): the
        average starts from its G. The statistics are recomputed before the averaged G is next used."""
        self.stale = True
        if not any(k.startswith(EMA_PREFIX) for k in state_dict):
            log.warning("the checkpoint has no averaged G (it was trained with ema=none): the average starts from its G")
            prefix = "generator."
            state_dict.update({EMA_PREFIX + k[len(prefix):]: v.clone() for k, v in list(state_dict.items()) if k.startswith(prefix)})

    @staticmethod
    def drop_from_checkpoint(state_dict: dict[str, torch.Tensor]) -> None:
        """Resuming, with ``ema=none``, a checkpoint that has an averaged G: drop it."""
        keys = [k for k in state_dict if k.startswith(EMA_PREFIX)]
        if keys:
            log.warning("ema is off: the checkpoint's averaged G is dropped (resume with ema=default to keep it)")
            for k in keys:
                del state_dict[k]

"""The GAN LightningModule: how a training iteration runs, for every task (manual optimization).

What an iteration computes belongs to the objective (``gan_lab.objectives``, the ``task=`` group,
with the loss and the tricks): ``objective.phase_loss(phase, it, nets)`` returns all that a phase
back-propagates. This module runs the phases (stylegan2-ada's ``training_loop.py`` beside its
``loss.py``): for D, then for G when G steps, zero the grads, back-propagate the phase's total, step
the optimizer; freeze D in G's phase; step the schedulers; log.

``optim.simultaneous=true``: both players' gradients at the same parameters (G's against D before
D's step, on the same batch and z), then both steps: the simultaneous gradient descent of ALI's
``ali_algorithm``, which PacGAN's experiments use (Mescheder et al. 2017 call it SimGD); the default is
the alternating updates of Goodfellow et al. 2014, Algorithm 1.

Goodfellow et al. 2014, Algorithm 1: for each training iteration (one batch of real data), D
takes one step; G takes one step every ``d_steps_per_g_step`` (k) iterations, so D is trained k
times per G step, each time on a fresh batch. When G steps in an iteration, the fake batch of
D's step is reused for G's step (one G forward per iteration, as in the DCGAN reference code).

Step counting: Lightning's ``global_step`` counts every ``optimizer.step()`` under manual
optimization. Only D's step is counted here (G's step goes through the same LightningOptimizer
with the step counter hooks disabled), so ``trainer.global_step``, ``trainer.max_steps``, the
checkpoint and logging intervals all count training iterations (batches).

Elsewhere, each in one home: the averaged G's schedule and checkpoint bookkeeping (``gan_lab.ema``),
what a checkpoint carries beside the weights (``gan_lab.run_state``), the finite-loss check
(``gan_lab.callbacks.finite_check``, fed by what ``training_step`` returns), the speed options
(``gan_lab.nets.speed``, applied once by :meth:`configure_model`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import nn

from gan_lab import run_state
from gan_lab.iteration import Nets
from gan_lab.nets.base import Discriminator, Generator, frozen, grad_norm
from gan_lab.ema import GeneratorEMA
from gan_lab.nets.speed import apply_speed_options
from gan_lab.objectives import Objective

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class GAN(L.LightningModule):
    """G and D, the objective of the task (with its loss and tricks), and the alternating steps."""

    def __init__(self, generator: Generator, discriminator: Discriminator, objective: Objective,
                 g_optimizer: OptimizerFactory, d_optimizer: OptimizerFactory, d_steps_per_g_step: int = 1,
                 g_scheduler: Callable | None = None, d_scheduler: Callable | None = None, num_fixed_samples: int = 64,
                 fixed_z_seed: int = 1234, config: dict[str, Any] | None = None, ema: GeneratorEMA | None = None,
                 compile_nets: bool = False, channels_last: bool = False, simultaneous: bool = False) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator, self.objective = generator, discriminator, objective
        self.g_optimizer_factory, self.d_optimizer_factory = g_optimizer, d_optimizer
        self.g_scheduler_factory, self.d_scheduler_factory = g_scheduler, d_scheduler
        self.d_steps_per_g_step = int(d_steps_per_g_step)
        self.simultaneous = bool(simultaneous)
        self.has_schedulers = d_scheduler is not None or (g_scheduler is not None and objective.trains_generator)
        self.config = config or {}
        self.seed = int(fixed_z_seed)  # the seed of the fixed z, and of a fresh distributed run's ranks
        # fixed latent codes for sample grids: identical on every rank, saved in the checkpoint
        self.register_buffer("fixed_z", generator.sample_z(num_fixed_samples, generator=torch.Generator().manual_seed(fixed_z_seed)))
        # the averaged G (an nn.Module child: saved in the state dict; None when ema is off)
        self.ema = ema if ema is not None and ema.enabled else None
        self.generator_ema = GeneratorEMA.copy_of(generator) if self.ema is not None else None
        self.compile_nets, self.channels_last, self._speed_applied = bool(compile_nets), bool(channels_last), False
        self._rng_to_restore: dict[str, Any] | None = None
        self.set_ddp(None, None)

    @property
    def members(self) -> int:
        """M of an ensemble of seeds (``ensemble.seeds``; G and D are ``gan_lab.nets.ensemble.Ensemble``), else 1."""
        return getattr(self.generator, "members", 1)

    @property
    def tricks(self) -> list:
        return self.objective.tricks

    def set_ddp(self, generator: nn.Module | None, discriminator: nn.Module | None) -> None:
        """Per-player DDP wrappers (``gan_lab.strategy.GANDDPStrategy``), kept out of the state dict."""
        self.__dict__["_nets"] = Nets(self.generator, self.discriminator, generator or self.generator,
                                      discriminator or self.discriminator, self.compile_nets)

    @property
    def nets(self) -> Nets:
        return self.__dict__["_nets"]

    def configure_model(self) -> None:
        """``model.channels_last`` and ``model.compile``, once (Lightning calls this hook at every fit)."""
        if not self._speed_applied:
            self._speed_applied = True
            self.channels_last = apply_speed_options([self.generator, self.discriminator, self.generator_ema],
                                                     self.compile_nets, self.channels_last)

    def configure_optimizers(self):
        d_opt = self.d_optimizer_factory(self.discriminator.parameters())
        g_opt = self.g_optimizer_factory(self.generator.parameters())
        pairs = [(self.d_scheduler_factory, d_opt)]
        if self.objective.trains_generator:  # the supervised baseline never steps G
            pairs.append((self.g_scheduler_factory, g_opt))
        return [d_opt, g_opt], [factory(opt) for factory, opt in pairs if factory is not None]

    @staticmethod
    def _uncounted_step(optimizer: L.pytorch.core.optimizer.LightningOptimizer) -> None:
        """``optimizer.step()`` without advancing Lightning's global_step (see module docstring)."""
        hooks = optimizer._on_before_step, optimizer._on_after_step
        optimizer._on_before_step = optimizer._on_after_step = lambda: None
        try:
            optimizer.step()
        finally:
            optimizer._on_before_step, optimizer._on_after_step = hooks

    # ---- one training iteration ------------------------------------------------------------
    def training_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> dict[str, torch.Tensor]:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        labels = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None  # served when objective.needs_labels
        if self.channels_last:  # model.channels_last: NHWC batches for NHWC weights
            real = real.contiguous(memory_format=torch.channels_last)
        number, nets, objective = self.global_step + 1, self.nets, self.objective  # 1-based iteration number
        d_opt, g_opt = self.optimizers()
        g_turn = objective.trains_generator and number % self.d_steps_per_g_step == 0
        it = objective.start(number, real, nets, g_turn, log=number % self.trainer.log_every_n_steps == 0, labels=labels)

        d = objective.phase_loss("d", it, nets)  # Dmain
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(d.total)
        values = {"train/d_loss": d.loss.detach(), "train/d_grad_norm": grad_norm(self.discriminator), **d.values} if it.log else {}
        g = self._g_gradients(it, nets, g_opt) if g_turn and self.simultaneous else None  # G's against D before its step
        d_opt.step()
        objective.after_step("d", it, nets)
        losses = {"d_loss": d.loss.detach()}

        if g_turn:  # Gmain, with D's weights frozen: no weight gradients for D
            g = g or self._g_gradients(it, nets, g_opt)
            if it.log:
                values.update({"train/g_loss": g.loss.detach(), "train/g_grad_norm": grad_norm(self.generator), **g.values})
            self._uncounted_step(g_opt)
            objective.after_step("g", it, nets)
            losses["g_loss"] = g.loss.detach()
            if self.ema is not None:  # images: the global batch (of one member); cur_nimg: images before this iteration
                images = real.shape[0] // it.members * self.trainer.world_size
                self.ema.update(self.generator_ema, self.generator, cur_nimg=(number - 1) * images,
                                images=images * self.d_steps_per_g_step)

        if self.has_schedulers:  # no per-iteration lr_schedulers() lookup when there are none
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()  # once per training iteration
        if it.log:
            self.log_dict(values, on_step=True, on_epoch=False, batch_size=real.shape[0])
        return losses  # checked by gan_lab.callbacks.finite_check

    def _g_gradients(self, it, nets: Nets, g_opt):
        with frozen(self.discriminator):
            g = self.objective.phase_loss("g", it, nets)
            g_opt.zero_grad(set_to_none=True)
            self.manual_backward(g.total)
        return g

    def on_train_epoch_end(self) -> None:
        # the objective's evaluation (the semi-supervised test error); every rank evaluates the
        # whole test set with the same weights, so sync_dist averages equal values
        values = self.objective.epoch_metrics(self.discriminator)
        if values:
            self.log_dict(values, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, n: int | None = None, batch_size: int = 512,
                 ema: bool = True, member: int | None = None) -> torch.Tensor:
        """Samples in eval mode (BatchNorm running statistics), without gradients: of the averaged G
        when there is one (its statistics recomputed first if its weights changed), of G itself
        with ``ema=False`` or when ``ema=`` is off. An ensemble of seeds: member ``member``'s samples of
        ``z``; with ``member=None`` every member's samples of the same ``z``, member-major (``[M * n, ...]``)."""
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        if net is self.generator_ema:
            self.ema.refresh_statistics(net)
        if z is None:
            z = self.generator.sample_z(n or len(self.fixed_z), device=self.fixed_z.device)
        m = self.members
        if m > 1 and member is not None:
            net, m = net.member(member), 1
        was_training = net.training
        net.eval()
        try:
            if m == 1:
                return torch.cat([net(chunk) for chunk in z.split(batch_size)])
            chunks = [net(chunk.repeat(m, *[1] * (chunk.ndim - 1))) for chunk in z.split(batch_size)]
            return torch.cat([c.view(m, -1, *c.shape[1:]) for c in chunks], dim=1).flatten(0, 1)
        finally:
            net.train(was_training)

    # ---- checkpoints: RNG, trick state and the config travel with the weights (gan_lab.run_state) ----
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        world_size = self.trainer.world_size if self._distributed() else 1  # every rank draws its own z
        run_state.save(checkpoint, self.config, self.tricks, world_size, latent=self.objective.latent_state())
        if self.ema is not None:  # the averaged G is saved with statistics of its own weights
            self.ema.save_into(checkpoint.setdefault("state_dict", {}), self.generator_ema)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.ema is not None:  # resuming across an ema= change
            self.ema.match_checkpoint(checkpoint.get("state_dict", {}))
        else:
            GeneratorEMA.drop_from_checkpoint(checkpoint.get("state_dict", {}))
        self._rng_to_restore = run_state.load(checkpoint, self.tricks, self.trainer.global_rank if self._trainer is not None else 0)

    def on_train_start(self) -> None:
        # restore the RNG last, after everything that set up the run has drawn from it
        rng, self._rng_to_restore = self._rng_to_restore, None
        if rng:
            run_state.restore_rng(rng)
        elif self._distributed():
            run_state.seed_rank(self.seed, self.trainer.global_rank)
        if rng and rng.get("latent"):  # the members' z streams (gan_lab.objectives: Objective.latent_codes)
            self.objective.load_latent_state(rng["latent"], self.device)
        else:
            self.objective.seed_latents(self.device, self.trainer.global_rank if self._distributed() else 0)

    def _distributed(self) -> bool:
        return self._trainer is not None and self.trainer.world_size > 1 and torch.distributed.is_initialized()

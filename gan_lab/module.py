"""The GAN LightningModule: how a training iteration runs, for every task (manual optimization).

What an iteration computes (D's and G's losses) belongs to the objective
(``gan_lab.objectives``, the ``task=`` group) and the tricks; this module owns the loop: the k
schedule, which player is trained and which frozen, the optimizer and scheduler steps, the
finite-loss checks and the logging (stylegan2-ada's ``training_loop.py`` beside its ``loss.py``).

Goodfellow et al. 2014, Algorithm 1: for each training iteration (one batch of real data), D
takes one step; G takes one step every ``d_steps_per_g_step`` (k) iterations, so D is trained k
times per G step, each time on a fresh batch. When G steps in an iteration, the fake batch of
D's step is reused for G's step (one G forward per iteration, as in the DCGAN reference code).

Step counting: Lightning's ``global_step`` counts every ``optimizer.step()`` under manual
optimization. Only D's step is counted here (G's step goes through the same LightningOptimizer
with the step counter hooks disabled), so ``trainer.global_step``, ``trainer.max_steps``, the
checkpoint and logging intervals all count training iterations (batches).

Averaged G (``ema=`` group, ``gan_lab.nets.ema``; Karras et al. 2018 §4, Yazıcı et al. 2019): with
``ema.half_life_kimg`` > 0, ``generator_ema`` is an exponential moving average of G's weights,
updated after each of G's steps, with BatchNorm statistics of its own recomputed before it is used.
It is in the state dict (every checkpoint), and ``generate()`` (sample grids, metrics) uses it
unless asked for the raw G. Under DDP G's parameters are identical on every rank, so the average is
too: nothing is synchronised.

Speed options (``model.channels_last``, ``model.compile``; issue 12), applied once by
:meth:`GAN.configure_model`, after the nets are built and before the Trainer moves them, wraps them
in DDP and builds the optimizers. Neither changes the state-dict keys, so checkpoints load into
plain nets (``gan_lab.sample``): channels_last re-strides the 4-D (convolution) weights in place
and the image batches as they enter ``training_step``; compile is ``nn.Module.compile()``, which
compiles the module's call in place (``torch.compile(net)`` would prefix ``_orig_mod.``). Inductor
cannot back-propagate through the backward of a compiled graph ("torch.compile with aot_autograd
does not currently support double backward"), so the gradient penalties (WGAN-GP, R1) run D eagerly
(``torch.compiler.set_stance("force_eager")``); every other call of G and D is compiled.
"""
from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from gan_lab.errors import TrainingDiverged
from gan_lab.iteration import Iteration
from gan_lab.nets.base import Discriminator, Generator
from gan_lab.nets.ema import GeneratorEMA
from gan_lab.objectives import Objective
from gan_lab.tricks.base import Trick

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
#: version of the ``gan_lab`` section of checkpoints (2: the config of the one build path, 2026-11-26)
CHECKPOINT_FORMAT = 2
#: state-dict prefix of the averaged G
EMA_PREFIX = "generator_ema."

log = logging.getLogger("gan_lab")


@contextlib.contextmanager
def frozen(net: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``net``'s parameters (no weight gradients are computed)."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _grad_norm(net: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _numpy_rng_state() -> tuple:
    # plain types and tensors only, so that checkpoints load with torch.load(weights_only=True)
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))


class GAN(L.LightningModule):
    """G and D, the objective of the task, the tricks, and the alternating steps."""

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        objective: Objective,
        g_optimizer: OptimizerFactory,
        d_optimizer: OptimizerFactory,
        tricks: Iterable[Trick] = (),
        d_steps_per_g_step: int = 1,
        g_scheduler: Callable | None = None,
        d_scheduler: Callable | None = None,
        num_fixed_samples: int = 64,
        fixed_z_seed: int = 1234,
        finite_check_every_n_steps: int = 50,
        config: dict[str, Any] | None = None,
        ema: GeneratorEMA | None = None,
        compile_nets: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.objective = objective
        self.tricks = list(tricks)
        self.g_optimizer_factory, self.d_optimizer_factory = g_optimizer, d_optimizer
        self.g_scheduler_factory, self.d_scheduler_factory = g_scheduler, d_scheduler
        self.d_steps_per_g_step = int(d_steps_per_g_step)
        self.finite_check_every_n_steps = max(1, int(finite_check_every_n_steps))
        self.config = config or {}
        self.seed = int(fixed_z_seed)
        # fixed latent codes for sample grids: identical on every rank, saved in the checkpoint
        fixed_z = generator.sample_z(num_fixed_samples, generator=torch.Generator().manual_seed(fixed_z_seed))
        self.register_buffer("fixed_z", fixed_z)
        # first iteration whose loss was not finite (-1: none); read on the host only every N steps
        self.register_buffer("first_bad_step", torch.tensor(-1, dtype=torch.long), persistent=False)
        self.joint_g_phase = any(t.needs_real_in_g_phase for t in self.tricks)
        self.has_schedulers = d_scheduler is not None or (g_scheduler is not None and objective.trains_generator)
        self.real_target = 1.0
        for trick in self.tricks:
            self.real_target = trick.real_target(self.real_target)
        self._rng_to_restore: dict[str, Any] | None = None
        # the averaged G (an nn.Module child: saved in the state dict; None when ema is off)
        self.ema = ema if ema is not None and ema.enabled else None
        self.generator_ema = GeneratorEMA.copy_of(generator) if self.ema is not None else None
        self.compile_nets, self.channels_last, self._speed_applied = bool(compile_nets), bool(channels_last), False
        self.set_ddp(None, None)

    def set_ddp(self, generator: nn.Module | None, discriminator: nn.Module | None) -> None:
        """Per-player DDP wrappers (``gan_lab.strategy.GANDDPStrategy``), kept out of the state dict."""
        self.__dict__["_g_ddp"], self.__dict__["_d_ddp"] = generator, discriminator

    def configure_model(self) -> None:
        """``model.channels_last`` and ``model.compile``, once (Lightning calls this hook at every fit)."""
        if self._speed_applied:
            return
        self._speed_applied = True
        if self.channels_last:
            nets = [net for net in (self.generator, self.discriminator, self.generator_ema) if net is not None]
            if any(p.dim() == 4 for net in nets for p in net.parameters()):
                for net in nets:
                    net.to(memory_format=torch.channels_last)  # 4-D weights re-strided in place (same Parameters)
            else:
                log.info("model.channels_last=true: G and D have no convolutions (no 4-D weights), so there is nothing "
                         "to convert; it is off for this run (channels_last helps model=dcgan / dcgan_upsample)")
                self.channels_last = False
        if self.compile_nets:
            self.generator.compile()  # in place: G's own call compiled, its state-dict keys unchanged
            self.discriminator.compile()
            log.info("model.compile=true: G and D compiled (the first iterations compile them); the gradient "
                     "penalty's D forward, if any, runs eagerly (no double backward through compiled graphs)")

    @property
    def synced_generator(self) -> nn.Module:
        """G for G's own step: its DDP wrapper under DDP (gradients all-reduced), else G."""
        return self.__dict__["_g_ddp"] or self.generator

    @property
    def synced_discriminator(self) -> nn.Module:
        """D for D's own step: its DDP wrapper under DDP (gradients all-reduced), else D."""
        return self.__dict__["_d_ddp"] or self.discriminator

    # ---- optimizers ----------------------------------------------------------------------
    def configure_optimizers(self):
        d_opt = self.d_optimizer_factory(self.discriminator.parameters())
        g_opt = self.g_optimizer_factory(self.generator.parameters())
        pairs = [(self.d_scheduler_factory, d_opt)]
        if self.objective.trains_generator:  # the supervised baseline never steps G
            pairs.append((self.g_scheduler_factory, g_opt))
        schedulers = [factory(opt) for factory, opt in pairs if factory is not None]
        return [d_opt, g_opt], schedulers

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
    def training_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> None:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        if self.channels_last:  # model.channels_last: NHWC batches for NHWC weights
            real = real.contiguous(memory_format=torch.channels_last)
        number = self.global_step + 1  # 1-based number of this training iteration
        d_opt, g_opt = self.optimizers()
        g_turn = self.objective.trains_generator and number % self.d_steps_per_g_step == 0
        should_log = number % self.trainer.log_every_n_steps == 0

        fake = None
        if self.objective.trains_generator:
            z = self.generator.sample_z(real.shape[0], device=real.device)
            with torch.set_grad_enabled(g_turn):
                fake = self.synced_generator(z)
        it = Iteration(number=number, real=real, fake=fake)

        # Dmain: D's loss (the objective's), its penalties; D's step
        d_loss, values = self.objective.d_loss(self.synced_discriminator, it, self.real_target)
        d_total = d_loss
        with torch.compiler.set_stance("force_eager") if self.compile_nets else contextlib.nullcontext():
            penalty = self.objective.d_penalty(self.discriminator, it)  # double backward: D eager (module docstring)
        for term in [penalty] + [t.d_penalty(self, it) for t in self.tricks]:
            if term is not None:
                d_total = d_total + term
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        d_grad_norm = _grad_norm(self.discriminator) if should_log else None
        d_opt.step()
        self.objective.after_d_step(self.discriminator, number)
        for trick in self.tricks:
            trick.after_step(self, "d")
        fake_logits_d = it.fake_logits

        # Gmain: G learns to fool D (D's weights frozen: no weight gradients for D; D's plain
        # module, not its DDP wrapper, since nothing of D is synchronised in this step)
        g_loss, g_grad_norm = None, None
        if g_turn:
            with frozen(self.discriminator):
                self.discriminate_fake(it)
                replacements = [o for o in (t.g_objective(self, it) for t in self.tricks) if o is not None]
                g_loss = sum(replacements[1:], replacements[0]) if replacements else self.objective.g_loss(it)
                g_total = g_loss
                for term in (t.g_penalty(self, it) for t in self.tricks):
                    if term is not None:
                        g_total = g_total + term
                g_opt.zero_grad(set_to_none=True)
                self.manual_backward(g_total)
            g_grad_norm = _grad_norm(self.generator) if should_log else None
            self._uncounted_step(g_opt)
            for trick in self.tricks:
                trick.after_step(self, "g")
            if self.ema is not None:  # images: the global batch; cur_nimg: images before this iteration
                images = real.shape[0] * self.trainer.world_size
                self.ema.update(self.generator_ema, self.generator, cur_nimg=(number - 1) * images,
                                images=images * self.d_steps_per_g_step)

        if self.has_schedulers:  # no per-iteration lr_schedulers() lookup when there are none
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()  # once per training iteration

        self._track_finite(number, d_loss, g_loss)
        if should_log:
            self._log_step(it, fake_logits_d, d_loss, g_loss, d_grad_norm, g_grad_norm, values)
        if number % self.finite_check_every_n_steps == 0 or number == self.trainer.max_steps:
            self.check_finite()

    def discriminate_fake(self, it: Iteration) -> None:
        """G's phase: D (plain module, weights frozen by the caller) on G(z), with gradients to G. With a
        trick that needs it (feature matching), real and fake go through the current D in one forward,
        so BatchNorm normalises both halves with the same statistics."""
        if self.joint_g_phase:
            logits, features = self.discriminator(torch.cat([it.real, it.fake]))
            n = features.shape[0] // 2  # real and fake halves are equal: B examples, or B/m packs (trick=packing)
            it.real_features = features[:n].detach()
            it.fake_logits, it.fake_features = logits[n:], features[n:]
        else:
            it.fake_logits, it.fake_features = self.discriminator(it.fake)

    def _track_finite(self, iteration: int, d_loss: torch.Tensor, g_loss: torch.Tensor | None) -> None:
        finite = torch.isfinite(d_loss.detach())
        if g_loss is not None:
            finite = finite & torch.isfinite(g_loss.detach())
        newly_bad = (~finite) & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(newly_bad, iteration, self.first_bad_step)

    def check_finite(self) -> None:
        """Stop with a readable error if a loss was NaN/inf since the last check (one host sync)."""
        first_bad = int(self.trainer.strategy.reduce(self.first_bad_step.float(), reduce_op="max").item())
        if first_bad < 0:
            return
        from lightning.pytorch.callbacks import ModelCheckpoint

        ckpts = [cb for cb in self.trainer.callbacks if isinstance(cb, ModelCheckpoint)]
        last = next((cb.last_model_path or cb.best_model_path for cb in ckpts if cb.last_model_path or cb.best_model_path), "")
        kept = f"the last good checkpoint is kept at {last}" if last else "no checkpoint had been written yet"
        raise TrainingDiverged(
            f"the loss became NaN or infinite at step {first_bad}; training stopped and {kept}. "
            "Lower the learning rates (optim.d.lr=..., optim.g.lr=...), or try loss=nonsaturating / loss=wgan_gp"
        )

    def _log_step(self, it: Iteration, fake_logits, d_loss, g_loss, d_grad_norm, g_grad_norm, extra) -> None:
        values = {"train/d_loss": d_loss.detach(), "train/d_grad_norm": d_grad_norm, **extra}
        if it.real_logits is not None:
            real, fake = self.objective.realness(it.real_logits.detach()), self.objective.realness(fake_logits.detach())
            if self.objective.probabilistic:
                real, fake = torch.sigmoid(real), torch.sigmoid(fake)
            values.update({"train/D_x": real.mean(), "train/D_G_z": fake.mean()})
        if g_loss is not None:
            values.update({"train/g_loss": g_loss.detach(), "train/g_grad_norm": g_grad_norm})
        self.log_dict(values, on_step=True, on_epoch=False, batch_size=it.real.shape[0])

    def on_train_epoch_end(self) -> None:
        # the objective's evaluation (the semi-supervised test error); every rank evaluates the
        # whole test set with the same weights, so sync_dist averages equal values
        values = self.objective.epoch_metrics(self)
        if values:
            self.log_dict(values, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, n: int | None = None, batch_size: int = 512,
                 ema: bool = True) -> torch.Tensor:
        """Samples in eval mode (BatchNorm running statistics), without gradients: of the averaged G
        when there is one (its statistics recomputed first if its weights changed), of G itself
        with ``ema=False`` or when ``ema=`` is off."""
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        if net is self.generator_ema:
            self.ema.refresh_statistics(net)
        if z is None:
            z = self.generator.sample_z(n or len(self.fixed_z), device=self.fixed_z.device)
        was_training = net.training
        net.eval()
        try:
            return torch.cat([net(chunk) for chunk in z.split(batch_size)])
        finally:
            net.train(was_training)

    # ---- checkpoints: RNG, trick state and the config travel with the weights ------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_rng_state(),
            "python": random.getstate(),
        }
        checkpoint["gan_lab"] = {"format": CHECKPOINT_FORMAT, "config": self.config,
                                 "tricks": {t.name: t.state_dict() for t in self.tricks}, "rng": rng}
        if self.ema is not None:  # the averaged G is saved with statistics of its own weights
            self.ema.refresh_statistics(self.generator_ema)
            state = checkpoint.setdefault("state_dict", {})
            for name, buffer in self.generator_ema.named_buffers():
                state[EMA_PREFIX + name] = buffer.detach().clone()
        if self._distributed():  # every rank draws its own z: keep every rank's RNG (this runs on all ranks)
            per_rank: list[Any] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(per_rank, rng)
            checkpoint["gan_lab"]["rng_per_rank"] = per_rank

    @torch.no_grad()
    def sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics) of G and D.

        DDP broadcasts buffers before each forward, but each rank's forward then updates them with
        its own batch, so between steps they differ slightly; parameters never do. Call this before
        using running statistics on several ranks (sharded evaluation) or comparing ranks.
        """
        if self._distributed():
            for buffer in [*self.generator.buffers(), *self.discriminator.buffers()]:
                torch.distributed.broadcast(buffer, src=0)

    def _distributed(self) -> bool:
        return self._trainer is not None and self.trainer.world_size > 1 and torch.distributed.is_initialized()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._match_ema_state(checkpoint.get("state_dict", {}))
        state = checkpoint.get("gan_lab", {})
        for trick in self.tricks:
            if trick.name in state.get("tricks", {}):
                trick.load_state_dict(state["tricks"][trick.name])
        per_rank = state.get("rng_per_rank")
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self._rng_to_restore = per_rank[rank] if per_rank and rank < len(per_rank) else state.get("rng")

    def _match_ema_state(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Resuming across an ``ema=`` change (runs before the strict state-dict load): a checkpoint
        without an averaged G starts the average from its G; one with it, resumed with ema off, drops it."""
        ema_keys = [k for k in state_dict if k.startswith(EMA_PREFIX)]
        if self.ema is not None:
            self.ema.stale = True
            if not ema_keys:
                log.warning("the checkpoint has no averaged G (it was trained with ema=none): the average starts from its G")
                prefix = "generator."
                state_dict.update({EMA_PREFIX + k[len(prefix):]: v.clone() for k, v in list(state_dict.items()) if k.startswith(prefix)})
        elif ema_keys:
            log.warning("ema is off: the checkpoint's averaged G is dropped (resume with ema=default to keep it)")
            for k in ema_keys:
                del state_dict[k]

    def on_train_start(self) -> None:
        # restore the RNG last, after everything that set up the run has drawn from it
        rng, self._rng_to_restore = self._rng_to_restore, None
        if not rng and self._distributed():
            # same weights on every rank (seeded, then broadcast by DDP), but each rank draws its own
            # z and dropout masks: offset the seed by the rank
            seed = self.seed + 1_000_003 * self.trainer.global_rank
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
        if rng:
            torch.set_rng_state(rng["torch"])
            if rng["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
            name, keys, pos, has_gauss, cached = rng["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
            random.setstate(rng["python"])

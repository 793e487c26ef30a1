"""The GAN LightningModule: alternating D and G steps with manual optimization.

Goodfellow et al. 2014, Algorithm 1: for each training iteration (one batch of real data), D
takes one step; G takes one step every ``d_steps_per_g_step`` (k) iterations, so D is trained k
times per G step, each time on a fresh batch. When G steps in an iteration, the fake batch of
D's step is reused for G's step (one G forward per iteration, as in the DCGAN reference code).

Step counting: Lightning's ``global_step`` counts every ``optimizer.step()`` under manual
optimization. Only D's step is counted here (G's step goes through the same LightningOptimizer
with the step counter hooks disabled), so ``trainer.global_step``, ``trainer.max_steps``, the
checkpoint and logging intervals all count training iterations (batches).
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from gan_lab.errors import TrainingDiverged
from gan_lab.losses import GANLoss
from gan_lab.nets.base import Discriminator, Generator
from gan_lab.tricks.base import Step, Trick

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


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
    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        loss: GANLoss,
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
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
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
        for trick in self.tricks:
            trick.check(self)
        for trick in self.tricks:
            trick.setup(self)
        self.real_target = 1.0
        for trick in self.tricks:
            self.real_target = trick.real_target(self.real_target)
        self._rng_to_restore: dict[str, Any] | None = None
        self.set_ddp(None, None)

    def set_ddp(self, generator: nn.Module | None, discriminator: nn.Module | None) -> None:
        """Per-player DDP wrappers (``gan_lab.strategy.GANDDPStrategy``), kept out of the state dict."""
        self.__dict__["_g_ddp"], self.__dict__["_d_ddp"] = generator, discriminator

    @property
    def g_train(self) -> nn.Module:
        """G for training forwards: its DDP wrapper under DDP (gradients all-reduced), else G."""
        return self.__dict__["_g_ddp"] or self.generator

    @property
    def d_train(self) -> nn.Module:
        """D for D's own step: its DDP wrapper under DDP, else D."""
        return self.__dict__["_d_ddp"] or self.discriminator

    # ---- optimizers ----------------------------------------------------------------------
    def configure_optimizers(self):
        d_opt = self.d_optimizer_factory(self.discriminator.parameters())
        g_opt = self.g_optimizer_factory(self.generator.parameters())
        schedulers = [
            factory(opt)
            for factory, opt in ((self.d_scheduler_factory, d_opt), (self.g_scheduler_factory, g_opt))
            if factory is not None
        ]
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
        iteration = self.global_step + 1  # 1-based number of this training iteration
        d_opt, g_opt = self.optimizers()
        g_turn = iteration % self.d_steps_per_g_step == 0
        should_log = iteration % self.trainer.log_every_n_steps == 0

        z = self.generator.sample_z(real.shape[0], device=real.device)
        with torch.set_grad_enabled(g_turn):
            fake = self.g_train(z)
        step = Step(real=real, fake=fake)

        # Dmain: D learns to tell real from fake
        real_logits, real_features = self.d_train(real)
        fake_logits_d, _ = self.d_train(fake.detach())
        d_loss = self.loss.d_loss(real_logits, fake_logits_d, self.real_target)
        step.real_logits, step.real_features = real_logits.detach(), real_features.detach()
        d_total = d_loss
        for term in [self.loss.d_penalty(self.discriminator, real, fake)] + [t.d_penalty(self, step) for t in self.tricks]:
            if term is not None:
                d_total = d_total + term
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        d_grad_norm = _grad_norm(self.discriminator) if should_log else None
        d_opt.step()
        self.loss.after_d_step(self.discriminator)
        for trick in self.tricks:
            trick.after_step(self, "d")

        # Gmain: G learns to fool D (D's weights frozen: no weight gradients for D; D's plain
        # module, not its DDP wrapper, since nothing of D is synchronised in this step)
        g_loss, g_grad_norm = None, None
        if g_turn:
            with frozen(self.discriminator):
                fake_logits, fake_features = self.discriminator(fake)
                step.fake_logits, step.fake_features = fake_logits, fake_features
                objectives = [o for o in (t.g_objective(self, step) for t in self.tricks) if o is not None]
                g_loss = objectives[0] if objectives else self.loss.g_loss(fake_logits)
                for extra in objectives[1:]:
                    g_loss = g_loss + extra
                g_total = g_loss
                for term in (t.g_penalty(self, step) for t in self.tricks):
                    if term is not None:
                        g_total = g_total + term
                g_opt.zero_grad(set_to_none=True)
                self.manual_backward(g_total)
            g_grad_norm = _grad_norm(self.generator) if should_log else None
            self._uncounted_step(g_opt)
            for trick in self.tricks:
                trick.after_step(self, "g")

        if self.d_scheduler_factory is not None or self.g_scheduler_factory is not None:
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                scheduler.step()  # once per training iteration

        self._track_finite(iteration, d_loss, g_loss)
        if should_log:
            self._log_step(real, real_logits, fake_logits_d, d_loss, g_loss, d_grad_norm, g_grad_norm)
        if iteration % self.finite_check_every_n_steps == 0 or iteration == self.trainer.max_steps:
            self.check_finite()

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

    def _log_step(self, real, real_logits, fake_logits, d_loss, g_loss, d_grad_norm, g_grad_norm) -> None:
        if self.loss.probabilistic:
            d_real, d_fake = torch.sigmoid(real_logits.detach()).mean(), torch.sigmoid(fake_logits.detach()).mean()
        else:
            d_real, d_fake = real_logits.detach().mean(), fake_logits.detach().mean()
        values = {"train/d_loss": d_loss.detach(), "train/D_x": d_real, "train/D_G_z": d_fake, "train/d_grad_norm": d_grad_norm}
        if g_loss is not None:
            values.update({"train/g_loss": g_loss.detach(), "train/g_grad_norm": g_grad_norm})
        self.log_dict(values, on_step=True, on_epoch=False, batch_size=real.shape[0])

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor | None = None, n: int | None = None, batch_size: int = 512) -> torch.Tensor:
        """Samples of G in eval mode (BatchNorm running statistics), without gradients."""
        if z is None:
            z = self.generator.sample_z(n or len(self.fixed_z), device=self.fixed_z.device)
        was_training = self.generator.training
        self.generator.eval()
        try:
            return torch.cat([self.generator(chunk) for chunk in z.split(batch_size)])
        finally:
            self.generator.train(was_training)

    # ---- checkpoints: RNG, trick state and the config travel with the weights ------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_rng_state(),
            "python": random.getstate(),
        }
        checkpoint["gan_lab"] = {"config": self.config, "tricks": {t.name: t.state_dict() for t in self.tricks}, "rng": rng}
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
        state = checkpoint.get("gan_lab", {})
        for trick in self.tricks:
            if trick.name in state.get("tricks", {}):
                trick.load_state_dict(state["tricks"][trick.name])
        per_rank = state.get("rng_per_rank")
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self._rng_to_restore = per_rank[rank] if per_rank and rank < len(per_rank) else state.get("rng")

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

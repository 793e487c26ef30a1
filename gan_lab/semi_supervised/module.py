"""Semi-supervised GAN (Salimans et al. 2016, §5): D is a K-class classifier of real data.

Each training iteration, as in ``openai/improved-gan`` ``train_mnist_feature_matching.py``:

* three separate batches: a labelled batch (``labelled.labelled_batch_indices`` over the
  labelled subset), the unlabelled batch served by the datamodule (the whole training set,
  its labels unused) and a fake batch ``G(z)``;
* D step on ``L_sup + w L_unsup`` (``losses.py``; fake logit fixed at 0);
* G step on feature matching (§3.1, ``gan_lab.tricks.feature_matching.feature_matching_loss``)
  between D's last hidden layer on the unlabelled batch and on the fake batch;
* an exponential moving average of D's parameters (the original's ``disc_param_avg``),
  which :class:`~gan_lab.semi_supervised.evaluation.TestAccuracy` evaluates.

``mode="supervised"`` is the baseline: the same D and labelled batches, ``L_sup`` only, G unused.

Deviations from the original code: G's real feature means come from the D step's unlabelled
batch (D before its update, detached) instead of a second unlabelled batch through the updated
D; the fake batch of the D step is reused for the G step (the project's convention); the
feature-matching loss is the squared L2 norm (``sum``) where the original takes the ``mean``
over the 250 features (a constant factor, which Adam's step size does not see); the EMA
starts from D's initial weights with a warm-up of its decay (see :meth:`update_ema`) and
``ema_decay`` 0.999 by default (the original starts at 0 with decay 0.9999 and no warm-up,
fine for its 180,000 iterations but not for runs of a few thousand).
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from gan_lab.module import GAN, frozen
from gan_lab.semi_supervised.labelled import labelled_batch_indices
from gan_lab.semi_supervised.losses import prob_real, supervised_loss, unsupervised_loss
from gan_lab.tricks.feature_matching import feature_matching_loss

MODES = ("semi_supervised", "supervised")


class SemiSupervisedGAN(GAN):
    def __init__(
        self,
        *args: Any,
        labelled_x: torch.Tensor,
        labelled_y: torch.Tensor,
        test_x: torch.Tensor,
        test_y: torch.Tensor,
        mode: str = "semi_supervised",
        unlabelled_weight: float = 1.0,
        ema_decay: float | None = 0.999,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: use one of {MODES}")
        self.mode = mode
        self.unlabelled_weight = float(unlabelled_weight)
        self.ema_decay = float(ema_decay) if ema_decay else None
        # rebuilt from the seed at every start: not saved in checkpoints
        self.register_buffer("labelled_x", labelled_x, persistent=False)
        self.register_buffer("labelled_y", labelled_y, persistent=False)
        self.test_x, self.test_y = test_x, test_y
        self.discriminator_ema = None
        if self.ema_decay:
            self.discriminator_ema = copy.deepcopy(self.discriminator).requires_grad_(False)

    def configure_callbacks(self):
        from gan_lab.semi_supervised.evaluation import TestAccuracy

        return [TestAccuracy(self.test_x, self.test_y)]

    @torch.no_grad()
    def update_ema(self, iteration: int | None = None) -> None:
        """theta_ema <- theta_ema + (1 - decay_t) (theta - theta_ema), for every parameter of D.

        ``decay_t = min(decay, (1 + t) / (10 + t))`` at iteration t (the warm-up of TensorFlow's
        ``ExponentialMovingAverage(num_updates=t)``), so that the EMA forgets the initial weights
        in short runs; ``iteration=None`` uses ``decay`` itself.
        """
        decay = self.ema_decay if iteration is None else min(self.ema_decay, (1 + iteration) / (10 + iteration))
        ema = list(self.discriminator_ema.parameters())
        torch._foreach_lerp_(ema, list(self.discriminator.parameters()), 1.0 - decay)

    def training_step(self, batch: torch.Tensor | tuple[torch.Tensor, ...], batch_idx: int) -> None:
        unlabelled = batch[0] if isinstance(batch, (tuple, list)) else batch  # its labels are not used
        iteration = self.global_step + 1
        d_opt, g_opt = self.optimizers()
        semi = self.mode == "semi_supervised"
        g_turn = semi and iteration % self.d_steps_per_g_step == 0
        should_log = iteration % self.trainer.log_every_n_steps == 0
        batch_size = unlabelled.shape[0]
        index = labelled_batch_indices(len(self.labelled_y), batch_size, unlabelled.device)
        x_lab, y_lab = self.labelled_x[index], self.labelled_y[index]

        # Dmain: classify the labelled batch; tell the unlabelled batch from the fake one
        lab_logits, _ = self.d_train(x_lab)  # D's DDP wrapper under trainer=ddp, else D
        loss_sup = supervised_loss(lab_logits, y_lab)
        values = {"train/loss_sup": loss_sup.detach(), "train/train_error": (lab_logits.detach().argmax(1) != y_lab).float().mean()}
        d_loss, g_loss = loss_sup, None
        if semi:
            with torch.set_grad_enabled(g_turn):
                fake = self.g_train(self.generator.sample_z(batch_size, device=unlabelled.device))
            unl_logits, unl_features = self.d_train(unlabelled)
            fake_logits_d, _ = self.d_train(fake.detach())
            loss_unsup = unsupervised_loss(unl_logits, fake_logits_d)
            d_loss = loss_sup + self.unlabelled_weight * loss_unsup
            values.update({
                "train/loss_unsup": loss_unsup.detach(),
                "train/D_x": prob_real(unl_logits.detach()).mean(),
                "train/D_G_z": prob_real(fake_logits_d.detach()).mean(),
            })
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        d_opt.step()
        if self.discriminator_ema is not None:
            self.update_ema(iteration)

        # Gmain: feature matching on D's last hidden layer (D's plain module, frozen)
        if g_turn:
            with frozen(self.discriminator):
                _, fake_features = self.discriminator(fake)
                g_loss = feature_matching_loss(unl_features.detach(), fake_features) / fake_features.shape[1]  # mean, as the original
                g_opt.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
            self._uncounted_step(g_opt)
            values["train/g_loss"] = g_loss.detach()

        if self.d_scheduler_factory is not None or self.g_scheduler_factory is not None:
            schedulers = self.lr_schedulers()
            for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
                if semi or scheduler.optimizer is not g_opt.optimizer:  # task=supervised never steps G
                    scheduler.step()
        self._track_finite(iteration, d_loss, g_loss)
        if should_log:
            values["train/d_loss"] = d_loss.detach()
            self.log_dict(values, on_step=True, on_epoch=False, batch_size=batch_size)
        if iteration % self.finite_check_every_n_steps == 0 or iteration == self.trainer.max_steps:
            self.check_finite()

    def classifier(self) -> torch.nn.Module:
        """The network evaluated on the test set: D's EMA if kept, else D."""
        return self.discriminator_ema if self.discriminator_ema is not None else self.discriminator

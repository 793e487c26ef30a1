"""What one training iteration computes, apart from how it runs (stylegan2-ada's ``training/loss.py:
accumulate_gradients(phase, ...)`` beside ``training_loop.py``): the training module
(``gan_lab.module.GAN``) owns the loop, the schedule, the freezing and the optimizer steps; an
objective computes each phase, whole:

* ``start``: G(z) for the iteration (with gradients when G steps in it);
* ``phase_loss("d", ...)``: D's loss on real and fake with the tricks' real target, the loss's own
  penalty (WGAN-GP, R1) and the tricks' penalties (historical averaging);
* ``phase_loss("g", ...)``: D (frozen by the loop) on G(z), jointly with the real batch when a trick
  needs it (feature matching) or the loss does (``loss=rpgan``: G's loss reads D's real logits); G's
  loss, or a trick's replacement of it, and the tricks' penalties;
* ``after_step``: what follows a player's optimizer step (the loss's clipping, the tricks' state).

Tricks see the iteration's tensors and the nets (:class:`gan_lab.iteration.Nets`), never the
LightningModule. An objective is an ``nn.Module`` held by the training module, so whatever state it
keeps (the semi-supervised D's EMA) is in every checkpoint. Its ``loss`` is the ``loss=`` group's
:class:`gan_lab.losses.GANLoss`; tricks read ``probabilistic`` and ``per_example_penalty``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan_lab.data.datasets import Prepared
from gan_lab.data.spec import DataSpec
from gan_lab.iteration import Iteration, Nets, PhaseLoss, member_cat, per_member
from gan_lab.losses import GANLoss
from gan_lab.tricks.base import Trick


class Objective(nn.Module):
    #: G is trained (False: the supervised baseline trains D alone)
    trains_generator = True
    #: the task's name in messages (``task=NAME``)
    task = "unconditional"
    #: the datamodule serves (images, labels) batches and ``start`` gets the labels (task=conditional)
    needs_labels = False

    def __init__(self, loss: GANLoss) -> None:
        super().__init__()
        self.loss = loss
        self.use_tricks([])
        self.latent_seeds = [0]  # one per member (an ensemble of seeds); bind() sets the run's seed
        self._latents: list[torch.Generator] | None = None

    def use_tricks(self, tricks: list[Trick]) -> None:
        """The tricks of the run (``trick=``), in the order their hooks run; checked by the builder."""
        self.tricks = list(tricks)
        self.real_target = 1.0  # D's target for real examples (one-sided label smoothing sets it)
        for trick in self.tricks:
            self.real_target = trick.real_target(self.real_target)
        self.joint_g_phase = self.loss.needs_real_in_g_phase or any(t.needs_real_in_g_phase for t in self.tricks)

    # ---- what the objective needs, checked before any data is read --------------------------
    @property
    def probabilistic(self) -> bool:
        """D's realness logit is read as a probability (label smoothing applies)."""
        return self.loss.probabilistic

    def check_data(self, data: DataSpec) -> None:
        """Raise ``ConfigError`` if the task cannot learn from this data."""

    def check_tricks(self, tricks: list) -> None:
        """Raise ``ConfigError`` for a trick this objective cannot combine with."""

    def discriminator_outputs(self, data: DataSpec) -> int:
        """The number of logits D must output."""
        return 1

    def bind(self, data: Prepared, seed: int, run_dir: Path | None) -> None:
        """Take what training needs from the loaded data (a labelled subset, a test split)."""
        self.latent_seeds = [int(seed)]

    def check_ensemble(self) -> None:
        """Raise ``ConfigError`` if members of an ensemble of seeds cannot share this objective."""

    # ---- the latent codes: one stream per member and rank, apart from the global RNG ----------------
    def seed_latents(self, device: torch.device, rank: int = 0) -> None:
        """A fresh run: member m of rank r draws z from its own generator, seeded ``seed_m + 1_000_003 r``, so
        a member of an ensemble draws the z a single run of its seed draws, whatever else draws random numbers."""
        self._latents = [torch.Generator(device=device).manual_seed(s + 1_000_003 * rank) for s in self.latent_seeds]

    def latent_state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self._latents or []]

    def load_latent_state(self, states: list[torch.Tensor], device: torch.device) -> None:
        self._latents = [torch.Generator(device=device) for _ in states]
        for gen, state in zip(self._latents, states):
            gen.set_state(state)

    def latent_codes(self, generator: nn.Module, n: int, device: torch.device) -> torch.Tensor:
        """``n`` codes (member-major: n / M per member), each member's from its own stream."""
        if self._latents is None or self._latents[0].device.type != torch.device(device).type:
            self.seed_latents(torch.device(device))  # a run without on_train_start (a unit test)
        per = n // len(self._latents)
        return torch.cat([generator.sample_z(per, device=device, generator=g) for g in self._latents])

    def transform_generator(self, generator: nn.Module) -> nn.Module:
        """The task's change of the built G (the net builder's hook; class-conditional BatchNorm)."""
        return generator

    def transform_discriminator(self, discriminator: nn.Module) -> nn.Module:
        """The task's change of the built D (the net builder's hook; the projection head)."""
        return discriminator

    def attach(self, discriminator: nn.Module) -> None:
        """Called once D is built and initialised (the semi-supervised EMA copies it)."""

    # ---- one iteration: its phases ------------------------------------------------------------
    def start(self, number: int, real: torch.Tensor, nets: Nets, train_generator: bool, log: bool = False,
              labels: torch.Tensor | None = None) -> Iteration:
        """The iteration's tensors: the real batch and G(z), with gradients to G when G steps in it (``labels``:
        the real batch's classes, served only to an objective that ``needs_labels``)."""
        fake = None
        if self.trains_generator:
            z = self.latent_codes(nets.generator, real.shape[0], real.device)
            with torch.set_grad_enabled(train_generator):
                fake = nets.synced_generator(z)
        return Iteration(number=number, real=real, fake=fake, log=log, members=nets.members)

    def phase_loss(self, phase: str, it: Iteration, nets: Nets) -> PhaseLoss:
        """Everything phase ``"d"`` or ``"g"`` of iteration ``it`` back-propagates (``PhaseLoss.total``).

        An ensemble of M seeds: every term is a mean over its members' terms (the examples of all members
        in one mean), so the total is scaled by M: member m's parameters get member m's gradient."""
        if phase not in ("d", "g"):
            raise ValueError(f"phase {phase!r}: the phases are 'd' and 'g'")
        result = self.d_phase(it, nets) if phase == "d" else self.g_phase(it, nets)
        if it.members > 1:
            result.total = result.total * it.members
        return result

    def d_phase(self, it: Iteration, nets: Nets) -> PhaseLoss:
        """Dmain: D's loss (through D's DDP wrapper), the loss's penalty on D (eager D under compile), the tricks' penalties."""
        d_loss, values = self.d_loss(nets.synced_discriminator, it, self.real_target)
        total = d_loss
        with nets.eager():
            penalty = self.d_penalty(nets.discriminator, it)
        for term in [penalty] + [t.d_penalty(it, nets) for t in self.tricks]:
            if term is not None:
                total = total + term
        if it.log and it.real_logits is not None:
            values = {**values, **self.realness_values(it)}
        return PhaseLoss(total, d_loss, values)

    def g_phase(self, it: Iteration, nets: Nets) -> PhaseLoss:
        """Gmain: D (frozen by the loop; its plain module, nothing of D is synchronised) on G(z); G's
        adversarial loss, or the sum of the tricks' replacements of it; the tricks' penalties."""
        self.discriminate_fake(nets.discriminator, it)

        def adversarial() -> torch.Tensor:  # G's adversarial loss; after a joint forward, D's head runs here, if asked
            if it.fake_logits is None:
                it.fake_logits = nets.discriminator.logits(it.fake_features)
            return self.g_loss(it)

        replacements = [o for o in (t.g_objective(it, nets, adversarial) for t in self.tricks) if o is not None]
        g_loss = sum(replacements[1:], replacements[0]) if replacements else adversarial()
        total = g_loss
        for term in (t.g_penalty(it, nets) for t in self.tricks):
            if term is not None:
                total = total + term
        return PhaseLoss(total, g_loss)

    def after_step(self, phase: str, it: Iteration, nets: Nets) -> None:
        """After the optimizer step of player ``phase``: the loss's (weight clipping) and the tricks' (θ̄)."""
        if phase == "d":
            self.after_d_step(nets.discriminator, it.number)
        for trick in self.tricks:
            trick.after_step(phase, nets)

    def discriminate_fake(self, discriminator: nn.Module, it: Iteration) -> None:
        """G's phase: D on G(z), with gradients to G. With a trick or a loss that needs it (feature matching,
        ``loss=rpgan``), real and fake go through D's layers up to its features in one forward, so BatchNorm
        normalises both halves with the same statistics; the real half's features are kept, detached. D's head
        then runs on each half alone (``Discriminator.logits``), as the original code calls D on G(z) alone: a
        minibatch-discrimination head compares fakes with fakes. The fake logits are left None here and computed
        only if G's adversarial loss is asked for (:meth:`g_phase`): feature matching, which replaces it, reads
        features only, and skips the head (o(x) over the batch, most of an iteration of the 2-D protocol's nets)."""
        if self.joint_g_phase:  # an ensemble: [real_m; fake_m] per member, member-major
            m = it.members
            features = per_member(discriminator(member_cat(it.real, it.fake, m), head=False), m)
            n = features.shape[1] // 2  # real and fake halves are equal: B examples, or B/m packs (trick=packing)
            it.real_features = features[:, :n].detach().flatten(0, 1)
            it.fake_logits, it.fake_features = None, features[:, n:].flatten(0, 1)
            if self.loss.needs_real_in_g_phase:
                it.g_real_logits = discriminator.logits(it.real_features).detach()
        else:
            it.fake_logits, it.fake_features = discriminator(it.fake)

    def realness_values(self, it: Iteration) -> dict[str, torch.Tensor]:
        """D(x) and D(G(z)) of D's phase, to log: probabilities for a probabilistic loss, else the logits."""
        real, fake = self.realness(it.real_logits.detach()), self.realness(it.fake_logits.detach())
        if self.probabilistic:
            real, fake = torch.sigmoid(real), torch.sigmoid(fake)
        return {"train/D_x": real.mean(), "train/D_G_z": fake.mean()}

    # ---- the parts a task changes --------------------------------------------------------------
    def realness(self, logits: torch.Tensor) -> torch.Tensor:
        """D's logit that an example is real, from D's raw output."""
        return logits

    def discriminate(self, discriminator: nn.Module, it: Iteration) -> None:
        """D on the real batch and on the (detached) fake batch; fills ``it``."""
        real_logits, real_features = discriminator(it.real)
        fake_logits, _ = discriminator(it.fake.detach())
        it.real_logits, it.real_features, it.fake_logits = real_logits, real_features.detach(), fake_logits

    def d_loss(self, discriminator: nn.Module, it: Iteration, real_target: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss for this iteration, and extra values to log (``train/...``)."""
        self.discriminate(discriminator, it)
        return self.loss.d_loss(self.realness(it.real_logits), self.realness(it.fake_logits), real_target), {}

    def d_penalty(self, discriminator: nn.Module, it: Iteration) -> torch.Tensor | None:
        """The loss's penalty on D's realness logit (WGAN-GP; R1, lazily: ``it.number`` says whether this
        iteration regularises); None where the loss adds nothing this iteration."""
        return self.loss.d_penalty(discriminator, it.real, it.fake, iteration=it.number, realness=self.realness)

    def g_loss(self, it: Iteration) -> torch.Tensor:
        """G's adversarial loss from D's logits on G(z) (``it.fake_logits``, with gradients to G), and on the real
        batch (``it.g_real_logits``) for a loss that reads them."""
        if self.loss.needs_real_in_g_phase:
            return self.loss.g_loss(self.realness(it.fake_logits), real_logits=self.realness(it.g_real_logits))
        return self.loss.g_loss(self.realness(it.fake_logits))

    def after_d_step(self, discriminator: nn.Module, iteration: int) -> None:
        self.loss.after_d_step(discriminator)

    def epoch_metrics(self, discriminator: nn.Module) -> dict[str, torch.Tensor]:
        """Values to log at the end of every training epoch (``metrics/...``)."""
        return {}


class Unconditional(Objective):
    """The GAN game of Goodfellow et al. 2014 with the ``loss=`` group's losses (``task=unconditional``)."""

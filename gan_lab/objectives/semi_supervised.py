"""Semi-supervised learning with a K+1-class discriminator (Salimans et al. 2016, §5), and its
supervised baseline (``task=semi_supervised`` / ``task=supervised``).

D outputs K logits ``l`` for the real classes; the logit of the (K+1)-th, "fake", class is fixed
at 0 (§5: "we can fix l_{K+1}(x) = 0"), so with ``Z(x) = sum_k exp(l_k(x))``

    D(x) = 1 - p(y = fake | x) = Z / (Z + 1) = sigmoid(logsumexp(l)):

D's realness logit is ``logsumexp(l)`` (:meth:`SemiSupervised.realness`). The losses of the
original code (``openai/improved-gan`` ``train_mnist_feature_matching.py``, ``loss_lab`` and
``loss_unl``; the §5 equations for L_supervised and L_unsupervised):

    L_sup   = E_lab [ -l_y + logsumexp(l) ]                                  (cross-entropy over K)
    L_unsup = -1/2 E_unl lse(l) + 1/2 E_unl softplus(lse(l)) + 1/2 E_fake softplus(lse(l))
            = 1/2 [ E_unl softplus(-lse(l)) + E_fake softplus(lse(l)) ]

so L_unsup is one half of the ``loss=nonsaturating`` (or ``minimax``) D loss on the realness
logits, which is how it is computed here: ``1/2 loss.d_loss(lse(l_unl), lse(l_fake), real_target)``
(one-sided label smoothing composes). D minimizes L_sup + w L_unsup. Each iteration uses three
batches, as the original: a labelled batch (:func:`labelled_batch_indices` over the labelled
subset), the unlabelled batch the datamodule serves (the whole training set, labels unused) and
G(z). G's loss is the ``loss=`` group's (non-saturating on lse) unless a trick replaces it: the
paper's MNIST model uses feature matching (``trick=feature_matching`` with
``tricks.feature_matching.reduction=mean``, as ``experiment=ssgan_mnist`` sets).

The test error of an exponential moving average of D's parameters (the original's
``disc_param_avg``) and of D itself is logged at the end of every epoch: ``metrics/test_error``,
``metrics/test_error_raw`` and ``metrics/test_errors`` (misclassified test examples, the unit of
the paper's MNIST column), with D in eval mode (no Gaussian noise: the original's
``deterministic=True``). ``validation_examples`` > 0 holds that many training examples out as a
validation split, drawn first with ``validation_seed`` (the same split for every run seed); the
labelled subset is then drawn from the other examples. The split's labels are used for nothing but
``metrics/val_error`` /
``metrics/val_errors`` (and ``val_error_raw``), logged beside the test error, so that a recipe (a
learning rate, a length) is chosen on them and the test split only reports. Like every training
example they stay in the unlabelled pool, whose labels training never reads.

Deviations from the original code: G's real feature means come from the D step's unlabelled
batch (D before its update, detached) instead of a second unlabelled batch through the updated D;
the fake batch of the D step is reused for the G step (the project's convention); the EMA starts
from D's initial weights with a warm-up of its decay (:meth:`SemiSupervised.update_ema`) and
``ema_decay`` 0.999 by default (the original starts at 0 with decay 0.9999 and no warm-up, fine
for its 180,000 iterations but not for runs of a few thousand).
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.data.datasets import Prepared
from gan_lab.data.spec import DataSpec
from gan_lab.errors import ConfigError, is_whole_number
from gan_lab.iteration import Iteration
from gan_lab.losses import GANLoss
from gan_lab.objectives.base import Objective
from gan_lab.objectives.labelled import balanced_subset, labelled_batch_indices, save_subset

LABELLED_DATA = "data=mnist5k, mnist, digits, fashion_mnist, svhn or cifar10"


@torch.no_grad()
def count_errors(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Number of examples of ``x`` whose argmax logit is not ``y`` (classifier in eval mode)."""
    was_training = classifier.training
    classifier.eval()
    try:
        errors = torch.zeros((), dtype=torch.long, device=x.device)
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            logits, _ = classifier(xb)
            errors += (logits.argmax(dim=1) != yb).sum()
        return errors
    finally:
        classifier.train(was_training)


class SemiSupervised(Objective):
    task = "semi_supervised"
    #: the unlabelled batch enters D's loss (False: the supervised baseline, where every label may be used)
    needs_unlabelled = True

    def __init__(self, loss: GANLoss, labels_per_class: int | None = 10, labelled_seed: int | None = None,
                 unlabelled_weight: float = 1.0, ema_decay: float | None = 0.999, validation_examples: int = 0,
                 validation_seed: int = 0) -> None:
        super().__init__(loss)
        if not is_whole_number(validation_examples, 0):
            raise ConfigError(f"task.validation_examples={validation_examples}: the number of training examples held out "
                              "for choosing a recipe must be an integer >= 0 (e.g. task.validation_examples=500; 0: none)")
        self.validation_examples, self.validation_seed = validation_examples, int(validation_seed)
        if not loss.probabilistic:
            raise ConfigError(
                f"task={self.task} reads D(x) = sigmoid(logsumexp(l)) as a probability, and loss={loss.name} does not: "
                "use loss=nonsaturating (or minimax)"
            )
        if labels_per_class is None and self.needs_unlabelled:
            raise ConfigError(
                f"task={self.task} needs task.labels_per_class (null means every label is used, which is not "
                "semi-supervised): set e.g. task.labels_per_class=10"
            )
        if labels_per_class is not None and (not isinstance(labels_per_class, int) or labels_per_class < 1):
            raise ConfigError(f"task.labels_per_class={labels_per_class}: must be a positive integer (e.g. task.labels_per_class=10)")
        self.labels_per_class, self.labelled_seed = labels_per_class, labelled_seed
        self.unlabelled_weight = float(unlabelled_weight)
        self.ema_decay = float(ema_decay) if ema_decay else None
        self.discriminator_ema: nn.Module | None = None
        self.test_x = self.test_y = self.val_x = self.val_y = None

    def check_data(self, data: DataSpec) -> None:
        if data.kind != "image" or not data.num_classes:
            raise ConfigError(f"task={self.task}: data={data.name} has no class labels to learn from: use {LABELLED_DATA}")

    def check_tricks(self, tricks: list) -> None:
        for trick in tricks:
            if getattr(trick, "packs_examples", False):  # PacGAN packing: one decision per pack of m examples
                raise ConfigError(f"task={self.task} needs K class logits for every example (Salimans et al. 2016 §5), and "
                                  f"trick={trick.name} makes D decide once per pack of examples: drop trick={trick.name}")

    def discriminator_outputs(self, data: DataSpec) -> int:
        return int(data.num_classes)

    def check_ensemble(self) -> None:
        raise ConfigError(f"ensemble.seeds with task={self.task}: the members would need a labelled subset and a test "
                          "evaluation each; run one seed per run (ensemble.seeds=1, a multirun over seed=) instead")

    def bind(self, data: Prepared, seed: int, run_dir: Path | None) -> None:
        super().bind(data, seed, run_dir)
        if data.train_y is None or data.val_y is None:
            raise ConfigError(f"task={self.task}: data has no class labels with a test split: use {LABELLED_DATA}")
        labelled_seed = seed if self.labelled_seed is None else self.labelled_seed
        num_classes = data.num_classes or int(data.train_y.max()) + 1
        pool = torch.arange(len(data.train_y))  # where labels may be drawn: all but the validation split
        if self.validation_examples:
            pool = self.validation_split(data)
        if self.labels_per_class is None:  # task=supervised on every label
            index = pool
        else:
            index = pool[balanced_subset(data.train_y[pool], self.labels_per_class, labelled_seed, num_classes)]
        if run_dir is not None:
            save_subset(Path(run_dir) / "labelled_subset.json", index, data.train_y, labelled_seed)
        # rebuilt from the seed at every start: not saved in checkpoints
        self.register_buffer("labelled_x", data.train_x[index].clone(), persistent=False)
        self.register_buffer("labelled_y", data.train_y[index].clone(), persistent=False)
        self.test_x, self.test_y = data.val_x, data.val_y

    def validation_split(self, data: Prepared) -> torch.Tensor:
        """Hold out ``validation_examples`` training examples (by ``validation_seed``: the same for every
        run seed) as ``val_x`` / ``val_y``; return the indices of the others, where labels may be drawn."""
        n = len(data.train_y)
        if self.validation_examples >= n:
            raise ConfigError(f"task.validation_examples={self.validation_examples}: the training split has only {n} "
                              f"examples (set task.validation_examples={n // 8} or fewer)")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.validation_seed))
        chosen = order[: self.validation_examples].sort().values
        self.val_x, self.val_y = data.train_x[chosen].clone(), data.train_y[chosen].clone()
        return order[self.validation_examples:].sort().values

    def attach(self, discriminator: nn.Module) -> None:
        if self.ema_decay:
            self.discriminator_ema = copy.deepcopy(discriminator).requires_grad_(False)

    def realness(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(logits, dim=1)

    def supervised_loss(self, discriminator: nn.Module, batch_size: int, device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_sup on a labelled batch of ``batch_size`` examples, and its training error."""
        index = labelled_batch_indices(len(self.labelled_y), batch_size, device)
        x_lab, y_lab = self.labelled_x[index], self.labelled_y[index]
        lab_logits, _ = discriminator(x_lab)
        loss_sup = F.cross_entropy(lab_logits, y_lab)
        return loss_sup, {"train/loss_sup": loss_sup.detach(),
                          "train/train_error": (lab_logits.detach().argmax(1) != y_lab).float().mean()}

    def d_loss(self, discriminator, it: Iteration, real_target: float):
        loss_sup, values = self.supervised_loss(discriminator, it.real.shape[0], it.real.device)
        loss_unsup, _ = super().d_loss(discriminator, it, real_target)
        loss_unsup = 0.5 * loss_unsup
        values["train/loss_unsup"] = loss_unsup.detach()
        return loss_sup + self.unlabelled_weight * loss_unsup, values

    def after_d_step(self, discriminator: nn.Module, iteration: int) -> None:
        super().after_d_step(discriminator, iteration)
        if self.discriminator_ema is not None:
            self.update_ema(discriminator, iteration)

    @torch.no_grad()
    def update_ema(self, discriminator: nn.Module, iteration: int | None = None) -> None:
        """theta_ema <- theta_ema + (1 - decay_t) (theta - theta_ema), for every parameter of D.

        ``decay_t = min(decay, (1 + t) / (10 + t))`` at iteration t (the warm-up of TensorFlow's
        ``ExponentialMovingAverage(num_updates=t)``), so that the EMA forgets the initial weights
        in short runs; ``iteration=None`` uses ``decay`` itself.
        """
        decay = self.ema_decay if iteration is None else min(self.ema_decay, (1 + iteration) / (10 + iteration))
        torch._foreach_lerp_(list(self.discriminator_ema.parameters()), list(discriminator.parameters()), 1.0 - decay)

    def classifier(self, discriminator: nn.Module) -> nn.Module:
        """The network evaluated on the test set: D's EMA if kept, else D."""
        return self.discriminator_ema if self.discriminator_ema is not None else discriminator

    def epoch_metrics(self, discriminator: nn.Module) -> dict[str, torch.Tensor]:
        device = next(discriminator.parameters()).device
        x, y = self.test_x.to(device), self.test_y.to(device)
        errors = count_errors(self.classifier(discriminator), x, y).float()
        errors_raw = count_errors(discriminator, x, y).float()
        n = len(y)
        values = {
            "metrics/test_errors": errors,
            "metrics/test_error": errors / n,
            "metrics/test_error_raw": errors_raw / n,
            "metrics/test_examples": torch.tensor(float(n)),
            "metrics/labelled_examples": torch.tensor(float(len(self.labelled_y))),
        }
        if self.val_x is not None:
            x, y = self.val_x.to(device), self.val_y.to(device)
            val_errors = count_errors(self.classifier(discriminator), x, y).float()
            values.update({"metrics/val_errors": val_errors, "metrics/val_error": val_errors / len(y),
                           "metrics/val_error_raw": count_errors(discriminator, x, y).float() / len(y)})
        return values


class Supervised(SemiSupervised):
    """The baseline: the same K-class D and labelled batches, trained on L_sup only; G is not trained."""

    task = "supervised"
    trains_generator = False
    needs_unlabelled = False

    def __init__(self, loss: GANLoss, labels_per_class: int | None = 10, labelled_seed: int | None = None,
                 ema_decay: float | None = 0.999, validation_examples: int = 0, validation_seed: int = 0) -> None:
        super().__init__(loss, labels_per_class, labelled_seed, unlabelled_weight=0.0, ema_decay=ema_decay,
                         validation_examples=validation_examples, validation_seed=validation_seed)

    def check_tricks(self, tricks: list) -> None:
        if tricks:
            names = ",".join(t.name for t in tricks)
            raise ConfigError(f"task=supervised trains D as a plain classifier (no G, no adversarial loss): drop trick=[{names}]")

    def d_loss(self, discriminator, it: Iteration, real_target: float):
        return self.supervised_loss(discriminator, it.real.shape[0], it.real.device)

    def d_penalty(self, discriminator, it: Iteration) -> None:
        return None

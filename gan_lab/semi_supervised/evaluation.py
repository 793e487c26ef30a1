"""Test accuracy of the semi-supervised discriminator (Salimans et al. 2016, §5, Table 1).

The prediction is ``argmax_k l_k(x)`` over the K real classes, with D in eval mode (no Gaussian
noise: the original's ``deterministic=True``). Evaluated at the end of every training epoch
(and so at the end of training, also when ``max_steps`` stops it mid-epoch) for D's EMA
(``metrics/test_error``, the number the original code reports) and for D itself
(``metrics/test_error_raw``); ``metrics/test_errors`` is the count of misclassified test
examples, the unit of the paper's MNIST column. All land in ``summary.json`` under ``metrics``.
"""
from __future__ import annotations

import lightning as L
import torch
from torch import nn


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


class TestAccuracy(L.Callback):
    """Logs the test error of D's EMA and of D at the end of every epoch."""

    def __init__(self, test_x: torch.Tensor, test_y: torch.Tensor) -> None:
        self.test_x, self.test_y = test_x, test_y

    def evaluate(self, module) -> dict[str, torch.Tensor]:
        x, y = self.test_x.to(module.device), self.test_y.to(module.device)
        errors = count_errors(module.classifier(), x, y)
        errors_raw = count_errors(module.discriminator, x, y)
        n = len(y)
        return {
            "metrics/test_errors": errors.float(),
            "metrics/test_error": errors.float() / n,
            "metrics/test_error_raw": errors_raw.float() / n,
            "metrics/test_examples": torch.tensor(float(n)),
            "metrics/labelled_examples": torch.tensor(float(len(module.labelled_y))),
        }

    def on_train_epoch_end(self, trainer: L.Trainer, module) -> None:
        # every rank evaluates the whole test set with the same weights: sync_dist averages equal values
        module.log_dict(self.evaluate(module), on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

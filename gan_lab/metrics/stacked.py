"""Mode coverage on Stacked MNIST (``data=stacked_mnist``), as VEEGAN §5.2 and PacGAN §5.2 count it.

Each channel of a sample is classified by the project's digit classifier of the embedded mnist5k digits
(``gan_lab.metrics.classifier``; PacGAN uses a pre-trained Keras MNIST net, ``evaluate.py``), the triple
gives the sample's mode ``100 r + 10 g + b``, and over ``num_samples`` samples (the papers: 26,000):

* ``metrics/stacked_modes_covered26k``: how many of the 1,000 modes have at least one sample;
* ``metrics/stacked_kl26k``: KL(generated mode histogram || uniform) = sum_k p_k log(1000 p_k) over the
  modes with p_k > 0 (PacGAN's ``VEEGAN_experiment/model.py:log_metrics``, ``JSD().KLD(p, q)``); 0 for a
  uniform histogram, log 1000 = 6.91 for one mode.

The same numbers for the held-out real stacks (``data.num_val``, classified the same way) are in the
protocol: the classifier's errors and the finite count put even real data above KL 0.
"""
from __future__ import annotations

import math

import torch
from torchmetrics import Metric

MODES = 1000


@torch.no_grad()
def channel_digits(classifier, images: torch.Tensor) -> torch.Tensor:
    """The digit class of each channel of [N, 3, H, W] images -> [N, 3] (a classifier of 1-channel digits
    at the images' size)."""
    logits, _ = classifier(images.flatten(0, 1)[:, None])
    return logits.argmax(1).view(images.shape[0], 3)


def modes_of(digits: torch.Tensor) -> torch.Tensor:
    """[N, 3] channel digits -> [N] modes, 100 r + 10 g + b."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def histogram_metrics(counts: torch.Tensor) -> dict[str, float]:
    """Modes covered (of 1,000) and KL(p || uniform) of a [1000] histogram of mode counts."""
    p = counts.double() / counts.sum()
    seen = p[p > 0]
    return {"modes_covered": int((counts > 0).sum()), "kl": float((seen * (seen * MODES).log()).sum())}


class ModeHistogram(Metric):
    """Running counts of the modes of generated samples (a torchmetrics ``Metric``: the counts are summed over
    DDP ranks by ``dist_reduce_fx="sum"``; every rank must call ``compute``), :func:`histogram_metrics` of them."""

    full_state_update = False

    def __init__(self, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.add_state("counts", torch.zeros(MODES, dtype=torch.float64), dist_reduce_fx="sum")
        self.to(device)

    def update(self, modes: torch.Tensor) -> None:
        self.counts += torch.bincount(modes.to(self.counts.device), minlength=MODES).double()

    def compute(self) -> dict[str, float]:
        return histogram_metrics(self.counts)


def expected_kl_of_uniform_draws(n: int) -> float:
    """KL's first-order bias for n draws from the uniform 1,000 modes, (K - 1) / (2 n) nats (the
    reference a perfect G cannot beat at that count)."""
    return (MODES - 1) / (2 * n) if n > 0 else math.inf

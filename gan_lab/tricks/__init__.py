"""Improved-GAN techniques (Salimans et al. 2016) as composable tricks: one file each."""
from gan_lab.tricks.base import Step, Trick
from gan_lab.tricks.label_smoothing import LabelSmoothing

__all__ = ["Step", "Trick", "LabelSmoothing"]

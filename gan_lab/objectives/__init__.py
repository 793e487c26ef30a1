"""Objectives (``task=``): what D's and G's losses are in one training iteration."""
from gan_lab.objectives.base import Objective, Unconditional
from gan_lab.objectives.conditional import Conditional
from gan_lab.objectives.semi_supervised import SemiSupervised, Supervised

__all__ = ["Conditional", "Objective", "SemiSupervised", "Supervised", "Unconditional"]

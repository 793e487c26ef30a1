"""Improved-GAN techniques (Salimans et al. 2016, §3) as composable tricks: one file each."""
from gan_lab.tricks.base import Trick
from gan_lab.tricks.feature_matching import FeatureMatching
from gan_lab.tricks.historical_averaging import HistoricalAveraging
from gan_lab.tricks.label_smoothing import LabelSmoothing
from gan_lab.tricks.minibatch_discrimination import MinibatchDiscrimination
from gan_lab.tricks.packing import Packing
from gan_lab.tricks.virtual_bn import VirtualBN

__all__ = ["Trick", "FeatureMatching", "HistoricalAveraging", "LabelSmoothing", "MinibatchDiscrimination", "Packing", "VirtualBN"]

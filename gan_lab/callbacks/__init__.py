"""Lightning callbacks: sample grids, throughput and loss curves."""
from gan_lab.callbacks.progress import TrainingProgress
from gan_lab.callbacks.samples import SampleGrid

__all__ = ["SampleGrid", "TrainingProgress"]

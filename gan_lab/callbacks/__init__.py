"""Lightning callbacks: sample grids, throughput and loss curves, the progress bar."""
from gan_lab.callbacks.progress import TrainingProgress
from gan_lab.callbacks.progress_bar import GanProgressBar
from gan_lab.callbacks.samples import SampleGrid

__all__ = ["GanProgressBar", "SampleGrid", "TrainingProgress"]

"""gan-lab: an experiment platform for training and studying GANs."""

__version__ = "0.1.0"

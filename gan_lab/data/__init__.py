"""Datasets and the LightningDataModule."""
from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.loader import InMemoryLoader

__all__ = ["GANDataModule", "InMemoryLoader"]

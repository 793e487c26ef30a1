"""Datasets and their LightningDataModules (one class per ``conf/data/*.yaml``)."""
from gan_lab.data.datamodule import GANDataModule
from gan_lab.data.loader import InMemoryLoader
from gan_lab.data.spec import DataSpec

__all__ = ["DataSpec", "GANDataModule", "InMemoryLoader"]

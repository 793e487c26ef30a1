"""Layers and net transforms that the tricks and stabilisers put into G and D: minibatch discrimination's
head, virtual batch norm, PacGAN's packed D, spectral normalisation and DiffAugment (one file each)."""

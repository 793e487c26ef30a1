"""Generators and discriminators; every D returns (logits, features)."""
from gan_lab.nets.base import Discriminator, Generator
from gan_lab.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lab.nets.mlp import Maxout, MLPDiscriminator, MLPGenerator
from gan_lab.nets.layers.packing import PackedDiscriminator
from gan_lab.nets.r3gan import R3GANDiscriminator, R3GANGenerator
from gan_lab.nets.unrolled import UnrolledDiscriminator, UnrolledGenerator

__all__ = ["Discriminator", "Generator", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "Maxout", "PackedDiscriminator",
           "R3GANDiscriminator", "R3GANGenerator",
           "UnrolledDiscriminator", "UnrolledGenerator"]

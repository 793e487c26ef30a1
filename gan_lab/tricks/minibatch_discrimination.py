"""Minibatch discrimination (Salimans et al. 2016, §3.2) as a trick: a transform of D whose head
becomes [f(x), o(x)] -> logits, the :class:`gan_lab.nets.layers.minibatch_discrimination.MinibatchDiscriminationHead`
of the original code (per-kernel normalised T, bias, weight-normalised dense output).

Defaults B = 100 kernels of C = 5 dimensions, as in the original CIFAR-10 code. The head is built
by the net builder (``gan_lab.build.build_nets``), before the optimizers exist, so D's optimizer
trains it and every checkpoint rebuilds it. Its data-dependent init (mean nearest-neighbour L1 of 2,
bias -mean(o), logits of std 0.1) runs once before training on the batch of real examples D
initialises on (``Discriminator.init_from_data``: the same batch on every DDP rank; the original's
``trainx[:500]``), and its ``initialized`` flag travels in checkpoints. Under DDP each rank computes
o(x) within its own batch. o(x) mixes the examples of a batch, so the trick is refused with a
per-example gradient penalty (``mixes_examples_in_d``). ``compile=true`` computes o(x) by compiled kernels: on a
CPU gan-lab's own C kernel over the unordered pairs (``CpuPairKernelSums``, built in ~1 s on first use by the C++
compiler Inductor would use), on a GPU Inductor's (``CompiledPairKernelSums``; the first call of each batch shape
compiles, ~15 s in a fresh process); ~5-10x faster than the eager ops (``benchmarks/md_kernel.py``).
"""
from __future__ import annotations

from torch import nn

from gan_lab.errors import ConfigError, is_whole_number
from gan_lab.nets.layers.minibatch_discrimination import MinibatchDiscriminationHead
from gan_lab.tricks.base import Trick


class MinibatchDiscrimination(Trick):
    name = "minibatch_discrimination"
    mixes_examples_in_d = True

    def __init__(self, num_kernels: int = 100, kernel_dim: int = 5, compile: bool = False) -> None:
        if not isinstance(compile, bool):
            raise ConfigError(f"tricks.minibatch_discrimination.compile={compile}: true or false "
                              "(true: o(x) by compiled kernels, several times faster after a first call that compiles)")
        for key, value in (("num_kernels", num_kernels), ("kernel_dim", kernel_dim)):
            if not is_whole_number(value):
                raise ConfigError(f"tricks.minibatch_discrimination.{key}={value}: a whole number >= 1 "
                                  "(the original: 100 kernels of 5 dimensions)")
        self.num_kernels, self.kernel_dim, self.compile = num_kernels, kernel_dim, compile

    def transform_discriminator(self, discriminator: nn.Module) -> nn.Module:
        discriminator.head = MinibatchDiscriminationHead(discriminator.feature_dim, discriminator.out_dim,
                                                         self.num_kernels, self.kernel_dim, compile=self.compile)
        return discriminator

"""Packing (Lin, Khetan, Fanti & Oh 2018, "PacGAN", §3) as a trick: D sees m examples of the same
source (all real or all fake) concatenated and outputs one decision per pack; its input layer is m
times wider, everything else is unchanged (PacGAN uses m = 2, 3, 4). The transform is
:class:`gan_lab.nets.layers.packing.PackedDiscriminator`, built by the net builder
(``gan_lab.build.build_nets``), so training, checkpoints and resumes rebuild the same D; ``m=1`` leaves
D as it is. See ``gan_lab/nets/layers/packing.py`` for the layout (consecutive examples, channel / feature
concatenation) and the deviations from the original code.

Every call of D packs its own input, so packs never mix real and fake as long as every batch D sees
is a multiple of m: D's real and fake batches (B each), the [real; fake] batch of G's phase under
feature matching (2B, split at B/m packs), the interpolates of WGAN-GP (B). So ``data.batch_size``
must be a multiple of m, checked when the trick is built (``batch_size`` is ``${data.batch_size}``
in ``conf/trick/packing.yaml``) and again by D on every batch. Composition:

* losses: one logit per pack, and the losses build their targets with ``*_like(logits)``; label
  smoothing sets the target of every real pack;
* feature matching: G matches the mean of D's features over packs;
* minibatch discrimination: its head acts on the pack features, so o(x) compares each pack with the
  other B/m - 1 packs of its batch (the order of the two transforms does not matter: packing changes
  D's input layer and wraps D, the head stays the wrapped D's);
* historical averaging: D's parameters, the wider input layer included;
* WGAN-GP: the penalty is per pack (one interpolation coefficient and one gradient norm over the
  whole pack, read from ``pack_size``), as a WGAN-GP critic on the packed space;
* ``task=semi_supervised`` / ``supervised``: refused, since D must give K class logits per example
  (``SemiSupervised.check_tricks`` reads ``packs_examples``).
"""
from __future__ import annotations

from torch import nn

from gan_lab.errors import ConfigError, is_whole_number
from gan_lab.nets.layers.packing import PackedDiscriminator, batch_size_hint
from gan_lab.tricks.base import Trick


class Packing(Trick):
    name = "packing"

    def __init__(self, m: int = 2, batch_size: int | None = None) -> None:
        if not is_whole_number(m):
            raise ConfigError(f"tricks.packing.m={m}: the pack size must be a positive integer (PacGAN uses 2, 3 or 4)")
        if batch_size is not None and batch_size % m:
            raise ConfigError(
                f"trick=packing with tricks.packing.m={m} needs a batch size that is a multiple of {m} (a pack never mixes "
                f"real and fake examples), and data.batch_size={batch_size}: set {batch_size_hint(batch_size, m)}"
            )
        self.m = m
        #: D decides once per pack of m examples (a task that needs a decision per example refuses it)
        self.packs_examples = m > 1

    def transform_discriminator(self, discriminator: nn.Module) -> nn.Module:
        if self.m == 1:
            return discriminator
        return PackedDiscriminator(discriminator, self.m)

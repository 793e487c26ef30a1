"""The speed options of ``model=`` (``model.channels_last``, ``model.compile``), applied to the nets once,
after they are built and before the Trainer moves them, wraps them in DDP and builds the optimizers.

Neither changes the state-dict keys, so checkpoints load into plain nets (``gan_lab.sample``):
channels_last re-strides the 4-D (convolution) weights in place, and the training step makes the image
batches NHWC as they enter; compile is ``nn.Module.compile()``, which compiles the module's call in place
(``torch.compile(net)`` would prefix ``_orig_mod.``). Inductor cannot back-propagate through the backward
of a compiled graph ("torch.compile with aot_autograd does not currently support double backward"), so
the gradient penalties (WGAN-GP, R1) run D eagerly (``gan_lab.iteration.Nets.eager``); every other call
of G and D is compiled.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("gan_lab")


def apply_speed_options(nets: list[nn.Module | None], compile_nets: bool, channels_last: bool) -> bool:
    """Apply the options to ``nets`` = [G, D, averaged G or None] (only G and D are compiled); return
    whether channels_last is on (off when the nets have no convolutions)."""
    present = [net for net in nets if net is not None]
    if channels_last:
        if any(p.dim() == 4 for net in present for p in net.parameters()):
            for net in present:
                net.to(memory_format=torch.channels_last)  # 4-D weights re-strided in place (same Parameters)
        else:
            log.info("model.channels_last=true: G and D have no convolutions (no 4-D weights), so there is nothing "
                     "to convert; it is off for this run (channels_last helps model=dcgan / dcgan_upsample)")
            channels_last = False
    if compile_nets:
        for net in nets[:2]:
            net.compile()  # in place: the net's own call compiled, its state-dict keys unchanged
        log.info("model.compile=true: G and D compiled (the first iterations compile them); the gradient "
                 "penalty's D forward, if any, runs eagerly (no double backward through compiled graphs)")
    return channels_last

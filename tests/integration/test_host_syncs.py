"""No host synchronisation in a training iteration that does not log or check (issue 24: "no per-step host
syncs"). On a GPU every ``Tensor.item()``, ``bool(tensor)``, ``float(tensor)``, ``int(tensor)``,
``tolist()`` or ``numpy()`` waits for the device's queue to drain; the same calls are counted here on the
CPU, over the whole iteration (``on_train_batch_start`` to the last callback's ``on_train_batch_end``: the
module's step, every callback, Lightning's loop). Logging iterations read values on purpose (the logged
scalars, the progress bar's line, the finite-loss flag at its checks): they are allowed their syncs.

Not counted: ``torch.optim``'s reads of its step counters (``_get_value(step)`` in Adam's single-tensor
path). Those counters are CPU tensors even when the parameters are on a GPU (unless ``capturable`` or
``fused``), so reading them waits for nothing; the plain PyTorch loop does the same.
"""
from __future__ import annotations

import sys

import lightning as L
import pytest
import torch

from gan_lab.runner import build_run
from tests.conftest import SMALL_DCGAN, SMALL_MLP

SYNCS = ("item", "__bool__", "__float__", "__int__", "tolist", "numpy")
ALL_FIVE = "trick=[feature_matching,minibatch_discrimination,historical_averaging,label_smoothing,virtual_bn]"


def _in_torch_optim() -> bool:
    """Whether the caller is torch.optim's own bookkeeping (its CPU step counters)."""
    frame = sys._getframe(2)
    while frame is not None:
        if "/torch/optim/" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class CountSyncs(L.Callback):
    """Counts the sync calls of each iteration (first in the callback list: it opens the window first; the
    window closes at the next iteration's start, or at the end of the loop, so every callback's end hook
    of an iteration is inside it)."""

    def __init__(self) -> None:
        self.per_step: dict[int, list[str]] = {}
        self._step = None
        self._originals = {name: getattr(torch.Tensor, name) for name in SYNCS}

    def _count(self, name):
        original = self._originals[name]

        def counted(tensor, *args, **kwargs):
            if self._step is not None and not _in_torch_optim():
                self.per_step.setdefault(self._step, []).append(name)
            return original(tensor, *args, **kwargs)

        return counted

    def on_train_start(self, trainer, module) -> None:
        for name in SYNCS:
            setattr(torch.Tensor, name, self._count(name))

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._step = trainer.global_step + 1  # the iteration about to run (1-based)

    def on_train_end(self, trainer, module) -> None:
        self._step = None
        for name, original in self._originals.items():
            setattr(torch.Tensor, name, original)


@pytest.mark.parametrize("overrides", [
    [*SMALL_DCGAN],  # DCGAN (BatchNorm)
    ["model=dcgan_sn", *SMALL_DCGAN, "ema=default"],  # the default run's nets: spectral norm, the EMA of G
    [ALL_FIVE, *SMALL_DCGAN, "tricks.minibatch_discrimination.num_kernels=8"],  # the five Improved-GAN tricks
    ["model=gan_mlp", "data=ring8", *SMALL_MLP, "optim.d_steps_per_g_step=2"],  # MLPs, k = 2
    ["loss=wgan_gp", *SMALL_DCGAN, "model.discriminator.norm=layer"],  # a gradient penalty
], ids=["dcgan", "dcgan_sn_ema", "all_five_tricks", "gan_mlp_k2", "wgan_gp"])
def test_iterations_that_neither_log_nor_check_do_not_sync(cfg_factory, overrides):
    log_every = 5
    built = build_run(cfg_factory(*overrides, "trainer.max_steps=12", f"trainer.log_every_n_steps={log_every}",
                                  "checkpoint.every_n_steps=10", "samples.every_n_steps=0", "trainer.enable_progress_bar=false"))
    counter = CountSyncs()
    built.trainer.callbacks.insert(0, counter)
    try:
        built.trainer.fit(built.module, datamodule=built.datamodule)
    finally:
        counter.on_train_end(built.trainer, built.module)
    assert built.trainer.global_step == 12
    # logging steps (5, 10), the checkpoint step (10) and the finite check (gcd(10, 5) = 5; and the last, 12)
    allowed = {5, 10, 12}
    quiet = {step: calls for step, calls in counter.per_step.items() if step not in allowed}
    assert not quiet, f"host syncs in iterations that neither log nor check: {quiet}"
    assert counter.per_step.get(5), "the logging step reads its values (the counter would miss syncs if this failed)"

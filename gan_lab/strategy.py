"""DDP for GANs: G and D each wrapped in their own DistributedDataParallel.

Lightning's DDPStrategy wraps the whole LightningModule in one DDP, and with alternating D / G
steps every backward leaves the other player's parameters without gradients: DDP then fails
with "parameters that were not used" (pytorch-lightning #20328), and
``find_unused_parameters=True`` hides it at the cost of a graph walk per backward (#11003).
Here, as in StyleGAN2-ADA and StudioGAN, G and D get a DDP each: D's step back-propagates
through D's wrapper only and all-reduces D's gradients; G's step runs G's wrapper and calls D's
plain module with D's weights frozen, so no D gradient is computed or synchronised.

The wrappers are held outside the module's registered children (``GAN.set_ddp``), so state
dicts and checkpoints keep the keys of a single-process run. Buffers (BatchNorm running
statistics) are broadcast from rank 0 at each forward (DDP's default), which keeps them
identical on every rank; ``trainer.sync_batchnorm=true`` normalises over the global batch.
"""
from __future__ import annotations

from typing import Any

from lightning.pytorch.strategies import DDPStrategy
from torch.nn.parallel import DistributedDataParallel


class GANDDPStrategy(DDPStrategy):
    strategy_name = "gan_ddp"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("find_unused_parameters", False)
        super().__init__(**kwargs)

    def configure_ddp(self) -> None:
        module = self.model
        device_ids = self.determine_ddp_device_ids()
        wrap = lambda net: DistributedDataParallel(net, device_ids=device_ids, **self._ddp_kwargs)  # noqa: E731
        module.set_ddp(wrap(module.generator), wrap(module.discriminator))

    def teardown(self) -> None:
        if self.lightning_module is not None and hasattr(self.lightning_module, "set_ddp"):
            self.lightning_module.set_ddp(None, None)
        super().teardown()

"""The tensors of one training iteration, shared by the objective and the tricks."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Iteration:
    """What one training iteration has computed so far (filled in by the objective's D phase).

    ``real_logits`` / ``fake_logits`` are D's raw outputs (``[B]``, or ``[B, K]`` for a K-class D);
    ``real_features`` is f(x), D's last hidden layer on the real batch, detached (feature matching).
    In G's phase ``fake_logits`` / ``fake_features`` are D's outputs on G(z) with gradients to G; when
    a trick asks for it (``needs_real_in_g_phase``) they come from one forward of [real; fake] through
    the updated D, and ``real_features`` is replaced by that forward's real half.
    """

    number: int  # 1-based number of the training iteration
    real: torch.Tensor
    fake: torch.Tensor | None  # G(z); None where the objective does not train G
    real_logits: torch.Tensor | None = None
    real_features: torch.Tensor | None = None
    fake_logits: torch.Tensor | None = None
    fake_features: torch.Tensor | None = None

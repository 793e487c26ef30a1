"""One-sided label smoothing (Salimans et al. 2016, §3.4).

D's target for real examples becomes ``alpha`` (0.9) instead of 1; the fake target stays 0.
Why one-sided: with targets alpha for data and beta for samples, the optimal discriminator is
D*(x) = (alpha p_data(x) + beta p_model(x)) / (p_data(x) + p_model(x)). A non-zero beta keeps
D* large where p_model is large and p_data small, so G gets no push to move those samples
toward the data; smoothing only the real side (beta = 0) avoids that.
Applies to the BCE family (``loss=nonsaturating`` / ``minimax``).
"""
from __future__ import annotations

from gan_lab.errors import ConfigError
from gan_lab.tricks.base import Trick


class LabelSmoothing(Trick):
    name = "label_smoothing"
    requires_probabilistic_loss = True

    def __init__(self, real_target: float = 0.9) -> None:
        if not 0.0 < real_target <= 1.0:
            raise ConfigError(f"tricks.label_smoothing.real_target={real_target}: choose a value in (0, 1], e.g. 0.9")
        self.alpha = real_target

    def real_target(self, target: float) -> float:
        return self.alpha

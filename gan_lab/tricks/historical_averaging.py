"""Historical averaging (Salimans et al. 2016, §3.3).

Each player's loss gets lambda ||theta - (1/t) sum_{i<=t} theta[i]||^2, theta[i] the player's
parameters after its i-th update (theta[0] = the initial ones). The mean is kept online
(theta_bar += (theta - theta_bar) / t after every step of that player), saved in the
checkpoint, and identical on every DDP rank because the parameters are.

The paper gives no lambda; the default 1.0 is torchgan's (``HistoricalAverageGeneratorLoss``).
"""
from __future__ import annotations

from typing import Any

import torch

from gan_lab.iteration import Iteration, Nets
from gan_lab.tricks.base import Trick


class HistoricalAveraging(Trick):
    name = "historical_averaging"

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight
        self.averages: dict[str, list[torch.Tensor]] = {}
        self.counts: dict[str, int] = {}

    @staticmethod
    def _params(nets: Nets, player: str) -> list[torch.nn.Parameter]:
        net = nets.discriminator if player == "d" else nets.generator
        return list(net.parameters())

    def _ensure(self, nets: Nets, player: str) -> None:
        # first called by the player's first penalty, before its first update: theta[0] is the
        # initial parameters, taken after every trick has built its layers
        if player not in self.averages:
            self.averages[player] = [p.detach().clone() for p in self._params(nets, player)]
            self.counts[player] = 1
        elif self.averages[player][0].device != self._params(nets, player)[0].device:
            self.averages[player] = [a.to(p.device) for a, p in zip(self.averages[player], self._params(nets, player))]

    def penalty(self, nets: Nets, player: str) -> torch.Tensor:
        self._ensure(nets, player)
        params = self._params(nets, player)
        return self.weight * sum((p - a).square().sum() for p, a in zip(params, self.averages[player]))

    # an ensemble of seeds: the stacked parameters' sum covers every member; the objective wants the mean
    def d_penalty(self, it: Iteration, nets: Nets) -> torch.Tensor:
        penalty = self.penalty(nets, "d")
        return penalty / it.members if it.members > 1 else penalty

    def g_penalty(self, it: Iteration, nets: Nets) -> torch.Tensor:
        penalty = self.penalty(nets, "g")
        return penalty / it.members if it.members > 1 else penalty

    @torch.no_grad()
    def after_step(self, player: str, nets: Nets) -> None:
        self._ensure(nets, player)
        self.counts[player] += 1
        torch._foreach_lerp_(self.averages[player], [p.detach() for p in self._params(nets, player)], 1.0 / self.counts[player])

    def state_dict(self) -> dict[str, Any]:
        return {"averages": {k: [a.cpu() for a in v] for k, v in self.averages.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averages = {k: [a.clone() for a in v] for k, v in state["averages"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}

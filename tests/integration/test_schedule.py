"""k D steps per G step (Goodfellow et al. 2014, Algorithm 1) and what max_steps counts."""
import pytest
import torch

from gan_lab.runner import build_run
from tests.conftest import SMALL_DCGAN


def _adam_steps(optimizer) -> int:
    states = [s for s in optimizer.state.values() if "step" in s]
    return int(states[0]["step"]) if states else 0


@pytest.mark.parametrize("k, steps, g_steps", [(1, 5, 5), (3, 7, 2), (5, 10, 2)])
def test_d_steps_per_g_step_and_max_steps_count_iterations(cfg_factory, k, steps, g_steps):
    cfg = cfg_factory(f"optim.d_steps_per_g_step={k}", f"trainer.max_steps={steps}", *SMALL_DCGAN)
    run = build_run(cfg)
    g_before = [p.detach().clone() for p in run.module.generator.parameters()]
    run.trainer.fit(run.module, datamodule=run.datamodule)
    d_opt, g_opt = run.trainer.optimizers
    assert run.trainer.global_step == steps  # iterations (batches), not optimizer steps
    assert _adam_steps(d_opt) == steps
    assert _adam_steps(g_opt) == g_steps
    assert any(not torch.equal(a, b) for a, b in zip(g_before, run.module.generator.parameters()))


def test_g_step_computes_no_gradients_for_d_weights(cfg_factory):
    """D's weights are frozen during G's step: each D parameter gets exactly one gradient per
    iteration (from D's own step), although G's loss backpropagates through D."""
    run = build_run(cfg_factory("trainer.max_steps=3", *SMALL_DCGAN))
    calls = {"d": 0, "g": 0}
    for name, net in (("d", run.module.discriminator), ("g", run.module.generator)):
        for p in net.parameters():
            p.register_hook(lambda grad, name=name: calls.__setitem__(name, calls[name] + 1))
    run.trainer.fit(run.module, datamodule=run.datamodule)
    n_d = sum(1 for _ in run.module.discriminator.parameters())
    n_g = sum(1 for _ in run.module.generator.parameters())
    assert calls == {"d": 3 * n_d, "g": 3 * n_g}
    assert all(p.requires_grad for p in run.module.discriminator.parameters())

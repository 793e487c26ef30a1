"""Every loss against values computed by hand from D(x) = sigmoid(logit)."""
import math

import pytest
import torch

from gan_lab.losses import Hinge, Minimax, NonSaturating, Wasserstein, WassersteinGP

LN3 = math.log(3.0)
# D(x) = [0.5, 0.75] on the real batch, D(G(z)) = [0.5, 0.25] on the fake batch
REAL = torch.tensor([0.0, LN3])
FAKE = torch.tensor([0.0, -LN3])


def test_minimax_d_and_g_match_goodfellow_eq1():
    d_expected = -(math.log(0.5) + math.log(0.75)) / 2 - (math.log(0.5) + math.log(0.75)) / 2
    g_expected = (math.log(1 - 0.5) + math.log(1 - 0.25)) / 2  # E log(1 - D(G(z)))
    assert Minimax().d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert Minimax().g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_nonsaturating_g_is_minus_log_d_of_fake():
    assert NonSaturating().g_loss(FAKE).item() == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2, rel=1e-6)
    assert NonSaturating().d_loss(REAL, FAKE).item() == pytest.approx(Minimax().d_loss(REAL, FAKE).item())


def test_smoothed_real_target_is_bce_against_0_9():
    expected = -sum(0.9 * math.log(p) + 0.1 * math.log(1 - p) for p in (0.5, 0.75)) / 2 - (math.log(0.5) + math.log(0.75)) / 2
    assert NonSaturating().d_loss(REAL, FAKE, real_target=0.9).item() == pytest.approx(expected, rel=1e-6)


def test_bce_losses_stay_finite_for_confident_logits():
    big = torch.tensor([100.0, -100.0])
    for loss in (Minimax(), NonSaturating()):
        assert torch.isfinite(loss.d_loss(big, -big)) and torch.isfinite(loss.g_loss(big)) and torch.isfinite(loss.g_loss(-big))
    assert NonSaturating().g_loss(torch.tensor([-100.0])).item() == pytest.approx(100.0)


def test_wasserstein_values_and_weight_clipping():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    loss = Wasserstein(clip=0.01)
    assert loss.d_loss(real, fake).item() == pytest.approx(0.0 - 3.0)
    assert loss.g_loss(fake).item() == pytest.approx(0.0)
    critic = torch.nn.Linear(3, 1)
    torch.nn.init.constant_(critic.weight, 0.5)
    loss.after_d_step(critic)
    assert critic.weight.abs().max().item() == pytest.approx(0.01)


class LinearCritic(torch.nn.Module):
    """f(x) = w . x, whose input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return x @ self.w, x


def test_gradient_penalty_is_lambda_times_norm_minus_one_squared():
    critic = LinearCritic([1.2, 1.6])  # ||w|| = 2 -> 10 * (2 - 1)^2 = 10
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    gp = WassersteinGP(gp_weight=10.0).d_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(10.0, rel=1e-6)
    gp.backward()  # the penalty is differentiable w.r.t. the critic (create_graph)
    assert critic.w.grad is not None and torch.isfinite(critic.w.grad).all()


def test_hinge_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert Hinge().d_loss(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1.5) / 2)
    assert Hinge().g_loss(fake).item() == pytest.approx(0.75)

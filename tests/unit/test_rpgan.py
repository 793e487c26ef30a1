"""loss=rpgan (Huang et al. 2024 §2; brownvc/R3GAN R3GAN/Trainer.py) against values computed by hand: the
relativistic pairing losses, R1 and R2 on a linear D whose input gradient is w, and G's loss in a training
iteration reading D's logits on the real batch."""
import math

import pytest
import torch
import torch.nn.functional as F

from gan_lab.build import build_players
from gan_lab.errors import ConfigError
from gan_lab.iteration import Nets
from gan_lab.losses import RpGAN
from gan_lab.nets.base import frozen
from tests.conftest import compose_cfg
from tests.unit.test_losses import LinearCritic  # D(x) = w . x: its input gradient is w, so R1 = R2 = ||w||^2

LN3 = math.log(3.0)
REAL = torch.tensor([0.0, LN3])
FAKE = torch.tensor([0.0, -LN3])  # pairs (0, 0) and (ln 3, -ln 3): real - fake = [0, 2 ln 3]


def test_d_loss_is_softplus_of_minus_real_minus_fake_paired_by_index():
    # softplus(-0) = ln 2; softplus(-2 ln 3) = ln(1 + 1/9)
    expected = (math.log(2.0) + math.log(1 + 1 / 9)) / 2
    assert RpGAN().d_loss(REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)
    # pairs by index: with the fakes swapped the pairs are (0, -ln 3) and (ln 3, 0), both softplus(-ln 3) = ln(4/3)
    assert RpGAN().d_loss(REAL, FAKE.flip(0)).item() == pytest.approx(math.log(4 / 3), rel=1e-6)


def test_g_loss_is_softplus_of_minus_fake_minus_real():
    # softplus(-(0 - 0)) = ln 2; softplus(-(-ln 3 - ln 3)) = ln(1 + 9)
    expected = (math.log(2.0) + math.log(10.0)) / 2
    assert RpGAN().g_loss(FAKE, real_logits=REAL).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="real_logits"):
        RpGAN().g_loss(FAKE)


def test_losses_stay_finite_for_confident_logits():
    big = torch.tensor([100.0, -100.0])
    loss = RpGAN()
    assert torch.isfinite(loss.d_loss(big, -big)) and torch.isfinite(loss.d_loss(-big, big))
    assert loss.g_loss(-big, real_logits=big).tolist() == pytest.approx(100.0)  # softplus(200)/2 + softplus(-200)/2


def test_g_loss_gives_no_gradient_to_the_real_logits():
    real = REAL.clone().requires_grad_(True)
    fake = FAKE.clone().requires_grad_(True)
    RpGAN().g_loss(fake, real_logits=real).backward()
    assert real.grad is None and fake.grad is not None




class QuadraticCritic(LinearCritic):
    """D(x) = (w . x)^2 / 2: grad_x D = (w . x) w, ||grad||^2 = (w . x)^2 ||w||^2, different on real and fake."""

    def forward(self, x):
        return (x @ self.w).square() / 2, x


def test_r1_plus_r2_on_a_linear_critic_is_gamma_times_norm_w_squared_and_its_gradient_is_2_gamma_w():
    critic = LinearCritic([3.0, -4.0])  # ||w||^2 = 25
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    loss = RpGAN(gamma=0.1)
    penalty = loss.d_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx(0.1 / 2 * (25 + 25), rel=1e-6)
    (grad,) = torch.autograd.grad(penalty, critic.w)  # d/dw gamma ||w||^2 = 2 gamma w
    assert grad.tolist() == pytest.approx([2 * 0.1 * 3.0, 2 * 0.1 * -4.0], rel=1e-6)


def test_r1_is_on_the_real_batch_and_r2_on_the_fake_batch_summed_per_example_averaged_over_the_batch():
    critic = QuadraticCritic([1.0, 2.0])  # ||w||^2 = 5
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # w.x = 1, 2
    fake = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # w.x = 3, 0
    r1 = (1 * 5 + 4 * 5) / 2
    r2 = (9 * 5 + 0 * 5) / 2
    penalty = RpGAN(gamma=2.0).d_penalty(critic, real, fake.requires_grad_(True))
    assert penalty.item() == pytest.approx(2.0 / 2 * (r1 + r2), rel=1e-6)
    # its gradient w.r.t. w, by hand: d/dw (w.x)^2 ||w||^2 = 2 (w.x) x ||w||^2 + 2 (w.x)^2 w, averaged per batch
    w = critic.w.detach()
    def grad_of_norm(x):
        return 2 * (w @ x) * x * 5 + 2 * (w @ x) ** 2 * w

    by_hand = sum(grad_of_norm(x) for x in real) / 2 + sum(grad_of_norm(x) for x in fake.detach()) / 2
    (grad,) = torch.autograd.grad(penalty, critic.w)
    assert grad.tolist() == pytest.approx(by_hand.tolist(), rel=1e-5)
    assert fake.grad is None  # R2 is on G(z) detached: no gradient reaches G


def test_gamma_zero_is_plain_rpgan_and_a_negative_gamma_is_refused():
    loss = RpGAN(gamma=0)
    assert loss.d_penalty(LinearCritic([1.0]), torch.ones(2, 1), torch.ones(2, 1)) is None
    assert not loss.per_example_penalty and RpGAN().per_example_penalty
    with pytest.raises(ConfigError, match="loss.gamma=-1"):
        RpGAN(gamma=-1)


MLP = ["model=gan_mlp", "loss=rpgan", "model.generator.hidden=[16]", "model.discriminator.hidden=[8]",
       "model.discriminator.input_dropout=0", "model.discriminator.dropout=0"]


def test_g_loss_in_a_training_iteration_reads_the_current_d_on_the_real_batch():
    torch.manual_seed(0)
    players = build_players(compose_cfg(MLP))
    objective, G, D = players.objective, players.generator, players.discriminator
    assert objective.joint_g_phase and objective.loss.name == "rpgan"
    nets = Nets(G, D, G, D)
    real = torch.rand(6, 1, 28, 28) * 2 - 1
    it = objective.start(1, real, nets, train_generator=True)
    d = objective.phase_loss("d", it, nets)
    with torch.no_grad():
        real_logits, fake_logits = D(real)[0], D(it.fake)[0]
    assert d.loss.item() == pytest.approx(F.softplus(-(real_logits - fake_logits)).mean().item(), rel=1e-5)
    with torch.no_grad():  # D changes between the phases: G's loss must read the current D, not the D phase's logits
        for p in D.parameters():
            p.add_(0.1)
        real_logits, fake_logits = D(real)[0], D(it.fake)[0]
    with frozen(D):
        g = objective.phase_loss("g", it, nets)
    assert torch.allclose(it.g_real_logits, real_logits, atol=1e-6) and not it.g_real_logits.requires_grad
    assert g.loss.item() == pytest.approx(F.softplus(-(fake_logits - real_logits)).mean().item(), rel=1e-5)
    g.total.backward()
    assert all(p.grad is None for p in D.parameters()) and any(p.grad is not None for p in G.parameters())


def test_rpgan_with_acgan_conditioning_reads_the_realness_logit_of_the_real_batch():
    players = build_players(compose_cfg(["task=conditional", "task.head=acgan", "loss=rpgan", "model.generator.width=8",
                                         "model.discriminator.width=8"]))
    objective, G, D = players.objective, players.generator, players.discriminator
    nets = Nets(G, D, G, D)
    real, labels = torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 3])
    it = objective.start(1, real, nets, train_generator=True, labels=labels)
    with frozen(D):
        g = objective.phase_loss("g", it, nets)
    assert it.g_real_logits.shape == (4, 11) and torch.isfinite(g.loss)


@pytest.mark.parametrize("overrides, fix", [
    (["task=semi_supervised"], "use loss=nonsaturating"),
    (["trick=label_smoothing"], "use loss=nonsaturating or loss=minimax"),
    (["trick=minibatch_discrimination"], "set loss.gamma=0"),
    (["task=conditional"], "use task.head=acgan, or set loss.gamma=0"),
    (["model=dcgan", "model.discriminator.norm=batch"], "set model.discriminator.norm=layer"),
])
def test_combinations_that_do_not_fit_are_refused_in_one_line_before_training(overrides, fix):
    with pytest.raises(ConfigError, match=fix) as error:
        build_players(compose_cfg(["loss=rpgan", "model.generator.width=8", "model.discriminator.width=8", *overrides]))
    assert "\n" not in str(error.value)

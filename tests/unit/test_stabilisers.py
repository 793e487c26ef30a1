"""D stabilisers: DiffAugment, spectral normalisation, R1 with lazy regularisation, TTUR (issue 12 item 1)."""
import pytest
import torch
from torch import nn

from gan_lab.build import build_players
from gan_lab.errors import ConfigError
from gan_lab.losses import Hinge, NonSaturating, r1_penalty
from gan_lab.nets.base import Discriminator
from gan_lab.nets.layers.diffaugment import DiffAugment, brightness, contrast, cut_out, saturation, translate
from gan_lab.nets.layers.spectral_norm import spectral_normalise
from tests.conftest import SMALL_DCGAN, compose_cfg


# ---- DiffAugment -----------------------------------------------------------------------------------
def test_translation_by_a_known_shift_gives_the_hand_computed_image():
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4)  # rows 1-4, 5-8, 9-12, 13-16
    # out[i, j] = x[i + 1, j - 1]: up one row, right one column, zeros where it falls outside
    expected = torch.tensor([[0.0, 5, 6, 7], [0, 9, 10, 11], [0, 13, 14, 15], [0, 0, 0, 0]]).view(1, 1, 4, 4)
    assert torch.equal(translate(x, torch.tensor([1]), torch.tensor([-1])), expected)
    assert torch.equal(translate(x, torch.tensor([0]), torch.tensor([0])), x)


def test_cutout_zeroes_the_half_size_box_centred_at_the_offset():
    x = torch.ones(2, 3, 8, 8)
    out = cut_out(x, torch.tensor([4, 0]), torch.tensor([2, 7]))
    expected = torch.ones(2, 8, 8)
    expected[0, 2:6, 0:4] = 0  # rows 4 - 2 .. 4 + 1, columns 2 - 2 .. 2 + 1
    expected[1, 0:2, 5:8] = 0  # clipped at the border: rows -2 .. 1 -> 0 .. 1, columns 5 .. 8 -> 5 .. 7
    assert torch.equal(out, expected.unsqueeze(1).expand(2, 3, 8, 8))


def test_colour_ops_match_hand_computed_values_for_a_given_draw():
    x = torch.tensor([0.2, -0.4, 0.6, 0.0]).view(1, 4, 1, 1).repeat(1, 1, 1, 2)  # 4 channels, 1 x 2 pixels
    assert torch.allclose(brightness(x, torch.tensor([0.8])), x + 0.3)
    # mean over channels 0.1: (x - 0.1) * 2 * 0.25 + 0.1
    assert torch.allclose(saturation(x, torch.tensor([0.25])), (x - 0.1) * 0.5 + 0.1)
    # mean over C, H, W 0.1: (x - 0.1) * (0.3 + 0.5) + 0.1
    assert torch.allclose(contrast(x, torch.tensor([0.3])), (x - 0.1) * 0.8 + 0.1)
    # the random op draws r1, r2, r3 in the reference's order (brightness, saturation, contrast)
    torch.manual_seed(5)
    out = DiffAugment(["color"])(x)
    torch.manual_seed(5)
    r1, r2, r3 = (torch.rand(1, 1, 1, 1) for _ in range(3))
    y = x + (r1 - 0.5)
    m = y.mean(dim=1, keepdim=True)
    y = (y - m) * 2 * r2 + m
    m = y.mean()
    assert torch.allclose(out, (y - m) * (r3 + 0.5) + m)


def test_a_seed_gives_real_and_fake_the_same_transform_family_and_each_image_its_own_draw():
    real, fake = torch.randn(6, 3, 16, 16), torch.randn(6, 3, 16, 16)
    augment = DiffAugment(["translation", "cutout"])
    torch.manual_seed(0)
    out_real = augment(real)
    torch.manual_seed(0)
    out_fake = augment(fake)
    torch.manual_seed(0)
    shift_x, shift_y = torch.randint(-2, 3, (6, 1, 1)), torch.randint(-2, 3, (6, 1, 1))  # 16 // 8 = 2
    off_x, off_y = torch.randint(0, 17, (6, 1, 1)), torch.randint(0, 17, (6, 1, 1))
    for x, out in ((real, out_real), (fake, out_fake)):
        assert torch.equal(out, cut_out(translate(x, shift_x, shift_y), off_x, off_y))
    assert len({(int(a), int(b)) for a, b in zip(shift_x.flatten(), shift_y.flatten())}) > 1


def test_diffaugment_is_differentiable_gradients_reach_the_input():
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    out = DiffAugment()(x)
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    def seeded(t):  # the same draw at every call, so finite differences see one function
        torch.manual_seed(1)
        return DiffAugment()(t)

    assert torch.autograd.gradcheck(seeded, (torch.randn(1, 3, 8, 8, dtype=torch.float64, requires_grad=True),))


def test_unknown_policy_op_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"augment.policy: unknown op 'colour': use any of color, translation, cutout"):
        DiffAugment(["colour"])


def test_augment_group_puts_diffaugment_on_d_for_every_call_in_training_mode_only():
    cfg = compose_cfg(["augment=diffaugment", *SMALL_DCGAN])
    d = build_players(cfg).discriminator
    plain = build_players(compose_cfg(SMALL_DCGAN)).discriminator
    assert list(d.state_dict()) == list(plain.state_dict())  # no new keys: old checkpoints load
    calls = []
    d.augment.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    x = torch.randn(3, 1, 28, 28)
    d(x)
    d.eval()
    d(x)
    d.init_from_data(x)  # the data-dependent init sees the data un-augmented
    assert calls == [3]


def test_diffaugment_on_2d_points_is_refused():
    with pytest.raises(ConfigError, match=r"augment=diffaugment transforms images and data=ring8 is 2-D points: use augment=none"):
        build_players(compose_cfg(["augment=diffaugment", "model=gan_mlp", "data=ring8"]))


# ---- spectral normalisation ------------------------------------------------------------------------
def test_spectral_norm_makes_every_d_weight_have_largest_singular_value_one():
    cfg = compose_cfg(["model.discriminator.spectral_norm=true", *SMALL_DCGAN])
    d = build_players(cfg).discriminator
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())  # norm: auto -> none under SN
    for _ in range(30):  # power iterations (one per training forward)
        d(torch.randn(4, 1, 28, 28))
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3  # the two strided convolutions of a 28-pixel D and the head
    d.eval()
    for layer in layers:
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_on_a_weight_normalised_d_is_refused():
    class WN(Discriminator):
        def __init__(self):
            super().__init__()
            self.head = nn.utils.parametrizations.weight_norm(nn.Linear(2, 1))

    with pytest.raises(ConfigError, match=r"model.discriminator.spectral_norm=true: WN has no plain conv or linear layer"):
        spectral_normalise(WN())


# ---- R1 ---------------------------------------------------------------------------------------------
class LinearD(nn.Module):
    """D(x) = w . x + b, whose input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return x @ self.w + self.b, x


def test_r1_is_gamma_over_two_times_the_squared_weight_norm_for_a_linear_d():
    d = LinearD([1.2, 1.6])  # ||w||^2 = 4 -> 10 / 2 * 4 = 20
    real = torch.randn(5, 2)
    r1 = r1_penalty(d, real, gamma=10.0)
    assert r1.item() == pytest.approx(20.0, rel=1e-6)
    r1.backward()  # double backward: d r1 / d w = gamma * w
    assert torch.allclose(d.w.grad, 10.0 * d.w.detach())


def test_lazy_r1_is_absent_between_multiples_and_scaled_by_the_interval_on_them():
    d, real, fake = LinearD([1.2, 1.6]), torch.randn(5, 2), torch.randn(5, 2)
    loss = NonSaturating(r1_gamma=10.0, r1_interval=4)
    values = {i: loss.d_penalty(d, real, fake, iteration=i) for i in range(1, 10)}
    assert [i for i, v in values.items() if v is not None] == [1, 5, 9]  # batch_idx 0, 4, 8 (stylegan2-ada)
    assert all(values[i].item() == pytest.approx(4 * 20.0) for i in (1, 5, 9))
    assert Hinge().d_penalty(d, real, fake, iteration=1) is None and not Hinge().per_example_penalty
    assert Hinge(r1_gamma=1.0, r1_interval=1).d_penalty(d, real, fake, iteration=2).item() == pytest.approx(2.0)


def test_r1_uses_the_objective_realness_of_a_k_class_d():
    d = LinearD([1.2, 1.6])
    two_logits = lambda x: (torch.stack([x @ d.w, x @ d.w], dim=1), x)  # noqa: E731 - realness logsumexp = w.x + log 2
    r1 = r1_penalty(two_logits, torch.randn(3, 2), gamma=2.0, realness=lambda l: torch.logsumexp(l, dim=1))
    assert r1.item() == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("overrides, message", [
    (["loss.r1_gamma=10", "model.discriminator.norm=batch"],
     r"loss.r1_gamma=10's R1 penalty \(Mescheder et al. 2018 Eq. 9\) with BatchNorm in D: the penalty is per example"),
    (["loss.r1_gamma=10", "trick=[minibatch_discrimination]"],
     r"trick=minibatch_discrimination makes D's output for one example depend on the rest of its batch, and loss.r1_gamma=10's R1"),
    (["loss.r1_gamma=-1"], r"loss.r1_gamma=-1: must be a number >= 0"),
    (["loss.r1_interval=0"], r"loss.r1_interval=0: must be an integer >= 1"),
])
def test_r1_refuses_what_mixes_examples_and_bad_values(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_players(compose_cfg([*overrides, *SMALL_DCGAN]))


def test_r1_with_norm_auto_builds_d_with_layer_norm():
    d = build_players(compose_cfg(["loss.r1_gamma=10", *SMALL_DCGAN])).discriminator
    assert any(isinstance(m, nn.GroupNorm) for m in d.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())


# ---- TTUR ------------------------------------------------------------------------------------------
def test_ttur_gives_d_three_times_g_learning_rate_with_one_d_step_per_g_step():
    optim = compose_cfg(["optim=ttur"]).optim
    assert (optim.d.lr, optim.g.lr, optim.d_steps_per_g_step) == (3e-4, 1e-4, 1)
    assert list(optim.d.betas) == list(optim.g.betas) == [0.0, 0.9]

"""The K+1-class losses of Improved-GAN §5 against hand-computed values; the MNIST nets; the labelled subset."""
import math

import pytest
import torch

from gan_lab.errors import ConfigError, DataError
from gan_lab.nets.ssgan_mnist import SSGANMnistDiscriminator, SSGANMnistGenerator
from gan_lab.iteration import Iteration
from gan_lab.losses import Hinge, NonSaturating
from gan_lab.objectives import SemiSupervised, Supervised
from gan_lab.objectives.labelled import balanced_subset, labelled_batch_indices
from gan_lab.objectives.semi_supervised import count_errors

# two examples, K = 2 classes: l = [ln 1, ln 3] -> Z = 4;  l = [0, 0] -> Z = 2
LOGITS = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])


def identity_d(x):
    """A 'discriminator' whose logits are its input: the tests feed it the logits themselves."""
    return x, x


def objective_with_labelled(objective, logits, labels):
    objective.register_buffer("labelled_x", logits)
    objective.register_buffer("labelled_y", labels)
    return objective


def test_fixed_fake_logit_gives_d_of_x_z_over_z_plus_1():
    realness = SemiSupervised(NonSaturating()).realness
    assert torch.allclose(torch.sigmoid(realness(LOGITS)), torch.tensor([4 / 5, 2 / 3]))
    # the same as a K+1-way softmax with l_{K+1} = 0 (§5), summed over the K real classes
    logits = torch.randn(6, 10)
    with_fake = torch.cat([logits, torch.zeros(6, 1)], dim=1).softmax(dim=1)
    assert torch.allclose(torch.sigmoid(realness(logits)), 1 - with_fake[:, -1], atol=1e-6)


def test_supervised_loss_is_minus_l_y_plus_logsumexp():
    labels = torch.tensor([1, 0])
    objective = objective_with_labelled(Supervised(NonSaturating()), LOGITS, labels)
    # the labelled batch holds both examples (batch size = labelled set size): mean of
    # example 1: -ln 3 + ln 4 = ln(4/3); example 2: -0 + ln 2
    expected = (math.log(4 / 3) + math.log(2)) / 2
    loss, values = objective.d_loss(identity_d, Iteration(1, real=torch.zeros(2, 2), fake=None), 1.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6) and values["train/train_error"].item() == 0.0


def test_unsupervised_loss_matches_hand_computed_value():
    objective = objective_with_labelled(SemiSupervised(NonSaturating(), unlabelled_weight=1.0), LOGITS, torch.tensor([1, 0]))
    real, fake = LOGITS, torch.tensor([[math.log(0.5), math.log(0.5)]] * 2)  # fake: Z = 1, lse = 0
    lse_real = [math.log(4), math.log(2)]
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    # the original's loss_unl: -1/2 E lse + 1/2 E softplus(lse) + 1/2 E_fake softplus(lse)
    expected = (-0.5 * sum(lse_real) / 2 + 0.5 * sum(softplus(v) for v in lse_real) / 2 + 0.5 * softplus(0.0))
    # = the GAN loss -1/2 E log D(x) - 1/2 E log(1 - D(G(z))) with D = Z/(Z+1)
    gan = -0.5 * (math.log(4 / 5) + math.log(2 / 3)) / 2 - 0.5 * math.log(1 - 1 / 2)
    assert expected == pytest.approx(gan, rel=1e-12)
    loss, values = objective.d_loss(identity_d, Iteration(1, real=real, fake=fake), 1.0)
    assert values["train/loss_unsup"].item() == pytest.approx(expected, rel=1e-6)
    sup = (math.log(4 / 3) + math.log(2)) / 2
    assert loss.item() == pytest.approx(sup + expected, rel=1e-6)  # L_sup + w L_unsup, w = 1


def test_semi_supervised_refuses_a_loss_that_is_not_a_probability():
    with pytest.raises(ConfigError, match="task=semi_supervised reads D\\(x\\) = sigmoid\\(logsumexp\\(l\\)\\) as a probability, and loss=hinge"):
        SemiSupervised(Hinge())


def test_labelled_subset_is_balanced_seeded_and_from_the_right_class():
    labels = torch.arange(10).repeat(40)[torch.randperm(400, generator=torch.Generator().manual_seed(3))]
    a, b, c = balanced_subset(labels, 4, seed=1), balanced_subset(labels, 4, seed=1), balanced_subset(labels, 4, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c) and len(set(a.tolist())) == 40
    assert torch.equal(labels[a], torch.arange(10).repeat_interleave(4))
    with pytest.raises(DataError, match="labels_per_class=3: class 9 has only 2 .*labels_per_class=2 or smaller"):
        balanced_subset(labels[:50], 3, seed=0, num_classes=10)  # class 9: 2 examples
    with pytest.raises(ConfigError, match="positive integer"):
        balanced_subset(labels, 0, seed=0)


def test_labelled_batch_holds_every_labelled_example_when_the_sizes_match():
    index = labelled_batch_indices(100, 100, torch.device("cpu"))
    assert sorted(index.tolist()) == list(range(100))
    assert torch.bincount(labelled_batch_indices(20, 50, torch.device("cpu")), minlength=20).max() <= 3


def test_discriminator_is_the_papers_network_with_noise_only_in_training():
    d = SSGANMnistDiscriminator()
    widths = [m.out_features for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [1000, 500, 250, 250, 250, 10]
    sigmas = [m.sigma for m in d.modules() if type(m).__name__ == "GaussianNoise"]
    assert sigmas == [0.6, 0.5, 0.5, 0.5, 0.5, 0.5]  # 0.3 on [0, 1] pixels = 0.6 on [-1, 1]
    trained_scales = [m.parametrizations.weight.original0.requires_grad for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert trained_scales == [False] * 5 + [True]  # Lasagne train_scale only on the output layer
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    logits, features = d(x)
    assert logits.shape == (64, 10) and features.shape == (64, 250)
    d.eval()
    assert torch.equal(d(x)[0], d(x)[0])  # eval: deterministic
    d.train()
    assert not torch.equal(d(x)[0], d(x)[0])  # training: Gaussian noise


def test_data_dependent_init_gives_unit_variance_pre_activations():
    d = SSGANMnistDiscriminator().eval()
    x = torch.rand(500, 1, 28, 28) * 2 - 1
    d.init_from_data(x)
    first = [m for m in d.modules() if isinstance(m, torch.nn.Linear)][0]
    pre = first(x.flatten(1))
    assert torch.allclose(pre.mean(0), torch.zeros(1000), atol=1e-4)
    assert torch.allclose(pre.std(0), torch.ones(1000), atol=1e-3)
    logits, _ = d(x)  # the output layer too
    assert torch.allclose(logits.std(0), torch.ones(10), atol=1e-3)


def test_generator_makes_28px_images_in_minus_one_one_from_uniform_z():
    g = SSGANMnistGenerator()
    z = g.sample_z(8)
    assert z.min() >= 0 and z.max() <= 1 and z.shape == (8, 100)
    images = g(z)
    assert images.shape == (8, 1, 28, 28) and images.abs().max() <= 1


def test_count_errors_counts_wrong_argmax_in_eval_mode():
    d = SSGANMnistDiscriminator(hidden=(8,), out_dim=3)
    with torch.no_grad():
        d.head[-1].parametrizations.weight.original0.zero_()  # g = 0: weight 0
        d.head[-1].bias.copy_(torch.tensor([0.0, 1.0, 0.0]))  # always predicts class 1
    y = torch.tensor([1, 0, 1, 2, 1])
    assert count_errors(d, torch.zeros(5, 1, 28, 28), y, batch_size=2).item() == 2
    assert d.training  # mode restored


def test_linear_ramp_down_is_constant_then_linear_to_zero():
    from gan_lab.optim import linear_ramp_down

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.003)
    sched = linear_ramp_down(opt, total_steps=9, start_fraction=2 / 3)  # constant for 6 steps, then 3 to 0
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.003] * 7 + [0.002, 0.001])  # step 6: (9-6)/3 = 1; 7: 2/3; 8: 1/3
    assert opt.param_groups[0]["lr"] == 0.0
    with pytest.raises(ConfigError, match="start_fraction"):
        linear_ramp_down(opt, total_steps=10, start_fraction=1.0)


def test_weight_norm_directions_start_at_the_originals_scale():
    from gan_lab.nets.ssgan_mnist import wn_linear

    torch.manual_seed(0)
    layer = wn_linear(1000, 500)
    v = layer.parametrizations.weight.original1
    assert v.std().item() == pytest.approx(0.1, rel=0.02)  # the original's N(0, 0.1^2), not PyTorch's ~0.018
    assert torch.equal(layer.bias, torch.zeros(500))

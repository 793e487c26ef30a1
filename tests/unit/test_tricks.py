"""Each Improved-GAN trick on its own: the value it computes and the state it keeps."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_lab.errors import ConfigError
from gan_lab.runner import build_run
from gan_lab.tricks import HistoricalAveraging, LabelSmoothing
from gan_lab.tricks.feature_matching import feature_matching_loss
from tests.conftest import SMALL_DCGAN, SMALL_MLP


def test_feature_matching_is_squared_distance_of_feature_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean [2, 3]
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean [1, 1]
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx((2 - 1) ** 2 + (3 - 1) ** 2)
    loss.backward()
    assert fake.grad.tolist() == [[-1.0, -2.0], [-1.0, -2.0]]  # d/dfake of ||mu_r - mu_f||^2 = -2 (mu_r - mu_f) / B


def test_feature_matching_sees_a_contrast_difference_that_separate_batch_norm_hides(cfg_factory):
    """A half-contrast batch against a real one, through the BatchNorm DCGAN D: training's G phase
    (one forward of [real; fake]) scores it far above the real-vs-real sampling noise; separate
    forwards (each half its own BatchNorm statistics) would score it like real data."""
    from gan_lab.iteration import Iteration

    run = build_run(cfg_factory("trick=feature_matching", *SMALL_DCGAN))
    module, trick = run.module, run.module.tricks[0]
    x = run.datamodule.prepare().train_x
    a, b = x[:64], x[64:128]

    def training_loss(real, fake):  # what G's phase computes in training
        it = Iteration(1, real=real, fake=fake)
        with torch.no_grad():
            module.objective.discriminate_fake(module.discriminator, it)
            return trick.g_objective(it, module.nets, adversarial=None).item()

    def separate_loss(real, fake):
        with torch.no_grad():
            return feature_matching_loss(module.discriminator.features(real), module.discriminator.features(fake)).item()

    noise = training_loss(a, b)  # two real batches: the sampling noise of the loss
    half_contrast = training_loss(a, 0.5 * b)
    assert half_contrast > 10 * noise, (half_contrast, noise)
    assert separate_loss(a, 0.5 * b) < 2 * separate_loss(a, b)  # the blindness the joint forward removes


def test_label_smoothing_only_touches_the_real_target(cfg_factory):
    run = build_run(cfg_factory("trick=label_smoothing", *SMALL_DCGAN))
    assert run.module.objective.real_target == 0.9
    loss = run.module.objective.loss
    real_logits = torch.tensor([2.0, -1.0])
    fake_logits = torch.tensor([0.5, -3.0], requires_grad=True)
    smoothed = loss.d_loss(real_logits, fake_logits, run.module.objective.real_target)
    (grad_smoothed,) = torch.autograd.grad(smoothed, fake_logits)
    plain = loss.d_loss(real_logits, fake_logits, 1.0)
    (grad_plain,) = torch.autograd.grad(plain, fake_logits)
    assert torch.equal(grad_smoothed, grad_plain)  # the fake term (target 0) is untouched
    sig = torch.sigmoid(real_logits)
    real_term = -(0.9 * sig.log() + 0.1 * (1 - sig).log()).mean()  # BCE against 0.9, by hand
    fake_term = -(1 - torch.sigmoid(fake_logits.detach())).log().mean()
    assert smoothed.item() == pytest.approx((real_term + fake_term).item(), rel=1e-6)
    with pytest.raises(ConfigError, match="choose a value in"):
        LabelSmoothing(real_target=1.5)


def test_historical_average_is_the_mean_of_past_parameters_and_the_penalty_uses_it():
    d = nn.Linear(2, 1, bias=False)
    nets = SimpleNamespace(discriminator=d, generator=nn.Linear(1, 1))  # the two fields of gan_lab.iteration.Nets it reads
    ha = HistoricalAveraging(weight=0.5)
    assert ha.penalty(nets, "d").item() == 0.0  # as in training: the penalty comes before the first step
    history = [d.weight.detach().clone()]
    for value in (1.0, 3.0):
        with torch.no_grad():
            d.weight.fill_(value)
        ha.after_step("d", nets)
        history.append(d.weight.detach().clone())
    mean = torch.stack(history).mean(dim=0)
    assert torch.allclose(ha.averages["d"][0], mean, atol=1e-6) and ha.counts["d"] == 3
    expected = 0.5 * (d.weight - mean).square().sum()
    assert ha.penalty(nets, "d").item() == pytest.approx(expected.item(), rel=1e-6)
    restored = HistoricalAveraging()
    restored.load_state_dict(ha.state_dict())
    assert torch.equal(restored.averages["d"][0], ha.averages["d"][0]) and restored.counts == ha.counts


def test_minibatch_discrimination_extends_d_head_initialised_from_data_as_the_original(cfg_factory):
    from gan_lab.build import INIT_EXAMPLES
    from gan_lab.nets.layers.minibatch_discrimination import mean_nearest_neighbour_l1

    run = build_run(cfg_factory("trick=minibatch_discrimination", "tricks.minibatch_discrimination.num_kernels=7", *SMALL_DCGAN))
    D = run.module.discriminator
    logits, features = D(torch.randn(5, 1, 28, 28))
    assert logits.shape == (5,) and D.head.dense.in_features == D.feature_dim + 7
    # the data-dependent init ran on the first INIT_EXAMPLES training digits (the original's trainx[:500])
    real = run.datamodule.prepare().train_x[:INIT_EXAMPLES]
    with torch.no_grad():
        f = D.features(real)
        assert bool(D.head.initialized) and torch.allclose(mean_nearest_neighbour_l1(D.head.md.project(f)), torch.full((7,), 2.0), atol=1e-3)
        o = D.head.md(f)[:, D.feature_dim:]
        assert o.mean(0).abs().max() < 1e-4  # bias = -mean(o)
        assert D.head(f).abs().max() < 1.0  # D does not start saturated (it did with T ~ N(0, 0.05))


def test_minibatch_discrimination_is_refused_with_a_per_example_gradient_penalty(cfg_factory):
    with pytest.raises(ConfigError, match=r"trick=minibatch_discrimination makes D's output for one example depend on the rest of its batch, and loss=wgan_gp's gradient penalty is per example"):
        build_run(cfg_factory("trick=minibatch_discrimination", "loss=wgan_gp", *SMALL_DCGAN))


def test_virtual_bn_replaces_g_batchnorm_and_keeps_a_fixed_reference_batch(cfg_factory):
    run = build_run(cfg_factory("trick=virtual_bn", "data.batch_size=16", *SMALL_DCGAN))
    G = run.module.generator
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert G.vbn_reference_z.shape == (16, G.z_dim)
    z = G.sample_z(3)
    assert G(z).shape == (3, 1, 28, 28)
    assert torch.allclose(G(z[:1]), G(z)[:1], atol=1e-5)  # an example's output ignores the rest of its batch
    again = build_run(cfg_factory("trick=virtual_bn", "data.batch_size=16", *SMALL_DCGAN))
    assert torch.equal(again.module.generator.vbn_reference_z, G.vbn_reference_z)  # seeded: same on every rank


def test_virtual_bn_needs_batchnorm_in_g(cfg_factory):
    with pytest.raises(ConfigError, match="trick=virtual_bn replaces G's BatchNorm layers"):
        build_run(cfg_factory("model=gan_mlp", "trick=virtual_bn", *SMALL_MLP))
    build_run(cfg_factory("model=gan_mlp", "trick=virtual_bn", "model.generator.batch_norm=true", *SMALL_MLP))


@pytest.mark.parametrize("net", [
    ["model=gan_mlp", "data=ring8", *SMALL_MLP],  # one D
    ["model=gan_mlp", "data=ring8", *SMALL_MLP, "ensemble.seeds=2"],  # an ensemble of member layers
    [*SMALL_DCGAN, "ensemble.seeds=2"],  # an ensemble by vmap (conv layers)
], ids=["single", "member_layers", "vmap"])
def test_g_phase_of_feature_matching_runs_the_minibatch_discrimination_head_only_when_asked_and_on_fakes_alone(cfg_factory, net):
    """G's joint forward of [real; fake] stops at D's features: feature matching, which replaces G's adversarial
    loss, never runs the head (o(x) over 2B examples was most of an all-five iteration); added to it, the head runs
    once, on the fake half alone (the original calls D on G(z) alone), and gives D's logits of the fakes."""
    from gan_lab.iteration import Iteration
    from gan_lab.nets.layers.minibatch_discrimination import MinibatchDiscrimination

    for add, head_calls in ((False, 0), (True, 1)):
        module = build_run(cfg_factory("trick=[feature_matching,minibatch_discrimination]",
                                       f"tricks.feature_matching.add_to_adversarial={str(add).lower()}", *net)).module
        D, members = module.discriminator, getattr(module.discriminator, "members", 1)
        D.eval()  # no dropout, BatchNorm by its running statistics: the joint forward's rows equal separate forwards'
        seen = []
        assert any(isinstance(m, MinibatchDiscrimination) for m in D.head.modules())
        D.head.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
        shape = (2,) if "data=ring8" in net else (1, 28, 28)
        real, fake = torch.randn(members * 6, *shape), torch.randn(members * 6, *shape)
        it = Iteration(1, real=real, fake=fake, members=members)
        with torch.no_grad():
            module.objective.g_phase(it, module.nets)
            assert len(seen) == head_calls, (add, seen)
            if add:  # vmap folds the members: the head saw B = 6 rows per member, the fakes
                assert seen[0] in (6, members * 6)
                assert torch.allclose(it.fake_logits, D(fake)[0], atol=1e-6)
                assert torch.allclose(D.logits(D(real, head=False)), D(real)[0], atol=1e-6)
            else:
                assert it.fake_logits is None

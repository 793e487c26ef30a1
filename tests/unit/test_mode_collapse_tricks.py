"""The Improved-GAN rows of benchmarks/mode_collapse.py: each batched trick (K = 2 models trained as one)
computes, for model k, what gan-lab's own trick computes on model k's tensors alone (Salimans et al.
2016 §3.1-3.5), and no statistic mixes the models."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks import mode_collapse as mc
from benchmarks import mode_collapse_nets as nets
from gan_lab.nets.layers.minibatch_discrimination import MinibatchDiscriminationHead, mean_nearest_neighbour_l1
from gan_lab.nets.layers.virtual_batchnorm import VirtualBatchNorm
from gan_lab.tricks.feature_matching import feature_matching_loss

B = 100  # the benchmark's batch (virtual BN's reference batch is ${data.batch_size})


pytestmark = pytest.mark.usefixtures("one_thread")


def tricks_of(*names: str) -> nets.Tricks:
    return mc.apply_tricks(mc.Row(tricks=names), B)


def small_net(tricks: nets.Tricks) -> nets.Ensemble:
    """K = 2 models (init seeds 0 and 1), small nets of the benchmark's family."""
    return nets.Ensemble([0, 1], z_dim=2, g_hidden=16, g_depth=2, d_hidden=12, d_depth=2, pieces=2, tricks=tricks)


def batch(n: int = B) -> tuple[torch.Tensor, torch.Tensor]:
    """Real points of ring8 (model 0) and grid25 (model 1), [2, n, 2], and z [2, 1, B, 2]."""
    real = torch.stack([mc.make_dataset("ring8", 0, 1000, 1)[:n], mc.make_dataset("grid25", 1, 1000, 1)[:n]])
    return real, torch.randn(2, 1, B, 2, generator=torch.Generator().manual_seed(5))


def logits_and_features(net: nets.Ensemble, real: torch.Tensor, z: torch.Tensor):
    """The D call of ``model_losses``, by hand: features of [real; fake], then the head."""
    fake = nets.pack_fake(net.generate(z, train=True))
    features = net.features(torch.cat([real, fake], dim=1))
    return torch.cat(net.head_sets(features, 2), dim=1), features


def test_apply_tricks_reads_gan_labs_defaults_from_conf_trick():
    assert tricks_of() == nets.Tricks()  # the plain GAN / PacGAN rows: every trick off
    assert tricks_of(*mc.IMPROVED_GAN) == nets.Tricks(
        real_target=0.9, feature_matching=True, fm_weight=1.0, fm_reduction="sum", fm_add_to_adversarial=False,
        historical_weight=1.0, md_kernels=100, md_kernel_dim=5, vbn_reference_size=B)
    assert nets.INIT_EXAMPLES == 500  # gan_lab.build.INIT_EXAMPLES (not imported there: it pulls in Lightning)


def test_label_smoothing_d_loss_is_the_bce_against_0_9_per_model():
    net = small_net(tricks_of("label_smoothing"))
    with torch.no_grad():
        net.d_out_b.copy_(torch.tensor([1.5, -2.0]).view(2, 1, 1))  # logits far from 0: 0.9 vs 1 shows
    real, z = batch()
    d_loss, g_loss = nets.model_losses(net, real, z)
    logits, _ = logits_and_features(net, real, z)
    plain_real = F.softplus(-logits[:, :B]).mean(1)
    for k in range(2):
        # BCE(l, 0.9) = softplus(-l) + 0.1 l: the smoothed loss exceeds the plain one by 0.1 mean(real logits)
        assert (d_loss[k] - plain_real[k] - F.softplus(logits[k, B:]).mean()).item() == pytest.approx(
            0.1 * logits[k, :B].mean().item(), rel=1e-4)
        real_logits, fake_logits = logits[k, :B].double(), logits[k, B:].double()
        sig = torch.sigmoid(real_logits)
        real_term = -(0.9 * sig.log() + 0.1 * (1 - sig).log()).mean()  # BCE against 0.9, by hand
        fake_term = -(1 - torch.sigmoid(fake_logits)).log().mean()  # target 0: unchanged
        assert d_loss[k].item() == pytest.approx((real_term + fake_term).item(), rel=1e-5)
        assert g_loss[k].item() == pytest.approx(F.softplus(-fake_logits).mean().item(), rel=1e-5)  # G untouched


def test_feature_matching_g_loss_is_gan_labs_on_model_k_alone():
    net = small_net(tricks_of("feature_matching"))
    real, z = batch()
    d_loss, g_loss = nets.model_losses(net, real, z)
    logits, features = logits_and_features(net, real, z)  # features: D's last hidden layer (the maxout output)
    assert features.shape == (2, 2 * B, 12)
    for k in range(2):
        expected = feature_matching_loss(features[k, :B], features[k, B:])  # gan-lab: ||mean f(x) - mean f(G(z))||^2
        by_hand = (features[k, :B].mean(0) - features[k, B:].mean(0)).square().sum()
        assert g_loss[k].item() == pytest.approx(expected.item(), rel=1e-5)
        assert expected.item() == pytest.approx(by_hand.item(), rel=1e-6)
        plain = F.softplus(-logits[k, :B]).mean() + F.softplus(logits[k, B:]).mean()
        assert d_loss[k].item() == pytest.approx(plain.item(), rel=1e-5)  # D's loss is PacGAN's


def test_historical_averaging_penalty_after_two_steps_matches_the_hand_formula():
    net = small_net(tricks_of("historical_averaging"))
    real, z = batch()
    opt_d = torch.optim.Adam(net.d_params(), lr=1e-2)
    opt_g = torch.optim.Adam(net.g_params(), lr=1e-2)
    history = {"d": [[p.detach().clone() for p in net.d_params()]], "g": [[p.detach().clone() for p in net.g_params()]]}
    for _ in range(2):
        nets.simultaneous_step(net, opt_d, opt_g, real, z)
        history["d"].append([p.detach().clone() for p in net.d_params()])
        history["g"].append([p.detach().clone() for p in net.g_params()])
    assert net.history.counts == {"d": 3, "g": 3}  # theta[0], theta[1], theta[2]
    with_penalty = nets.model_losses(net, real, z)
    kept, net.history = net.history, None
    plain = nets.model_losses(net, real, z)
    for i, player in enumerate(("d", "g")):
        params = history[player][-1]
        means = [sum(step[j] for step in history[player]) / 3 for j in range(len(params))]
        for k in range(2):  # lambda = 1: sum over model k's parameters of (theta_2 - mean(theta_0..2))^2
            by_hand = sum((p[k].double() - m[k].double()).square().sum() for p, m in zip(params, means))
            assert by_hand.item() > 1e-6
            assert kept.penalty(player, params)[k].item() == pytest.approx(by_hand.item(), rel=1e-4)
            assert (with_penalty[i][k] - plain[i][k]).item() == pytest.approx(by_hand.item(), rel=1e-3, abs=1e-6)


def test_minibatch_discrimination_init_and_head_match_gan_labs_head_per_model():
    tricks = dataclasses.replace(tricks_of("minibatch_discrimination"), md_kernels=20)  # 100 by default: same code, 5x the time
    net = small_net(tricks)
    initial = {name: getattr(net, name).detach().clone() for name in ("md_theta", "md_log_scale", "md_b", "md_v", "md_g", "md_bias")}
    real, z = batch(nets.INIT_EXAMPLES)
    net.init_from_data(real)
    with torch.no_grad():
        f = net.features(real)  # [2, 500, 12]
        o = net.md_kernel_sums(f) + net.md_b
        logits = net.head(f)
        two = torch.cat(net.head_sets(f[:, :2 * B], 2), dim=1)  # model_losses' call: o(x) within each B
        assert torch.allclose(two, torch.cat([net.head(f[:, :B]), net.head(f[:, B:2 * B])], dim=1), atol=1e-6)
        assert not torch.allclose(two, net.head(f[:, :2 * B]), atol=1e-3)  # one set of 2B is another o(x)
        for k in range(2):
            # after the data-dependent init: mean nearest-neighbour L1 = 2 per kernel, mean o = 0, logits std 0.1
            assert torch.allclose(mean_nearest_neighbour_l1(net.md_project(f)[k]), torch.full((20,), 2.0), atol=1e-4)
            assert o[k].mean(0).abs().max() < 1e-4
            assert logits[k].mean().abs() < 1e-5 and logits[k].std(unbiased=False).item() == pytest.approx(0.1, rel=1e-4)
            # gan-lab's head with model k's initial parameters, initialised on model k's points alone
            head = MinibatchDiscriminationHead(12, 1, tricks.md_kernels, tricks.md_kernel_dim)
            head.md.theta.copy_(initial["md_theta"][k])
            head.md.log_weight_scale.copy_(initial["md_log_scale"][k])
            head.md.b.copy_(initial["md_b"][k, 0])
            head.dense.parametrizations.weight.original1.copy_(initial["md_v"][k].t())
            head.dense.parametrizations.weight.original0.copy_(initial["md_g"][k, 0])
            head.dense.bias.copy_(initial["md_bias"][k, 0])
            head.init_from_data(f[k])
            assert torch.allclose(head.md.log_weight_scale, net.md_log_scale[k], atol=1e-5)
            assert torch.allclose(head.md.b, net.md_b[k, 0], atol=1e-4)
            fresh = f[k, :B] + 0.1  # a batch of 100, as in training
            assert torch.allclose(head(fresh).squeeze(-1), net.head(fresh.unsqueeze(0).expand(2, -1, -1))[k], atol=1e-5)


def test_minibatch_discrimination_fused_sums_equal_gan_labs_cdist_and_gradient():
    sets = torch.randn(6, 9, 5, dtype=torch.float64, requires_grad=True)  # 6 (model, kernel) sets of 9 points
    grad = torch.randn(6, 9, dtype=torch.float64)
    eager = nets.md_pair_sums(sets)
    fused = nets.fused_md_pair_sums(sets)
    diffs = (sets[0, 0] - sets[0, 1:]).abs().sum(-1)  # point 0 of set 0, by hand: sum over the 8 others
    assert eager[0, 0].item() == pytest.approx(torch.exp(-diffs).sum().item(), rel=1e-12)
    assert torch.allclose(fused, eager, rtol=1e-12)
    (g_eager,) = torch.autograd.grad(eager, sets, grad)
    (g_fused,) = torch.autograd.grad(fused, sets, grad)
    assert torch.allclose(g_fused, g_eager, rtol=1e-10, atol=1e-12)


def test_virtual_bn_is_gan_labs_per_model_and_no_model_sees_another():
    tricks = tricks_of("virtual_bn")
    net = small_net(tricks)
    # the reference batch: gan-lab's sample_z(reference_size, Generator().manual_seed(seed)) per model
    assert torch.equal(net.vbn_z[1], torch.randn(B, 2, generator=torch.Generator().manual_seed(1)))
    _, z = batch()
    with torch.no_grad():
        out = net.generate(z, train=True)
        changed = z.clone()
        changed[1] = torch.randn(1, B, 2)
        assert torch.equal(net.generate(changed, train=True)[0], out[0])  # model 0 ignores model 1's inputs
        assert not torch.allclose(net.generate(changed, train=True)[1], out[1])
        assert torch.allclose(net.generate(z[:, :, :3], train=True), out[:, :, :3], atol=1e-6)  # nor the rest of its batch
        assert torch.equal(net.generate(z, train=False), out)  # no running statistics: sampling uses the reference batch
        h = torch.bmm(torch.cat([net.vbn_z, z[:, 0]], dim=1), net.g_w[0])  # G's first layer, [2, B + B, 16]
        ours = nets.virtual_batch_norm(h, B, net.g_log_gamma[0], net.g_beta[0])
        for k in range(2):
            vbn = VirtualBatchNorm(16, eps=nets.BN_EPS)  # eps of the BN it replaces, as the trick does
            vbn.ref_size = B
            vbn.gamma_driver.copy_(net.g_log_gamma[0][k, 0])
            vbn.beta.copy_(net.g_beta[0][k, 0])
            assert torch.allclose(vbn(h[k]), ours[k], atol=1e-5)


def test_all_five_no_model_gets_a_gradient_from_the_other():
    net = small_net(tricks_of(*mc.IMPROVED_GAN))
    real, z = batch(nets.INIT_EXAMPLES)
    net.init_from_data(real)
    d_loss, g_loss = nets.model_losses(net, real[:, :B], z)
    for loss, params in ((d_loss, net.d_params()), (g_loss, net.g_params())):
        grads = torch.autograd.grad(loss[0], params, retain_graph=True)
        assert all(g[1].abs().max() == 0 for g in grads)  # model 0's loss does not reach model 1's parameters
        assert any(g[0].abs().max() > 0 for g in grads)


def test_all_five_trains_a_few_iterations_to_finite_metrics():
    proto = mc.PROTOCOLS["cpu"]
    results, seconds = mc.train_row(mc.ROWS["all five"], ["ring8"], [0, 1], proto, 20)
    assert [(r["data"], r["seed"]) for r in results] == [("ring8", 0), ("ring8", 1)]
    for r in results:
        assert 0 <= r["modes_covered"] <= 8 and math.isfinite(r["high_quality_fraction"])
        assert 0.0 <= r["high_quality_fraction"] <= 1.0
    assert seconds > 0

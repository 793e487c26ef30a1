"""An ensemble's member layers (``gan_lab.nets.ensemble``): a net of linear, batch-norm and row-wise modules
runs its own forward on the member-major batch, each layer batching its members, instead of vmap. Each
member's rows must be what that member's own net computes on them: values, gradients and BatchNorm's
running statistics, in training and in eval mode; nets with any other module keep the vmap path."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_lab.nets.dcgan import DCGANDiscriminator
from gan_lab.nets.ensemble import Ensemble, MemberBatchNorm1d, MemberLinear
from gan_lab.nets.mlp import MLPDiscriminator, MLPGenerator

M, B = 3, 10


@pytest.fixture(autouse=True)
def _seeded(one_thread):
    torch.manual_seed(0)


def _pacgan_g(seed: int, momentum: float | None = 0.05) -> MLPGenerator:  # the 2-D protocol's G (conf/experiment/mode_collapse_cpu)
    torch.manual_seed(seed)
    g = MLPGenerator(image_size=None, channels=None, z_dim=2, hidden=[16, 16], batch_norm=True, linear_bias=False,
                     bn_eps=1e-4, bn_momentum=0.05, init_std=0.02)
    for bn in g.modules():
        if isinstance(bn, nn.BatchNorm1d):
            bn.momentum = momentum
            nn.init.normal_(bn.weight, 1.0, 0.1)  # not the identity: a wrong channel order would show
            nn.init.normal_(bn.bias, 0.0, 0.1)
    return g


def _maxout_d(seed: int) -> MLPDiscriminator:
    torch.manual_seed(seed)
    return MLPDiscriminator(image_size=None, channels=None, hidden=[16, 16], maxout_pieces=2, input_dropout=0.0, dropout=0.0,
                            init_std=0.02)


def _rows(out, m: int):
    return out.view(m, -1, *out.shape[1:])


@pytest.mark.parametrize("momentum", [0.05, None], ids=["momentum", "cumulative"])
def test_member_layers_compute_each_members_own_net(momentum):
    singles = [_pacgan_g(seed, momentum) for seed in range(M)]
    ensemble = Ensemble([_pacgan_g(seed, momentum) for seed in range(M)])
    assert ensemble.member_layers
    assert {type(m) for m in ensemble.net.modules()} >= {MemberLinear, MemberBatchNorm1d}
    z = torch.randn(M * B, 2)
    for step in range(3):  # training mode: batch statistics, running statistics updated
        out = ensemble(z)
        (out.square().sum() + out.sum()).backward()
        for m, single in enumerate(singles):
            expected = single(z[m * B:(m + 1) * B])
            (expected.square().sum() + expected.sum()).backward()
            torch.testing.assert_close(_rows(out, M)[m], expected, rtol=1e-5, atol=1e-6)
    stacked = dict(ensemble.net.named_parameters()) | dict(ensemble.net.named_buffers())
    for m, single in enumerate(singles):
        for name, p in single.named_parameters():
            torch.testing.assert_close(stacked[name].grad[m], p.grad, rtol=1e-4, atol=1e-5)  # three backwards summed
        for name, b in single.named_buffers():
            torch.testing.assert_close(stacked[name][m], b, rtol=1e-5, atol=1e-7)
    ensemble.eval()  # eval mode: each member's running statistics
    for single in singles:
        single.eval()
    with torch.no_grad():
        out = ensemble(z)
        for m, single in enumerate(singles):
            torch.testing.assert_close(_rows(out, M)[m], single(z[m * B:(m + 1) * B]), rtol=1e-5, atol=1e-6)
    member = ensemble.member(1)  # a plain net again, with member 1's state and the ensemble's mode
    assert not any(isinstance(mod, (MemberLinear, MemberBatchNorm1d)) for mod in member.modules()) and not member.training
    torch.testing.assert_close(member(z[:B]), singles[1](z[:B]), rtol=1e-5, atol=1e-6)


def test_a_maxout_discriminator_runs_on_member_layers():
    singles = [_maxout_d(seed) for seed in range(M)]
    ensemble = Ensemble([_maxout_d(seed) for seed in range(M)])
    assert ensemble.member_layers
    x = torch.randn(M * B, 2)
    logits, features = ensemble(x)
    assert logits.shape == (M * B,) and features.shape == (M * B, 16)
    for m, single in enumerate(singles):
        expected_logits, expected_features = single(x[m * B:(m + 1) * B])
        torch.testing.assert_close(_rows(logits, M)[m], expected_logits, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(_rows(features, M)[m], expected_features, rtol=1e-5, atol=1e-6)


def test_nets_with_other_modules_keep_vmap():
    d = [DCGANDiscriminator(image_size=28, channels=1, width=4) for _ in range(2)]
    assert not Ensemble(d).member_layers  # convolutions
    sn = [_maxout_d(seed) for seed in range(2)]
    for net in sn:
        nn.utils.parametrizations.spectral_norm(net.head[1])
    assert not Ensemble(sn).member_layers  # a parametrised linear is not an nn.Linear by type


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_the_minibatch_discrimination_head_has_a_member_form(compiled):
    from gan_lab.nets.ensemble import MemberMinibatchDiscriminationHead
    from gan_lab.tricks.minibatch_discrimination import MinibatchDiscrimination

    def md_d(seed):
        d = MinibatchDiscrimination(num_kernels=6, kernel_dim=3, compile=compiled).transform_discriminator(_maxout_d(seed))
        d.head.init_from_data(d.features(torch.randn(B, 2)))  # as the run builder does, per member
        return d

    singles = [md_d(seed) for seed in range(M)]
    ensemble = Ensemble([md_d(seed) for seed in range(M)])
    assert ensemble.member_layers and type(ensemble.net.head) is MemberMinibatchDiscriminationHead
    x = torch.randn(M * B, 2)
    logits, _ = ensemble(x)
    (logits.square().sum()).backward()
    stacked = dict(ensemble.net.named_parameters())
    for m, single in enumerate(singles):
        expected, _ = single(x[m * B:(m + 1) * B])  # o(x) sums over the member's own B rows only
        expected.square().sum().backward()
        torch.testing.assert_close(_rows(logits, M)[m], expected, rtol=1e-5, atol=1e-5)
        for name, p in single.named_parameters():
            if p.grad is not None:
                torch.testing.assert_close(stacked[name].grad[m], p.grad, rtol=1e-4, atol=1e-5 * p.grad.abs().max().item())


def test_virtual_bn_has_a_member_form():
    """trick=virtual_bn on the 2-D protocol's G: member layers, each member's [z_ref; z] rows normalised by its own
    reference batch (Salimans et al. 2016 §3.5); values and gradients are each member's own net's."""
    from gan_lab.nets.ensemble import MemberVirtualBatchNorm
    from gan_lab.tricks.virtual_bn import VirtualBN

    def vbn_g(seed):
        return VirtualBN(reference_size=8, seed=seed).transform_generator(_pacgan_g(seed))

    singles = [vbn_g(seed) for seed in range(M)]
    ensemble = Ensemble([vbn_g(seed) for seed in range(M)])
    assert ensemble.member_layers and MemberVirtualBatchNorm in {type(m) for m in ensemble.net.modules()}
    z = torch.randn(M * B, 2)
    out = ensemble(z)
    assert out.shape == (M * B, 2)
    (out.square().sum() + out.sum()).backward()
    stacked = dict(ensemble.net.named_parameters())
    for m, single in enumerate(singles):
        expected = single(z[m * B:(m + 1) * B])
        (expected.square().sum() + expected.sum()).backward()
        torch.testing.assert_close(_rows(out, M)[m], expected, rtol=1e-5, atol=1e-6)
        for name, p in single.named_parameters():
            torch.testing.assert_close(stacked[name].grad[m], p.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ensemble.member(2)(z[:B]), singles[2](z[:B]), rtol=1e-5, atol=1e-6)  # a plain net again

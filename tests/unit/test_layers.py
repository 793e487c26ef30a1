"""Minibatch discrimination and virtual batch norm against values computed by hand."""
import math

import pytest
import torch

from gan_lab.nets.layers import MinibatchDiscrimination, VirtualBatchNorm


def test_minibatch_discrimination_matches_hand_computed_o():
    layer = MinibatchDiscrimination(in_features=2, num_kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.T.copy_(torch.eye(2).view(2, 1, 2))  # M_i = f(x_i)
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    out = layer(f)
    # L1 distances: |x1-x2| = 1, |x1-x3| = 2, |x2-x3| = 3; the j = i term is excluded
    expected_o = [math.exp(-1) + math.exp(-2), math.exp(-1) + math.exp(-3), math.exp(-2) + math.exp(-3)]
    assert out.shape == (3, 3)
    assert torch.equal(out[:, :2], f)  # [f(x), o(x)]
    assert out[:, 2].tolist() == pytest.approx(expected_o, rel=1e-6)


def test_minibatch_discrimination_sums_over_each_kernel_separately():
    layer = MinibatchDiscrimination(in_features=3, num_kernels=4, kernel_dim=5)
    f = torch.randn(6, 3)
    M = torch.einsum("na,abc->nbc", f, layer.T)
    o = torch.zeros(6, 4)
    for i in range(6):  # the definition, written as loops
        for j in range(6):
            if i != j:
                o[i] += torch.exp(-(M[i] - M[j]).abs().sum(dim=1))
    assert torch.allclose(layer(f)[:, 3:], o, atol=1e-6)
    assert layer.T.std().item() == pytest.approx(0.05, rel=0.5)  # N(0, 0.05) init


def test_virtual_batch_norm_mixes_reference_and_own_statistics():
    vbn = VirtualBatchNorm(1, eps=0.0)
    with torch.no_grad():
        vbn.gamma_driver.zero_()  # gamma = exp(0) = 1
    vbn.ref_size = 2
    ref = torch.tensor([[[[1.0, 3.0]]], [[[5.0, 7.0]]]])  # [2, 1, 1, 2]: mean 4, E[h^2] 21, var 5
    live = torch.tensor([[[[2.0, 4.0]]]])  # own mean 3, own E[h^2] 10
    out = vbn(torch.cat([ref, live]))
    assert out[:2].flatten().tolist() == pytest.approx([(v - 4) / math.sqrt(5) for v in (1, 3, 5, 7)], rel=1e-6)
    mean = 3 / 3 + 2 * 4 / 3  # new_coeff = 1 / (N + 1) = 1/3
    var = (10 / 3 + 2 * 21 / 3) - mean**2
    assert out[2].flatten().tolist() == pytest.approx([(2 - mean) / math.sqrt(var), (4 - mean) / math.sqrt(var)], rel=1e-6)


def test_virtual_batch_norm_output_of_an_example_does_not_depend_on_the_rest_of_its_batch():
    vbn = VirtualBatchNorm(3)
    vbn.ref_size = 4
    ref, x = torch.randn(4, 3, 5, 5), torch.randn(1, 3, 5, 5)
    alone = vbn(torch.cat([ref, x]))[4]
    with_others = vbn(torch.cat([ref, x, torch.randn(7, 3, 5, 5) * 10]))[4]
    assert torch.allclose(alone, with_others, atol=1e-6)  # unlike BatchNorm

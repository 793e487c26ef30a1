"""Virtual batch norm against values computed by hand (minibatch discrimination: test_minibatch_discrimination.py)."""
import math

import pytest
import torch

from gan_lab.nets.layers.virtual_batchnorm import VirtualBatchNorm


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

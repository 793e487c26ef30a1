"""Minibatch discrimination as in openai/improved-gan (nn.py MinibatchLayer + WeightNormLayer)."""
import math

import pytest
import torch
from torch import nn

from gan_lab.nets.layers.minibatch_discrimination import (
    MinibatchDiscrimination,
    MinibatchDiscriminationHead,
    mean_nearest_neighbour_l1,
    pairwise_l1,
)


@pytest.fixture(autouse=True)
def _one_thread_seeded():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _features(n: int, a: int = 24) -> torch.Tensor:
    """Non-negative-ish, correlated features like a lrelu trunk's pooled output."""
    mix = torch.randn(a, a) / math.sqrt(a)
    return nn.functional.leaky_relu(torch.randn(n, a) @ mix + 0.5, 0.2)


def _hand_layer() -> MinibatchDiscrimination:
    """A = 2 inputs, K = 2 kernels, C = 2 dims per kernel, with W set by hand through theta/log scale.

    kernel 0: columns theta = [1, 0] and [0, 1], scales 1      -> W_0 = [[1, 0], [0, 1]], M_{i,0} = x_i
    kernel 1: columns theta = [1, 1] (norm sqrt 2), scale sqrt2 -> [1, 1]
              columns theta = [2, 0] (norm 2),      scale 3     -> [3, 0]   M_{i,1} = (x1 + x2, 3 x1)
    b = [-1, 0.5]
    """
    layer = MinibatchDiscrimination(in_features=2, num_kernels=2, kernel_dim=2)
    with torch.no_grad():
        layer.theta.copy_(torch.tensor([[[1.0, 0.0], [1.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]]]))  # [A, K, C]
        layer.log_weight_scale.copy_(torch.tensor([[0.0, 0.0], [math.log(math.sqrt(2.0)), math.log(3.0)]]))
        layer.b.copy_(torch.tensor([-1.0, 0.5]))
    return layer


def test_o_matches_hand_computed_values():
    layer = _hand_layer()
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    out = layer(x)
    # kernel 0: M = (0,0), (1,0), (0,2): d01 = 1, d02 = 2, d12 = 3
    # kernel 1: M = (0,0), (1,3), (2,0): d01 = 4, d02 = 2, d12 = 1 + 3 = 4
    # j = i is excluded (the original adds 1e6 to the diagonal), then + b
    e = math.exp
    o0 = [e(-1) + e(-2) - 1.0, e(-1) + e(-3) - 1.0, e(-2) + e(-3) - 1.0]
    o1 = [e(-4) + e(-2) + 0.5, e(-4) + e(-4) + 0.5, e(-2) + e(-4) + 0.5]
    assert out.shape == (3, 4)
    assert torch.equal(out[:, :2], x)  # [f(x), o(x)]
    assert out[:, 2].tolist() == pytest.approx(o0, rel=1e-6)
    assert out[:, 3].tolist() == pytest.approx(o1, rel=1e-6)
    # nearest neighbours: kernel 0 min(1,2), min(1,3), min(2,3) -> (1+1+2)/3; kernel 1 (2+4+2)/3
    assert mean_nearest_neighbour_l1(layer.project(x)).tolist() == pytest.approx([4 / 3, 8 / 3], rel=1e-6)


def test_weight_is_normalised_per_kernel_column():
    layer = MinibatchDiscrimination(in_features=7, num_kernels=3, kernel_dim=4)
    x = torch.randn(5, 7)
    before = layer(x)
    with torch.no_grad():
        layer.theta.mul_(13.0)  # W = theta exp(s) / ||theta||: invariant to theta's scale
    assert torch.allclose(layer(x), before, atol=1e-6)
    norms = layer.weight.square().sum(dim=0).sqrt()  # [K, C]
    assert torch.allclose(norms, layer.log_weight_scale.exp(), atol=1e-6)


def test_matches_definition_with_loops_and_original_parameters():
    layer = MinibatchDiscrimination(in_features=3, num_kernels=4, kernel_dim=5)
    assert layer.theta.shape == (3, 4, 5) and layer.log_weight_scale.shape == (4, 5) and layer.b.shape == (4,)
    assert torch.all(layer.log_weight_scale == 0) and torch.all(layer.b == -1)  # nn.py l. 133-134
    x = torch.randn(6, 3)
    W = layer.theta * layer.log_weight_scale.exp() / layer.theta.square().sum(0, keepdim=True).sqrt()
    M = torch.einsum("na,akc->nkc", x, W)
    o = torch.zeros(6, 4)
    for i in range(6):
        for j in range(6):
            if i != j:
                o[i] += torch.exp(-(M[i] - M[j]).abs().sum(-1))
    o += layer.b
    assert torch.allclose(layer(x)[:, 3:], o, atol=1e-6)
    assert torch.isinf(pairwise_l1(M).diagonal(dim1=1, dim2=2)).all()


def test_init_from_data_rescales_to_mean_nn_l1_of_2_and_centres_o():
    x = _features(64)
    layer = MinibatchDiscrimination(in_features=24, num_kernels=10, kernel_dim=5)
    assert not bool(layer.initialized)
    assert layer.init_from_data(x) is True
    assert bool(layer.initialized)
    # nn.py l. 157-159: mean_i min_{j != i} L1 = 2 for every kernel on the init batch
    assert torch.allclose(mean_nearest_neighbour_l1(layer.project(x)), torch.full((10,), 2.0), atol=1e-4)
    # nn.py l. 164-166: b = -mean_i o_nobias, so mean_i (o_nobias + b) = 0 for every kernel
    o = layer(x)[:, 24:]
    assert torch.allclose(o.mean(dim=0), torch.zeros(10), atol=1e-5)
    assert torch.allclose(layer.b, -layer.kernel_sums(x).mean(dim=0), atol=1e-6)


def test_head_init_gives_logits_mean_0_std_init_stdv():
    x = _features(64)
    head = MinibatchDiscriminationHead(in_features=24, out_dim=3, num_kernels=10, kernel_dim=5)
    assert head.out_dim == 3
    assert head.init_from_data(x) is True
    assert bool(head.initialized) and bool(head.md.initialized)
    logits = head(x)
    assert logits.shape == (64, 3)
    # WeightNormLayer init (nn.py l. 82-87) with init_stdv = 0.1 (train_cifar_minibatch_discrimination.py l. 67)
    assert torch.allclose(logits.mean(dim=0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(logits.std(dim=0, unbiased=False), torch.full((3,), 0.1), atol=1e-5)
    # the MD layer was initialised first, on the same batch
    assert torch.allclose(mean_nearest_neighbour_l1(head.md.project(x)), torch.full((10,), 2.0), atol=1e-4)


def test_head_init_stdv_is_configurable():
    x = _features(32)
    head = MinibatchDiscriminationHead(in_features=24, out_dim=2, num_kernels=6, init_stdv=1.0)
    head.init_from_data(x)
    assert torch.allclose(head(x).std(dim=0, unbiased=False), torch.ones(2), atol=1e-5)


def test_head_logits_small_on_real_looking_batches_after_init():
    """A conv trunk's pooled lrelu features on image-like batches of 100 (CIFAR-sized D, 192 features)."""
    a = 192
    trunk = nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, a, 3, 2, 1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )

    def images(n):
        return (torch.rand(n, 3, 1, 1) * 0.5 + torch.randn(n, 3, 32, 32) * 0.3).clamp(-1, 1)

    with torch.no_grad():
        init_batch, other_batch = trunk(images(100)), trunk(images(100))
        head = MinibatchDiscriminationHead(in_features=a, out_dim=1)
        before = head(init_batch).abs().max().item()
        head.init_from_data(init_batch)
        after_init_batch = head(init_batch).abs().max().item()
        after_other_batch = head(other_batch).abs().max().item()
        o_other = head.md(other_batch)[:, a:]
    assert before > 2.0  # uninitialised: o = sum over 99 near neighbours, saturating D's logit
    assert after_init_batch < 0.5
    assert after_other_batch < 1.0
    assert o_other.abs().mean().item() < 1.0  # o is centred, no longer ~37-99 of 99


def test_state_dict_round_trip_keeps_init_and_values():
    x = _features(32)
    head = MinibatchDiscriminationHead(in_features=24, out_dim=1, num_kernels=8)
    head.init_from_data(x)
    state = head.state_dict()
    assert "initialized" in state and "md.initialized" in state
    assert state["initialized"].dtype == torch.bool and bool(state["md.initialized"])

    torch.manual_seed(123)
    restored = MinibatchDiscriminationHead(in_features=24, out_dim=1, num_kernels=8)
    assert not bool(restored.initialized)
    restored.load_state_dict(state)
    assert bool(restored.initialized) and bool(restored.md.initialized)
    assert torch.equal(restored(x), head(x))
    for (name, p), (_, q) in zip(head.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(p, q), name
    # nothing re-initialises after loading
    y = _features(32) * 3.0
    assert restored.init_from_data(y) is False and restored.md.init_from_data(y) is False
    assert torch.equal(restored(x), head(x))


def test_init_from_data_is_once_unless_forced():
    x, y = _features(32), _features(32) * 2.0 + 1.0
    layer = MinibatchDiscrimination(in_features=24, num_kernels=6)
    layer.init_from_data(x)
    snapshot = {k: v.clone() for k, v in layer.state_dict().items()}
    assert layer.init_from_data(y) is False
    for k, v in layer.state_dict().items():
        assert torch.equal(v, snapshot[k]), k
    assert layer.init_from_data(y, force=True) is True
    assert not torch.equal(layer.log_weight_scale, snapshot["log_weight_scale"])
    assert torch.allclose(mean_nearest_neighbour_l1(layer.project(y)), torch.full((6,), 2.0), atol=1e-4)

    head = MinibatchDiscriminationHead(in_features=24, out_dim=2, num_kernels=6)
    head.init_from_data(x)
    logits_x = head(x)
    assert head.init_from_data(y) is False
    assert torch.equal(head(x), logits_x)
    assert head.init_from_data(y, force=True) is True  # forces both layers
    assert torch.allclose(mean_nearest_neighbour_l1(head.md.project(y)), torch.full((6,), 2.0), atol=1e-4)
    assert torch.allclose(head(y).std(dim=0, unbiased=False), torch.full((2,), 0.1), atol=1e-5)


def test_gradients_flow_to_parameters_and_input():
    head = MinibatchDiscriminationHead(in_features=24, out_dim=1, num_kernels=8)
    x0 = _features(16)
    head.init_from_data(x0)
    x = x0.clone().requires_grad_(True)
    out = head.md(x)
    loss = out[:, 24:].square().sum() + head(x).sum()
    loss.backward()
    for name, p in [("theta", head.md.theta), ("log_weight_scale", head.md.log_weight_scale), ("b", head.md.b)]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    for name, p in head.dense.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradcheck_double():
    layer = MinibatchDiscrimination(in_features=4, num_kernels=2, kernel_dim=3).double()
    x = torch.randn(5, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp)[:, 4:], (x,))


def test_flattens_inputs_with_more_than_two_dims():
    layer = MinibatchDiscrimination(in_features=12, num_kernels=3)
    x = torch.randn(4, 3, 2, 2)
    assert torch.equal(layer(x), layer(x.flatten(1)))
    assert layer(x).shape == (4, 15) and layer.out_features == 15


def test_double_backward_for_gradient_penalties():
    """Gradient penalties (gan_lab/losses.py) differentiate D's input gradient again."""
    head = MinibatchDiscriminationHead(in_features=24, out_dim=1, num_kernels=8)
    x0 = _features(16)
    head.init_from_data(x0)
    x = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(head(x).sum(), x, create_graph=True)
    grad.square().sum().backward()
    # biases (md.b, dense.bias) do not enter the input gradient, so they get no grad here
    for name, p in head.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    for p in (head.md.theta, head.md.log_weight_scale):
        assert p.grad is not None and p.grad.abs().sum() > 0

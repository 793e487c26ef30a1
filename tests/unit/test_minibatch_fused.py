"""o(x) of minibatch discrimination by the fused PairKernelSums (Salimans et al. 2016, §3.2) against
the definition by torch.cdist: values, gradients, double backward, torch.func.vmap, far pairs."""
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from gan_lab.nets.layers import pair_sums_cpu
from gan_lab.nets.layers.minibatch_discrimination import (
    FAR_L1,
    CpuPairKernelSums,
    MinibatchDiscrimination,
    MinibatchDiscriminationHead,
    pair_kernel_sums,
    pairwise_l1,
)


@pytest.fixture(autouse=True)
def _seeded(one_thread):  # one thread (conftest), a fixed seed
    torch.manual_seed(0)


def cdist_sums(projected: torch.Tensor) -> torch.Tensor:
    """The definition, as the layer computed it before: exp(-L1) by cdist, self pairs at +inf."""
    return torch.exp(-pairwise_l1(projected)).sum(dim=2).t()


def _features(n: int, a: int = 32) -> torch.Tensor:
    mix = torch.randn(a, a) / math.sqrt(a)
    return nn.functional.leaky_relu(torch.randn(n, a) @ mix + 0.5, 0.2)


def test_values_and_gradients_match_cdist_float32():
    layer = MinibatchDiscrimination(32, num_kernels=20, kernel_dim=5)
    layer.init_from_data(_features(40))
    x = _features(40)
    x[:4] *= 6  # a few far pairs, as in training
    weight = torch.randn(40, 20)
    grads = []
    for sums in (layer.kernel_sums, lambda f: cdist_sums(layer.project(f))):
        xr = x.clone().requires_grad_()
        out = sums(xr)
        params = [xr, layer.theta, layer.log_weight_scale]
        grads.append((out.detach(), *torch.autograd.grad((out * weight).sum(), params)))
    for new, old in zip(*grads):
        assert torch.allclose(new, old, rtol=1e-5, atol=1e-6 * old.abs().max().item())


def test_gradcheck_and_gradgradcheck_float64():
    m = torch.randn(6, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pair_kernel_sums, (m,))
    assert torch.autograd.gradgradcheck(pair_kernel_sums, (m,))
    assert torch.allclose(pair_kernel_sums(m), cdist_sums(m), rtol=1e-12)


def test_gradient_penalty_through_the_head_matches_cdist():
    """R1-style: differentiate the norm of D's input gradient (create_graph) through o(x)."""
    head = MinibatchDiscriminationHead(16, 1, num_kernels=8, kernel_dim=3).double()
    x = torch.randn(10, 16, dtype=torch.float64)
    head.init_from_data(x)

    def penalty_grads():
        xr = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad(head(xr).sum(), xr, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), [head.md.theta, head.md.log_weight_scale])

    fused = penalty_grads()
    head.md.kernel_sums = lambda f: cdist_sums(head.md.project(f))  # the definition, instance only
    for new, old in zip(fused, penalty_grads()):
        assert torch.allclose(new, old, rtol=1e-9, atol=1e-12)


def test_self_pair_excluded_and_far_pairs_negligible():
    m = torch.tensor([[[0.0]], [[0.5]], [[90.0]], [[200.0]]])  # N = 4, K = 1, C = 1
    s = pair_kernel_sums(m)[:, 0]
    expected = cdist_sums(m.double())[:, 0]
    assert torch.all((s.double() - expected).abs() <= 1e-7 * expected + 1e-30)  # far pairs: 0, not 2e-39
    assert s[0] == pytest.approx(math.exp(-0.5)) and s[2] == 0.0 and s[3] == 0.0
    assert FAR_L1 < 87.0  # exp(-FAR_L1) is a normal float32, and so is its product with any gradient above ~3e-21 (FAR_L1 = 40)


def test_vmap_over_stacked_members_equals_separate_calls():
    members = [MinibatchDiscrimination(12, num_kernels=6, kernel_dim=4) for _ in range(3)]
    x = torch.randn(3, 9, 12)
    for member, xm in zip(members, x):
        member.init_from_data(xm)
    params, buffers = stack_module_state(members)
    weight = torch.randn(9, 18)

    def loss(p, b, xm):
        return (functional_call(members[0], (p, b), (xm,)) * weight).sum()

    out = vmap(lambda p, b, xm: functional_call(members[0], (p, b), (xm,)), randomness="different")(params, buffers, x)
    vmapped_grads = vmap(grad(loss), randomness="different")(params, buffers, x)
    (out * weight).sum().backward()  # autograd through vmap, as the ensemble trains
    for i, (member, xm) in enumerate(zip(members, x)):
        assert torch.allclose(out[i], member(xm), rtol=1e-6, atol=1e-6)
        (member(xm) * weight).sum().backward()
        for name, p in member.named_parameters():
            assert torch.allclose(vmapped_grads[name][i], p.grad, rtol=1e-5, atol=1e-6), name
            assert torch.allclose(params[name].grad[i], p.grad, rtol=1e-5, atol=1e-6), name


@pytest.fixture(params=["cpu kernel", "inductor"])
def compiled_path(request, monkeypatch):
    """compile=true runs gan-lab's C kernel on a CPU (float32) and Inductor's elsewhere: both, here on the CPU
    (``pair_sums_cpu.supports`` False stands for a GPU or a machine without a compiler)."""
    if request.param == "inductor":
        monkeypatch.setattr(pair_sums_cpu, "supports", lambda mt: False)
    elif not pair_sums_cpu.supports(torch.zeros(1, 5, 2)):
        pytest.skip("no C++ compiler: the CPU kernel cannot be built")
    return request.param


def test_compiled_kernels_match_the_eager_ones_alone_under_vmap_and_in_a_penalty(compiled_path):
    """compile=true (tricks.minibatch_discrimination.compile): o(x) and its gradients by compiled kernels (gan-lab's
    own on a CPU, Inductor's) equal the eager kernel's up to float rounding, for one layer, for vmapped members, and
    with create_graph."""
    eager = MinibatchDiscrimination(32, num_kernels=20, kernel_dim=5)
    eager.init_from_data(_features(40))
    compiled = MinibatchDiscrimination(32, num_kernels=20, kernel_dim=5, compile=True)
    compiled.load_state_dict(eager.state_dict())
    x = _features(40)
    x[:4] *= 6  # a few far pairs
    weight = torch.randn(40, 20)
    results = []
    for layer in (eager, compiled):
        xr = x.clone().requires_grad_()
        out = layer.kernel_sums(xr)
        results.append((out.detach(), *torch.autograd.grad((out * weight).sum(), [xr, layer.theta, layer.log_weight_scale])))
    for new, old in zip(results[1], results[0]):
        assert torch.allclose(new, old, rtol=1e-4, atol=1e-5 * old.abs().max().item())

    members = [MinibatchDiscrimination(12, num_kernels=6, kernel_dim=4, compile=True) for _ in range(3)]
    xs = torch.randn(3, 9, 12)
    for member, xm in zip(members, xs):
        member.init_from_data(xm)
    params, buffers = stack_module_state(members)
    out = vmap(lambda p, b, xm: functional_call(members[0], (p, b), (xm,)), randomness="different")(params, buffers, xs)
    out.square().sum().backward()
    for i, (member, xm) in enumerate(zip(members, xs)):
        member.compile = False
        reference = member(xm)
        assert torch.allclose(out[i], reference, rtol=1e-5, atol=1e-5)
        reference.square().sum().backward()
        assert torch.allclose(params["theta"].grad[i], member.theta.grad, rtol=1e-4, atol=1e-5)

    head = MinibatchDiscriminationHead(16, 1, num_kernels=8, kernel_dim=3, compile=True)
    xh = torch.randn(10, 16)
    head.init_from_data(xh)
    xr = xh.clone().requires_grad_()
    (gx,) = torch.autograd.grad(head(xr).sum(), xr, create_graph=True)  # double backward: the differentiable path
    (penalty,) = torch.autograd.grad(gx.square().sum(), [head.md.theta])
    head.md.compile = False
    xr = xh.clone().requires_grad_()
    (gx,) = torch.autograd.grad(head(xr).sum(), xr, create_graph=True)
    assert torch.allclose(penalty, torch.autograd.grad(gx.square().sum(), [head.md.theta])[0], rtol=1e-4, atol=1e-6)


def test_compile_must_be_a_bool():
    from gan_lab.errors import ConfigError
    from gan_lab.tricks.minibatch_discrimination import MinibatchDiscrimination as Trick

    with pytest.raises(ConfigError, match=r"tricks.minibatch_discrimination.compile=yes: true or false"):
        Trick(compile="yes")


needs_cpu_kernel = pytest.mark.skipif(not pair_sums_cpu.supports(torch.zeros(1, 5, 2)), reason="no C++ compiler")


@needs_cpu_kernel
@pytest.mark.parametrize("k, c, n", [(1, 1, 2), (17, 16, 3), (40, 5, 33), (7, 3, 1)])
def test_cpu_kernel_against_float64_definition(k, c, n):
    """gan-lab's C kernel over the unordered pairs: every lane count (K padded to 16), C from 1 to 16, N from 1;
    values and gradients against the float64 definition (exp(-cdist), self pairs excluded); far pairs count 0."""
    mt = torch.randn(k, c, n) * 3
    if n > 2:
        mt[:, :, 0] += 50  # example 0 is far (L1 >= 40) from all others: its sum is 0
    mt.requires_grad_()
    g = torch.randn(k, n)
    s, rows = CpuPairKernelSums.apply(mt)
    assert rows.shape == (n, c, -(-k // 16) * 16)
    (grad,) = torch.autograd.grad((s * g).sum(), mt)
    m64 = mt.detach().double().requires_grad_()
    d = (m64.unsqueeze(3) - m64.unsqueeze(2)).abs().sum(1)  # [K, N, N]
    e = torch.where(d < FAR_L1, torch.exp(-d.clamp(max=FAR_L1)), 0.0) * (1 - torch.eye(n, dtype=torch.float64))
    (grad64,) = torch.autograd.grad((e.sum(2) * g.double()).sum(), m64)
    assert torch.allclose(s.double(), e.sum(2), rtol=2e-6, atol=1e-7)
    assert torch.allclose(grad.double(), grad64, rtol=1e-5, atol=1e-5 * grad64.abs().max().item() + 1e-7)
    if n > 2:
        assert torch.all(s[:, 0] == 0) and torch.all(grad[:, :, 0] == 0)


@needs_cpu_kernel
def test_cpu_kernel_equal_rows_have_no_gradient_along_equal_coordinates():
    """sign(M_ic - M_jc) = 0 where two examples agree in a coordinate (the Inductor and eager kernels' sign(0) = 0):
    two equal examples, alone in the batch, get no gradient at all; E_ij = 1 for them."""
    mt = torch.ones(3, 4, 1).repeat(1, 1, 2).requires_grad_()
    s, _ = CpuPairKernelSums.apply(mt)
    assert torch.equal(s.detach(), torch.ones(3, 2))
    (grad,) = torch.autograd.grad(s.sum(), mt)
    assert torch.equal(grad, torch.zeros_like(grad))


def test_without_a_compiler_the_cpu_kernel_steps_aside(monkeypatch, tmp_path):
    """No C++ compiler ($CXX names none): no library, and compile=true computes o(x) by Inductor's kernels (which then
    cannot build either: the run is refused at the build, tests/integration/test_speed_options.py)."""
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path))
    pair_sums_cpu.library.cache_clear()
    try:
        assert pair_sums_cpu.library(5) is None and not pair_sums_cpu.supports(torch.zeros(1, 5, 2))
    finally:
        pair_sums_cpu.library.cache_clear()


@needs_cpu_kernel
def test_cpu_kernel_builds_once_into_the_cache(monkeypatch, tmp_path):
    """The library is built on first use into $GAN_LAB_CACHE/kernels under a name that hashes the source, compiler,
    flags and CPU features; a second process (the cache cleared) loads it without building."""
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path))
    pair_sums_cpu.library.cache_clear()
    try:
        assert pair_sums_cpu.library(3) is not None
        (built,) = (tmp_path / "kernels").glob("pair_sums_c3_*.so")
        stamp = built.stat().st_mtime_ns
        pair_sums_cpu.library.cache_clear()
        assert pair_sums_cpu.library(3) is not None and built.stat().st_mtime_ns == stamp
        assert [p.name for p in (tmp_path / "kernels").iterdir()] == [built.name]  # no leftover build folder
    finally:
        pair_sums_cpu.library.cache_clear()


@pytest.mark.parametrize("key", ["num_kernels", "kernel_dim"])
def test_kernel_shape_below_one_is_a_config_error(key):
    from gan_lab.errors import ConfigError
    from gan_lab.tricks.minibatch_discrimination import MinibatchDiscrimination as Trick
    with pytest.raises(ConfigError, match=f"tricks.minibatch_discrimination.{key}=0: a whole number >= 1"):
        Trick(**{key: 0})

"""Improved-GAN's CIFAR-10 D (openai/improved-gan train_cifar_minibatch_discrimination.py l. 51-67):
layers, weight-norm data-dependent init, train-only noise and dropout, and the experiment preset."""
import torch
from torch import nn

from gan_lab.build import build_players
from gan_lab.nets.improved_gan_cifar import ImprovedGANCifarDiscriminator, WeightNormDense, _data_dependent_init_conv, wn_conv
from gan_lab.nets.layers.minibatch_discrimination import MinibatchDiscriminationHead
from tests.conftest import compose_cfg

# (in, out, kernel, stride, padding) of l. 54-56, 58-60, 62-64, and each output's [C, H, W] on 32x32
LAYERS = [
    (3, 96, 3, 1, 1, (96, 32, 32)), (96, 96, 3, 1, 1, (96, 32, 32)), (96, 96, 3, 2, 1, (96, 16, 16)),
    (96, 192, 3, 1, 1, (192, 16, 16)), (192, 192, 3, 1, 1, (192, 16, 16)), (192, 192, 3, 2, 1, (192, 8, 8)),
    (192, 192, 3, 1, 0, (192, 6, 6)), (192, 192, 1, 1, 0, (192, 6, 6)), (192, 192, 1, 1, 0, (192, 6, 6)),
]


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _convs(d: ImprovedGANCifarDiscriminator) -> list[nn.Conv2d]:
    return [m for m in d.body if isinstance(m, nn.Conv2d)]


def _pre_activations(d: ImprovedGANCifarDiscriminator, x: torch.Tensor) -> list[torch.Tensor]:
    """Every weight-normalised conv's output (bias included, before lrelu) on one call of D."""
    outs: list[torch.Tensor] = []
    hooks = [conv.register_forward_hook(lambda m, args, out: outs.append(out)) for conv in _convs(d)]
    with torch.no_grad():
        d(x)
    for h in hooks:
        h.remove()
    return outs


def test_layers_and_shapes_are_those_of_the_original_d():
    torch.manual_seed(0)
    d = ImprovedGANCifarDiscriminator()
    convs = _convs(d)
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [row[:5] for row in LAYERS]
    assert all(hasattr(c, "parametrizations") for c in convs)  # 9 weight-normalised convs
    assert [m.negative_slope for m in d.body if isinstance(m, nn.LeakyReLU)] == [0.2] * 9
    assert [m.p for m in d.body if isinstance(m, nn.Dropout)] == [0.0, 0.5, 0.5]  # no input dropout, l. 57, 61
    assert d.body[0].sigma == 0.2  # l. 53
    # v + g + b per conv: 2,784 + 2 * 83,136 + 166,272 + 3 * 332,160 + 2 * 37,248, and the head 192 + 1 + 1;
    # the hidden scales g are not trained (train_g=False): 96 * 3 + 192 * 6 = 1,440 frozen, the head's g is
    assert sum(p.numel() for p in d.parameters()) == 1_406_498
    assert sum(p.numel() for p in d.parameters() if p.requires_grad) == 1_406_498 - 1_440
    assert isinstance(d.head, WeightNormDense) and d.head.dense.parametrizations.weight.original0.requires_grad
    v = convs[4].parametrizations.weight.original1  # [192, 192, 3, 3], W=Normal(0.05)
    assert abs(v.std().item() - 0.05) < 1e-3 and abs(v.mean().item()) < 1e-3
    d.eval()
    x = _images(2)
    assert [tuple(t.shape[1:]) for t in _pre_activations(d, x)] == [row[5] for row in LAYERS]
    logits, features = d(x)
    assert d.feature_dim == 192 and features.shape == (2, 192) and logits.shape == (2,)
    assert torch.allclose(features, d.body(x).mean(dim=(2, 3)))  # global mean pool, l. 65


def test_conv_data_dependent_init_matches_hand_computed_g_and_b():
    conv = wn_conv(1, 2, 1)  # a NIN: 1 -> 2 channels
    with torch.no_grad():
        conv.parametrizations.weight.original1.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
    assert conv.weight.view(-1).tolist() == [1.0, -1.0]  # g = 1 before init: w = v / ||v||
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    out = _data_dependent_init_conv(conv, x)
    # t = +x and -x: mean +-2.5, population std sqrt(1.25) = 1.1180340; g = 1/std, b = -mean/std
    assert torch.allclose(conv.parametrizations.weight.original0.view(-1), torch.tensor([0.8944272, 0.8944272]))
    assert torch.allclose(conv.bias, torch.tensor([-2.2360680, 2.2360680]))
    expected = torch.tensor([-1.3416408, -0.4472136, 0.4472136, 1.3416408])
    assert torch.allclose(out[0, 0].flatten(), expected) and torch.allclose(out[0, 1].flatten(), -expected)


def test_after_init_every_pre_activation_channel_has_mean_0_and_std_1_on_the_init_batch():
    torch.manual_seed(0)
    x = _images(8)
    # eval mode: no noise, no dropout, in the init pass and in the check
    d = ImprovedGANCifarDiscriminator().eval()
    before = _pre_activations(d, x)
    assert max(t.std(dim=(0, 2, 3), unbiased=False).sub(1).abs().max().item() for t in before) > 0.5  # not normalised yet
    d.init_from_data(x)
    for t in _pre_activations(d, x):
        assert t.mean(dim=(0, 2, 3)).abs().max().item() < 1e-4
        assert t.std(dim=(0, 2, 3), unbiased=False).sub(1).abs().max().item() < 1e-4
    with torch.no_grad():
        logits = d(x)[0]  # the head's init, l. 67: init_stdv 0.1
    assert abs(logits.mean().item()) < 1e-5 and abs(logits.std(unbiased=False).item() - 0.1) < 1e-5
    # training mode (as gan_lab.build calls it, and the original's deterministic=False pass): the
    # statistics are those of the noisy pass, so replaying its noise and dropout masks gives 0 / 1 again
    d = ImprovedGANCifarDiscriminator().train()
    torch.manual_seed(1)
    d.init_from_data(x)
    torch.manual_seed(1)
    noisy = _pre_activations(d, x)
    for t in noisy:
        assert t.mean(dim=(0, 2, 3)).abs().max().item() < 1e-4
        assert t.std(dim=(0, 2, 3), unbiased=False).sub(1).abs().max().item() < 1e-4
    # in eval mode (no noise, no dropout) the pre-activations are smaller than at init: by
    # sqrt(var(x) / (var(x) + 0.2^2)) = sqrt((1/3) / (1/3 + 0.04)) = 0.945 for x ~ U(-1, 1), then
    # by about sqrt(1 - p) = 0.71 more after each p = 0.5 dropout (less: lrelu outputs are not centred)
    d.eval()
    clean_std = [t.std(dim=(0, 2, 3), unbiased=False).mean().item() for t in _pre_activations(d, x)]
    assert all(abs(s - 0.945) < 0.01 for s in clean_std[:3])
    assert all(0.55 < s < 0.945 * 0.71 for s in clean_std[3:6]) and all(0.35 < s < 0.945 * 0.5 for s in clean_std[6:])


def test_noise_and_dropout_act_in_training_mode_only():
    torch.manual_seed(0)
    d = ImprovedGANCifarDiscriminator()
    x = _images(8)
    d.eval()
    d.init_from_data(x)
    seen: dict[str, torch.Tensor] = {}
    d.body[0].register_forward_hook(lambda m, args, out: seen.update(noise=out - args[0]))
    d.body[8].register_forward_hook(lambda m, args, out: seen.update(drop_in=args[0], drop_out=out))
    with torch.no_grad():
        a, b = d(x)[0], d(x)[0]
        assert torch.equal(a, b) and seen["noise"].abs().max().item() == 0.0
        assert torch.equal(seen["drop_in"], seen["drop_out"])
        d.train()
        c, e = d(x)[0], d(x)[0]
    assert (c - e).abs().max().item() > 1e-3
    assert abs(seen["noise"].std().item() - 0.2) < 0.005  # sigma 0.2 on 8 * 3 * 32 * 32 values
    kept = seen["drop_out"] != 0
    assert abs(1 - kept.float().mean().item() - 0.5) < 0.01  # p = 0.5 over 8 * 96 * 16 * 16 values
    assert torch.allclose(seen["drop_out"][kept], 2 * seen["drop_in"][kept])  # rescaled by 1/(1-p)


def test_experiment_preset_builds_this_d_with_the_minibatch_discrimination_head():
    cfg = compose_cfg(["experiment=improved_gan_cifar10"])
    assert cfg.model.name == "improved_gan_cifar10" and cfg.model.generator.width == 128
    assert (cfg.model.discriminator.width, cfg.model.discriminator.width2, cfg.model.discriminator.input_noise) == (96, 192, 0.2)
    assert list(cfg.tricks) == ["minibatch_discrimination", "label_smoothing", "virtual_bn"] and cfg.data.batch_size == 100
    torch.manual_seed(0)
    d = build_players(cfg).discriminator
    assert type(d) is ImprovedGANCifarDiscriminator
    head = d.head
    assert isinstance(head, MinibatchDiscriminationHead)
    assert (head.md.in_features, head.md.num_kernels, head.md.kernel_dim) == (192, 100, 5)
    assert (head.dense.in_features, head.dense.out_features) == (292, 1)  # [f(x), o(x)] -> 1 logit
    x = _images(8)
    d.eval()
    d.init_from_data(x)  # D's layers, then the head's on D's pooled features
    assert bool(head.initialized)
    logits, features = d(x)
    assert logits.shape == (8,) and features.shape == (8, 192)
    assert abs(logits.mean().item()) < 1e-5 and abs(logits.std(unbiased=False).item() - 0.1) < 1e-5  # init_stdv 0.1, l. 67
    # without the trick (the ablation's -MBF row) the head is l. 67 alone
    plain = build_players(compose_cfg(["experiment=improved_gan_cifar10", "trick=[label_smoothing]"])).discriminator
    assert type(plain) is ImprovedGANCifarDiscriminator and isinstance(plain.head, WeightNormDense)
    assert (plain.head.dense.in_features, plain.head.dense.out_features) == (192, 1)

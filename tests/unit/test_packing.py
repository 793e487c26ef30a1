"""PacGAN's packing (Lin et al. 2018 §3): the packed batch, the m-times wider input layer, one decision
per pack, and how the trick composes with the rest of gan-lab."""
import pytest
import torch

from gan_lab.build import build_objective, build_players, build_tricks
from gan_lab.errors import ConfigError
from gan_lab.iteration import Iteration
from gan_lab.losses import WassersteinGP
from gan_lab.nets import DCGANDiscriminator, MLPDiscriminator
from gan_lab.nets.layers.packing import PackedDiscriminator, pack
from gan_lab.runner import build_run
from gan_lab.tricks import MinibatchDiscrimination, Packing
from tests.conftest import SMALL_MLP

RING8_MLP = ["model=gan_mlp", "data=ring8", *SMALL_MLP]


def _tiny_mlp(hidden=(2,)) -> MLPDiscriminator:
    """2-D points -> Linear -> LeakyReLU(0.2) -> Linear -> 1 logit, no dropout."""
    return MLPDiscriminator(None, None, hidden=hidden, maxout_pieces=1, input_dropout=0.0, dropout=0.0)


def test_pack_concatenates_consecutive_examples_along_channels_as_pacgan():
    x = torch.arange(4 * 2 * 1 * 2, dtype=torch.float32).view(4, 2, 1, 2)  # [B=4, C=2, H=1, W=2]
    packed = pack(x, 2)
    assert packed.shape == (2, 4, 1, 2)  # [B/m, m*C, H, W]
    assert torch.equal(packed[0], torch.cat([x[0], x[1]]))  # examples (0, 1): channels 0-1, then 2-3
    assert torch.equal(packed[1], torch.cat([x[2], x[3]]))  # examples (2, 3)
    assert packed[1, :, 0, 0].tolist() == [8.0, 10.0, 12.0, 14.0]  # x[2] channels 0, 1, then x[3] channels 0, 1
    points = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0], [11.0, 12.0]])
    assert pack(points, 3).tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]


def test_packed_dcgan_d_has_an_m_times_wider_first_convolution_and_one_decision_per_pack():
    d = Packing(m=2).transform_discriminator(DCGANDiscriminator(image_size=28, channels=3, width=8))
    first = d.net.body[0]
    assert isinstance(d, PackedDiscriminator) and first.in_channels == 6 and first.out_channels == 8
    assert float(first.bias.detach().abs().max()) == 0.0 and 0.015 < float(first.weight.detach().std()) < 0.025  # dcgan_init N(0, 0.02)
    logits, features = d(torch.randn(4, 3, 28, 28))
    assert logits.shape == (2,) and features.shape == (2, d.feature_dim) == (2, 16 * 7 * 7)
    assert d.pack_size == 2 and d.head is d.net.head


def test_packed_mlp_logit_is_the_hand_computed_w_x1_x2_plus_b_path():
    d = Packing(m=2).transform_discriminator(_tiny_mlp())
    first, out = d.net.body[2], d.net.head[1]
    assert first.in_features == 4  # 2 points x 2 coordinates
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0, -1.0, 2.0], [0.5, 0.5, 0.0, 0.0]]))
        first.bias.copy_(torch.tensor([0.1, -0.2]))
        out.weight.copy_(torch.tensor([[1.0, -1.0]]))
        out.bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0], [2.0, 4.0]])
    logits, features = d(x)
    # pack 0 = [1, 2, 3, -1]: W [x1; x2] + b = [1 - 3 - 2 + 0.1, 0.5 + 1 - 0.2] = [-3.9, 1.3] -> LeakyReLU [-0.78, 1.3]
    # pack 1 = [0, 0, 2, 4]: [-2 + 8 + 0.1, -0.2] = [6.1, -0.2] -> [6.1, -0.04]
    assert features.flatten().tolist() == pytest.approx([-0.78, 1.3, 6.1, -0.04])
    assert logits.tolist() == pytest.approx([-0.78 - 1.3 + 0.5, 6.1 + 0.04 + 0.5])  # [-1.58, 6.64]


def test_a_batch_that_does_not_split_into_packs_is_refused_with_the_batch_size_to_use(cfg_factory):
    with pytest.raises(ConfigError, match=r"tricks.packing.m=3 needs a batch size that is a multiple of 3.*data.batch_size=256: "
                                          r"set data.batch_size=255 \(or 258\)"):
        build_players(cfg_factory(*RING8_MLP, "trick=packing", "tricks.packing.m=3", "data.batch_size=256"))
    d = Packing(m=2).transform_discriminator(_tiny_mlp())
    with pytest.raises(ConfigError, match=r"a batch of 7 examples.*tricks.packing.m=2.*set data.batch_size=6 \(or 8\)"):
        d(torch.randn(7, 2))
    with pytest.raises(ConfigError, match="tricks.packing.m=0: the pack size must be a positive integer"):
        Packing(m=0)


def test_m_1_is_the_identity(cfg_factory):
    d = _tiny_mlp()
    keys = list(d.state_dict())
    assert Packing(m=1).transform_discriminator(d) is d and list(d.state_dict()) == keys
    players = build_players(cfg_factory("model=gan_mlp", "task=semi_supervised", "trick=packing", "tricks.packing.m=1", *SMALL_MLP))
    assert isinstance(players.discriminator, MLPDiscriminator)  # m=1 packs nothing, so the task accepts it


def test_semi_supervised_refuses_packing(cfg_factory):
    cfg = cfg_factory("model=gan_mlp", "task=semi_supervised", "trick=[packing,feature_matching]", *SMALL_MLP)
    with pytest.raises(ConfigError, match=r"task=semi_supervised needs K class logits for every example.*drop trick=packing"):
        build_tricks(cfg, build_objective(cfg))


def test_d_initialises_on_the_largest_multiple_of_m_of_the_500_examples():
    torch.manual_seed(0)
    d = MinibatchDiscrimination(num_kernels=4, kernel_dim=3).transform_discriminator(Packing(m=3).transform_discriminator(_tiny_mlp((8,))))
    x = torch.randn(500, 2)
    d.init_from_data(x)  # 500 = 3 * 166 + 2: 166 packs of the first 498 examples
    assert bool(d.head.initialized) and d.head is d.net.head
    with torch.no_grad():
        logits, _ = d(x[:498])
    # the head's weight-norm init (improved-gan nn.py l. 82-87) on exactly those 166 packs: mean 0, std 0.1
    assert logits.shape == (166,)
    assert float(logits.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(logits.std(unbiased=False)) == pytest.approx(0.1, rel=1e-4)


def test_wgan_gp_penalises_the_gradient_norm_of_the_whole_pack():
    d = Packing(m=2).transform_discriminator(_tiny_mlp((1,)))
    first, out = d.net.body[2], d.net.head[1]
    with torch.no_grad():  # pre-activation > 0 on the data: D(pack) = 2 (0.3 a + 0.4 d + 100), a gradient of [0.6, 0, 0, 0.8]
        first.weight.copy_(torch.tensor([[0.3, 0.0, 0.0, 0.4]]))
        first.bias.fill_(100.0)
        out.weight.fill_(2.0)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    # per pack: ||[0.6, 0, 0, 0.8]|| = 1, no penalty; per member it would be 10 * mean((0.6 - 1)^2, (0.8 - 1)^2) = 1.0
    assert WassersteinGP().d_penalty(d, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        out.weight.fill_(4.0)  # gradient [1.2, 0, 0, 1.6], norm 2: 10 * (2 - 1)^2
    assert WassersteinGP().d_penalty(d, real, fake).item() == pytest.approx(10.0)


def test_feature_matching_splits_the_joint_forward_into_real_and_fake_packs(cfg_factory):
    cfg = cfg_factory(*RING8_MLP, "trick=[packing,feature_matching]", "tricks.packing.m=3", "data.batch_size=12",
                      "model.discriminator.input_dropout=0", "model.discriminator.dropout=0")
    module = build_run(cfg).module
    real, fake = torch.randn(12, 2), torch.randn(12, 2)
    it = Iteration(1, real=real, fake=fake)
    with torch.no_grad():
        module.objective.discriminate_fake(module.discriminator, it)  # one forward of [real; fake]: 8 packs, 4 real then 4 fake
        real_logits, real_features = module.discriminator(real)
        fake_logits, fake_features = module.discriminator(fake)
    assert it.real_features.shape == it.fake_features.shape == (4, 16)
    assert torch.allclose(it.real_features, real_features) and torch.allclose(it.fake_features, fake_features)
    assert it.fake_logits is None  # feature matching reads features only: D's head waits until G's adversarial loss asks
    with torch.no_grad():
        assert torch.allclose(module.discriminator.logits(it.fake_features), fake_logits)


def test_the_packed_d_rebuilds_from_its_config_with_the_same_state_dict_keys(cfg_factory):
    cfg = cfg_factory(*RING8_MLP, "trick=[minibatch_discrimination,packing]", "tricks.packing.m=4", "data.batch_size=32")
    first, second = build_players(cfg).discriminator, build_players(cfg).discriminator
    state = first.state_dict()
    assert state["net.body.2.linear.weight"].shape == (16 * 5, 2 * 4)  # the maxout layer's 2 x 4 inputs
    assert "net.head.md.theta" in state and not any(k.startswith("head.") for k in state)
    second.load_state_dict(state)  # strict: same modules, same shapes
    x = torch.randn(32, 2)
    first.eval(), second.eval()
    with torch.no_grad():
        assert torch.equal(first(x)[0], second(x)[0])

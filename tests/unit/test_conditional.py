"""task=conditional: class-conditional BatchNorm, the projection logit and AC-GAN's class terms, by hand."""
import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.nets.base import Discriminator
from gan_lab.nets.layers.conditional_batchnorm import ConditionalBatchNorm2d
from gan_lab.nets.layers.projection import ProjectionDiscriminator
from gan_lab.objectives.conditional import acgan_class_loss


def test_conditional_batchnorm_is_batchnorm_then_the_class_affine():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(3, num_classes=4)
    with torch.no_grad():
        cbn.gain.weight.normal_()
        cbn.bias.weight.normal_()
    h, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 3, 1, 0])
    mean, var = h.mean(dim=(0, 2, 3), keepdim=True), h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = cbn.gain.weight[y][:, :, None, None] * (h - mean) / torch.sqrt(var + 1e-5) + cbn.bias.weight[y][:, :, None, None]
    torch.testing.assert_close(cbn(h, y), expected)


class _TinyD(Discriminator):
    def __init__(self):
        super().__init__()
        self.feature_dim, self.out_dim = 2, 1
        self.head = nn.Linear(2, 1)

    def features(self, x):
        return x


def test_projection_logit_is_psi_plus_the_class_embedding_dot_phi():
    d = ProjectionDiscriminator(_TinyD(), num_classes=3)
    with torch.no_grad():
        d.head.weight.copy_(torch.tensor([[1.0, -2.0]]))
        d.head.bias.fill_(0.5)
        d.embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]]))
    x, y = torch.tensor([[1.0, 1.0], [2.0, -1.0]]), torch.tensor([2, 1])
    logits, features = d(x, y)
    # psi = [1 - 2 + 0.5, 2 + 2 + 0.5] = [-0.5, 4.5]; <V_y, phi> = [2 + 3, -1]
    torch.testing.assert_close(logits, torch.tensor([4.5, 3.5]))
    torch.testing.assert_close(d(x)[0], torch.tensor([-0.5, 4.5]))


def test_acgan_class_loss_is_the_hand_computed_cross_entropy():
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    expected = (-(2 - torch.log(torch.exp(torch.tensor(2.0)) + 1)) - (0 - torch.log(1 + torch.exp(torch.tensor(1.0))))) / 2
    torch.testing.assert_close(acgan_class_loss(logits, y), expected)
    torch.testing.assert_close(acgan_class_loss(logits, y), F.cross_entropy(logits, y))


def test_class_match_is_the_share_of_samples_classified_as_their_class():
    from gan_lab.metrics.classifier_metrics import ClassMatch, _images_and_classes

    match = ClassMatch()
    # argmax per row: 0, 2, 1 | asked for 0, 2, 0 -> 2 of 3
    match.update(torch.tensor([[3.0, 1.0, 0.0], [0.0, 1.0, 5.0], [0.0, 2.0, 1.0]]), torch.tensor([0, 2, 0]))
    match.update(torch.tensor([[0.0, 0.0, 9.0]]), torch.tensor([2]))  # one more match: 3 of 4
    assert match.compute() == 0.75
    images = torch.zeros(2, 1, 4, 4)
    assert _images_and_classes(images)[1] is None
    assert _images_and_classes((images, torch.tensor([1, 0])))[1].tolist() == [1, 0]


def test_training_grid_of_a_conditional_g_has_class_r_in_row_r_and_the_same_codes_in_every_row():
    from types import SimpleNamespace

    from gan_lab.callbacks.samples import class_rows

    k = 3

    def generate(z, batch_size):  # one "image" per sample: (code id, class), class i mod K as G(z) draws it
        assert batch_size >= len(z)
        return torch.stack([z[:, 0], torch.arange(len(z)).float() % k], dim=1)[:, :, None, None]

    module = SimpleNamespace(generator=SimpleNamespace(num_classes=k), generate=generate)
    fixed_z = torch.arange(10.0)[:, None].repeat(1, 4)  # code c = [c, c, c, c]
    images, nrow = class_rows(module, fixed_z)
    assert nrow == 4  # ceil(sqrt(10)) codes per row
    grid = images[:, :, 0, 0].view(k, nrow, 2)
    assert grid[..., 1].tolist() == [[r] * nrow for r in range(k)]  # row r: class r
    assert grid[..., 0].tolist() == [[0, 1, 2, 3]] * k  # every row the same codes


def test_per_class_statistics_and_intra_fid_by_hand():
    """ClassFeatureStatistics' running sums give each class's mean and unbiased covariance (torch.cov);
    a G whose features of class k are the real features of class k has per-class FID 0, and one shifted by
    a vector d in class 1 only has FID |d|^2 there and intra-FID |d|^2 / K (Fréchet distance of equal covariances)."""
    from gan_lab.metrics.statistics import ClassFeatureStatistics, class_statistics, frechet_distance

    g = torch.Generator().manual_seed(0)
    feats, classes = torch.randn(60, 3, generator=g, dtype=torch.float64), torch.arange(60) % 3
    stats = ClassFeatureStatistics(3, 3)
    stats.update(feats[:25], classes[:25])
    stats.update(feats[25:], classes[25:])
    out = stats.compute()
    real = class_statistics(feats, classes, 3)
    for k in range(3):
        assert out["n"][k] == 20
        torch.testing.assert_close(out["mean"][k], feats[classes == k].mean(0))
        torch.testing.assert_close(out["cov"][k], torch.cov(feats[classes == k].T))
        assert abs(frechet_distance(out["mean"][k], out["cov"][k], *real[k])) < 1e-8
    shift = torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)  # |d|^2 = 25
    moved = ClassFeatureStatistics(3, 3)
    moved.update(feats + shift * (classes == 1)[:, None], classes)
    fids = [frechet_distance(m, c, *real[k]) for k, (m, c) in enumerate(zip(moved.compute()["mean"], moved.compute()["cov"]))]
    assert abs(fids[1] - 25.0) < 1e-8 and abs(fids[0]) < 1e-8 and abs(sum(fids) / 3 - 25.0 / 3) < 1e-8

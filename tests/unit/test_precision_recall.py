"""Precision / recall (Kynkäänniemi et al. 2019, k = 3) and density / coverage (Naeem et al. 2020,
k = 5) on hand-computed point sets, torch-fidelity's own function, and the evaluator wiring."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from gan_lab.metrics.precision_recall import (density_coverage, enough, gather_features, knn_radii, prdc,
                                              precision_recall, real_subset)


def on_x_axis(*xs: float, dtype=torch.float32) -> torch.Tensor:
    """Points (x, 0) of the plane: distances are |x - x'|, easy to work out by hand."""
    return torch.tensor([[x, 0.0] for x in xs], dtype=dtype)


# Real X = 0, 1, 2, 3, 4 and an outlier at 100; generated Y = -10, -3, 1.5, 20.
#
# Real k = 3 radii (3rd nearest other real point):
#   X=0: 1,2,3,4,100 -> 3  ball [-3, 3]      X=1: 1,1,2,3,99 -> 2  ball [-1, 3]
#   X=2: 1,1,2,2,98  -> 2  ball [0, 4]       X=3: 1,1,2,3,97 -> 2  ball [1, 5]
#   X=4: 1,2,3,4,96  -> 3  ball [1, 7]       X=100: 96,97,98,99,100 -> 98  ball [2, 198]
# Precision (generated points inside some real ball): -10 no; -3 yes, on the boundary of X=0's ball
# (|-3 - 0| = 3 <= 3: closed balls, torch-fidelity's <=); 1.5 yes; 20 yes, only through the outlier's
# huge ball (Naeem et al. §3.1's point about outliers) -> 3/4.
# Generated k = 3 radii (with 4 points: the farthest other one):
#   -10: 7, 11.5, 30 -> 30 ball [-40, 20]    -3: 4.5, 7, 23 -> 23 ball [-26, 20]
#   1.5: 4.5, 11.5, 18.5 -> 18.5 [-17, 20]   20: 18.5, 23, 30 -> 30 ball [-10, 50]
# Recall (real points inside some generated ball): 0, 1, 2, 3, 4 yes; 100 no -> 5/6.
# Real k = 5 radii (with 6 points: the farthest other one):
#   X=0: 100 [-100, 100]  X=1: 99 [-98, 100]  X=2: 98 [-96, 100]  X=3: 97 [-94, 100]  X=4: 96 [-92, 100]
#   X=100: 100 [0, 200]
# Balls holding each generated point: -10: the five small-x balls, not [0, 200] -> 5; -3: 5; 1.5: 6; 20: 6.
# Density = (5 + 5 + 6 + 6) / (k M) = 22 / (5 * 4) = 11/10; coverage: every real ball holds one -> 6/6.
REAL = (0.0, 1.0, 2.0, 3.0, 4.0, 100.0)
FAKE = (-10.0, -3.0, 1.5, 20.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hand_computed_precision_recall_density_coverage(dtype):
    real, fake = on_x_axis(*REAL, dtype=dtype), on_x_axis(*FAKE, dtype=dtype)
    assert knn_radii(real, 3).tolist() == [3, 2, 2, 2, 3, 98]
    assert knn_radii(real, 5).tolist() == [100, 99, 98, 97, 96, 100]
    assert knn_radii(fake, 3).tolist() == [30, 23, 18.5, 30]
    # exact: each value is its integer count over the total (Python's correctly rounded int / int),
    # not torch-fidelity's float32 mean (which gives 0.8333333134651184 for 5/6)
    assert prdc(real, fake) == {"precision": 3 / 4, "recall": 5 / 6, "density": 22 / 20, "coverage": 6 / 6}


def test_hand_computed_density_coverage_with_k1_and_closed_balls():
    """k = 1 in the plane (3-4-5 distances, all exact in float32).

    Real radii (nearest other real point): (0,0): 3 (to (3,0)); (3,0): 3; (0,4): 4 (to (0,0)); (10,0): 7.
    Generated points and the real balls holding them:
      (1,0):  (0,0) at 1 <= 3, (3,0) at 2 <= 3; (0,4) at sqrt(17) > 4; (10,0) at 9 > 7   -> 2
      (3,3):  (3,0) at 3 <= 3 (boundary), (0,4) at sqrt(10) <= 4; (0,0) at sqrt(18) > 3  -> 2
      (0,8):  (0,4) at 4 <= 4 (boundary); the others are farther than 8 > radius        -> 1
      (20,0): (10,0) at 10 > 7                                                          -> 0
    density = (2 + 2 + 1 + 0) / (1 * 4) = 5/4; coverage: (10,0)'s ball is empty -> 3/4.
    With open balls (the authors' reference code tests <) density would be 3/4: the boundary points count.
    """
    real = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [10.0, 0.0]])
    fake = torch.tensor([[1.0, 0.0], [3.0, 3.0], [0.0, 8.0], [20.0, 0.0]])
    assert knn_radii(real, 1).tolist() == [3, 3, 4, 7]
    assert density_coverage(real, fake, k=1) == {"density": 5 / 4, "coverage": 3 / 4}


@pytest.mark.parametrize("seed, n, m, dim, batch_size, grid", [
    (0, 300, 200, 16, 10_000, False),  # one block
    (1, 120, 90, 8, 32, False),  # several blocks of rows and columns
    (2, 40, 30, 3, 7, True),  # integer grid points: many exact ties on the ball boundaries
])
def test_precision_recall_count_what_torch_fidelity_counts(seed, n, m, dim, batch_size, grid):
    """The same counts as torch-fidelity's own prc on the same features: its float32 mean times the
    set size is our count (prc_features_to_metric takes input1 = generated, input2 = real)."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(n, dim, generator=g), torch.randn(m, dim, generator=g) * 1.3 + 0.4
    if grid:
        real, fake = real.mul(1.5).round(), fake.mul(1.5).round()
    ours = precision_recall(real, fake, batch_size=batch_size)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1
    theirs = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=batch_size, save_cpu_ram=True,
                                    verbose=False)
    assert ours["precision"] * m == round(theirs["precision"] * m)
    assert ours["recall"] * n == round(theirs["recall"] * n)
    both = prdc(real, fake, batch_size=batch_size)  # one pass for all four: the same precision / recall
    assert (both["precision"], both["recall"]) == (ours["precision"], ours["recall"])
    assert both["density"] == density_coverage(real, fake, batch_size=batch_size)["density"]


def brute_force_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[Fraction, Fraction]:
    """The definitions literally, one pair at a time, in float64."""
    real, fake = real.double(), fake.double()
    radii = [sorted(float((x - other).norm()) for other in real)[k] for x in real]  # [0] is the point itself
    inside = [[float((y - x).norm()) <= r for x, r in zip(real, radii)] for y in fake]
    density = Fraction(sum(map(sum, inside)), k * len(fake))
    coverage = Fraction(sum(any(row[i] for row in inside) for i in range(len(real))), len(real))
    return density, coverage


def test_density_coverage_match_the_definitions_and_do_not_depend_on_batching():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(60, 5, generator=g, dtype=torch.float64), torch.randn(45, 5, generator=g, dtype=torch.float64) + 0.5
    expected = brute_force_density_coverage(real, fake, 5)
    assert 0 < expected[1] < 1  # a case worth comparing: some real balls are empty
    for batch_size in (7, 10_000):
        assert density_coverage(real, fake, batch_size=batch_size) == {"density": float(expected[0]), "coverage": float(expected[1])}
    assert precision_recall(real, fake, batch_size=7) == precision_recall(real, fake)


def test_identical_sets_and_disjoint_sets():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20, 3, generator=g)
    same = prdc(x, x.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    # every ball B(X_i, NND_k(X_i)) holds X_i and its k nearest neighbours, k + 1 of the N fakes:
    # density = N (k + 1) / (k N) = 6/5. Each k-th neighbour sits exactly on the boundary, so this
    # needs d(X_i, X_j) == d(X_j, X_i) bit for bit: true for torch.cdist's direct path (up to 25
    # rows); its matmul path (more rows) rounds the two differently and a few boundary points of
    # identical sets fall either way (as in torch-fidelity).
    assert same["density"] == 6 / 5
    far = prdc(x, x + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="more than 3 points"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))
    with pytest.raises(ValueError, match="more than 5 points"):
        density_coverage(torch.randn(5, 2), torch.randn(10, 2))
    with pytest.raises(ValueError, match=r"\[N, F\]"):
        prdc(torch.randn(10, 2), torch.randn(10, 3))
    assert enough(6, 4) and not enough(5, 100) and not enough(100, 3)


def test_real_subset_is_fixed_and_gather_is_the_identity_without_ranks():
    x = torch.arange(100.0).unsqueeze(1)
    assert real_subset(x, 100) is x and real_subset(x, 500) is x
    a, b = real_subset(x, 30), real_subset(x, 30)
    assert torch.equal(a, b) and a.shape == (30, 1) and len(set(a.squeeze(1).tolist())) == 30
    assert not torch.equal(a, x[:30])  # a spread-out subset, not the first rows
    assert gather_features(x, world_size=1) is x


@pytest.fixture(scope="module")
def mnist5k(gan_lab_cache):
    from gan_lab.data.datasets import load_mnist5k

    return load_mnist5k(image_size=28)


def test_classifier_metrics_report_precision_recall_density_coverage(mnist5k):
    """metrics=classifier on the digit classifier's features: held-out digits against the train
    split score high, noise has no recall or coverage; real features are cached with the statistics."""
    from gan_lab.metrics.classifier_metrics import ClassifierEvaluator

    path = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000).stats_path()
    stats = torch.load(path, weights_only=True)
    torch.save({"mean": stats["mean"], "cov": stats["cov"]}, path)  # a file of the previous version: no features
    first = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000)
    second = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000)
    assert (first.real_extractions, second.real_extractions) == (1, 0)  # rewritten with the features, then a hit
    assert set(torch.load(path, weights_only=True)) == {"mean", "cov", "features"}
    assert second.real_features.shape == (1000, second.classifier.feature_dim)  # 1,000 of the 4,000: as many as generated
    assert "1000 generated vs 1000 real (a fixed random subset (seed 0) of the 4000" in second.protocol["prdc"]

    position = [0]

    def heldout(n: int) -> torch.Tensor:
        out = mnist5k.val_x[position[0]:position[0] + n]
        position[0] += n
        return out

    real = second.evaluate(heldout)
    g = torch.Generator().manual_seed(0)
    noise = second.evaluate(lambda n: torch.rand(n, 1, 28, 28, generator=g) * 2 - 1)
    # held-out digits vs 1,000 train digits: measured 0.926, 0.893, 1.044, 0.98
    assert real["metrics/clf_precision1k"] > 0.85 and real["metrics/clf_recall1k"] > 0.85
    assert 0.85 < real["metrics/clf_density1k"] < 1.2 and real["metrics/clf_coverage1k"] > 0.9
    # noise collapses to one spot of feature space (2 of 10 classes predicted): no recall or coverage
    # (measured 0 and 0.008) and a third of the real density. Precision stays ~1 (measured 0.999): the
    # spot lies inside the large k-NN balls of a few outlying real digits, the weakness of precision
    # that density fixes (Naeem et al. 2020 §3.1).
    assert noise["metrics/clf_recall1k"] < 0.02 and noise["metrics/clf_coverage1k"] < 0.05
    assert noise["metrics/clf_density1k"] < 0.5 * real["metrics/clf_density1k"]


def test_points_keep_their_mode_metrics_only():
    from tests.conftest import load_mixture, mixture_means
    from gan_lab.metrics.classifier_metrics import ClassifierEvaluator

    data = load_mixture("ring8", std=0.01, num_train=100, num_val=100)
    evaluator = ClassifierEvaluator("ring8", data, num_samples=80, std=0.01)
    values = evaluator.evaluate(lambda n: mixture_means("ring8").repeat(n // 8, 1))
    assert set(values) == {"metrics/modes_covered80", "metrics/high_quality_fraction80"}
    assert "prdc" not in evaluator.protocol

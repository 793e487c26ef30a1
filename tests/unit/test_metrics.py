"""FID / IS / class-coverage math, the digit classifier and the real-statistics cache."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lab.data.datasets import load_mnist5k
from tests.conftest import load_mixture, mixture_means
from gan_lab.errors import ConfigError
from gan_lab.metrics.classifier import load_or_train, train_classifier
from gan_lab.metrics.classifier_metrics import ClassifierEvaluator
from gan_lab.metrics.scorer import count_tag, shard
from gan_lab.metrics.statistics import SampleStatistics, frechet_distance, mean_cov


@pytest.fixture(scope="session")
def mnist5k(gan_lab_cache):
    return load_mnist5k(28)


def feeder(x: torch.Tensor):
    """A ``generate(n)`` that hands out consecutive rows of ``x``."""
    position = [0]

    def take(n: int) -> torch.Tensor:
        out = x[position[0]:position[0] + n]
        position[0] += n
        return out

    return take


def test_fid_of_identical_statistics_is_zero():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    mean, cov = mean_cov(x)
    assert abs(frechet_distance(mean, cov, mean, cov)) < 1e-9


def test_fid_matches_closed_form_for_diagonal_gaussians():
    # Heusel et al. eq. (6) with diagonal covariances: |mu1-mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2))
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + (1 + 4 - 4) + (4 + 1 - 4) + (9 + 1 - 6)  # = 11
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected, abs=1e-9)


def test_running_sums_give_the_sample_mean_and_covariance():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1)) * 3 + 2
    stats = SampleStatistics(5, 3)
    for chunk in x.split(64):
        stats.update(chunk, torch.full((len(chunk), 3), 1 / 3))
    out = stats.compute()
    mean, cov = mean_cov(x)
    torch.testing.assert_close(out["mean"], mean)
    torch.testing.assert_close(out["cov"], cov)
    assert out["n"] == 300


@pytest.mark.parametrize("k", [2, 10])
def test_inception_score_of_confident_uniform_predictions_is_k(k):
    probs = torch.eye(k).repeat(7, 1)  # every class equally often, each prediction one-hot
    stats = SampleStatistics(2, k)
    stats.update(torch.randn(len(probs), 2), probs)
    out = stats.compute()
    assert float(out["is"]) == pytest.approx(k, rel=1e-6)
    assert float(out["classes_covered"]) == k
    assert float(out["class_kl_uniform"]) == pytest.approx(0.0, abs=1e-9)


def test_confident_share_counts_samples_whose_top_class_has_p_above_0_9():
    probs = torch.tensor([[0.95, 0.05, 0.0], [0.9, 0.1, 0.0], [0.2, 0.1, 0.7], [0.0, 0.01, 0.99]])  # 2 of 4 above 0.9
    stats = SampleStatistics(2, 3)
    stats.update(torch.randn(2, 2), probs[:2])
    stats.update(torch.randn(2, 2), probs[2:])
    assert float(stats.compute()["confident"]) == 0.5  # p = 0.9 exactly is not above


def test_inception_score_of_constant_predictions_is_one():
    probs = torch.softmax(torch.tensor([[2.0, 0.5, -1.0]]), 1).repeat(20, 1)
    stats = SampleStatistics(2, 3)
    stats.update(torch.randn(20, 2), probs)
    out = stats.compute()
    assert float(out["is"]) == pytest.approx(1.0, abs=1e-9)
    assert float(out["classes_covered"]) == 1
    assert float(out["class_kl_uniform"]) == pytest.approx(math.log(3), rel=1e-9)  # one class of 3: KL = log 3


def test_names_and_shards():
    assert count_tag(5000) == "5k" and count_tag(2500) == "2500"
    assert [shard(10, r, 3) for r in range(3)] == [4, 3, 3]


def test_classifier_training_is_deterministic(mnist5k):
    a = train_classifier(mnist5k.train_x[:256], mnist5k.train_y[:256], 10, seed=3, epochs=1)
    b = train_classifier(mnist5k.train_x[:256], mnist5k.train_y[:256], 10, seed=3, epochs=1)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_classifier_accuracy_and_cache(mnist5k):
    model, info = load_or_train("mnist5k", mnist5k, seed=0)
    assert info["val_accuracy"] >= 0.97  # on the 1,000 held-out digits
    again, info2 = load_or_train("mnist5k", mnist5k, seed=0)
    assert info2["cached"] and info2["val_accuracy"] == info["val_accuracy"]
    for p, q in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p, q)


def test_real_statistics_are_cached_and_real_digits_score_well(mnist5k):
    ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000).stats_path().unlink(missing_ok=True)  # start cold
    first = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000)
    second = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000)
    assert (first.real_extractions, second.real_extractions) == (1, 0)  # second: cache hit
    torch.testing.assert_close(first.real_cov, second.real_cov)

    real = second.evaluate(feeder(mnist5k.val_x))  # the 1,000 held-out digits, in batches
    noise = second.evaluate(lambda n: torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert real["metrics/clf_fid1k"] < 0.05 * noise["metrics/clf_fid1k"]
    assert real["metrics/clf_is1k"] > 8.5  # 10 balanced classes, ~98% confident
    assert real["metrics/clf_classes_covered1k"] == 10


def test_real_data_floor_is_the_fid_of_the_held_out_digits(mnist5k):
    evaluator = ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000)
    with torch.no_grad():
        feats = evaluator.classifier(mnist5k.val_x)[1]
    mean, cov = feats.mean(0), torch.cov(feats.T.double()).float()  # the held-out split, by hand
    floor = evaluator.real_data_floor
    assert floor["images"] == 1000 and floor["clf_fid"] == pytest.approx(
        frechet_distance(mean, cov, evaluator.real_mean, evaluator.real_cov), rel=1e-3)
    assert 0 < floor["clf_fid"] < 2 and evaluator.protocol["real_data_floor"] == floor  # summary.json carries it
    with torch.no_grad():  # the held-out digits' confident share, by hand
        by_hand = float((evaluator.classifier(mnist5k.val_x)[0].softmax(1).max(1).values > 0.9).double().mean())
    assert floor["clf_confident"] == pytest.approx(by_hand) and 0.9 < by_hand <= 1.0
    assert ClassifierEvaluator("mnist5k", mnist5k, num_samples=1000, real_split="val").real_data_floor is None


def test_fid_refuses_fewer_samples_than_feature_dims(mnist5k):
    with pytest.raises(ConfigError, match="metrics.num_samples=1000"):
        ClassifierEvaluator("mnist5k", mnist5k, num_samples=10)


def test_unlabelled_dataset_is_refused_with_the_fix():
    """Decided by the data config's labels (data.num_classes null: celeba, folder), not by the dataset's name."""
    from gan_lab.metrics.classifier_metrics import ClassifierMetrics

    with pytest.raises(ConfigError, match="data=celeba has no labels.*metrics=none"):
        ClassifierMetrics("celeba", num_samples=1000, num_classes=None)
    assert ClassifierMetrics("my_digits", num_samples=1000, num_classes=10).dataset == "my_digits"
    unlabelled = load_mnist5k(28)
    unlabelled.train_y, unlabelled.num_classes = None, None
    with pytest.raises(ConfigError, match="data=my_images has no labels"):
        ClassifierEvaluator("my_images", unlabelled, num_samples=1000)


def test_mode_coverage_on_ring8():
    data = load_mixture("ring8", std=0.01, num_train=100, num_val=100)
    evaluator = ClassifierEvaluator("ring8", data, num_samples=80, std=0.01)
    means = mixture_means("ring8")
    all_modes = evaluator.evaluate(lambda n: means.repeat(n // 8, 1))
    one_mode = evaluator.evaluate(lambda n: means[:1].repeat(n, 1))
    assert all_modes == {"metrics/modes_covered80": 8.0, "metrics/high_quality_fraction80": 1.0}
    assert one_mode["metrics/modes_covered80"] == 1.0


def test_nearest_l1_against_hand_computed_distances():
    from gan_lab.metrics.memorization import nearest_l1

    train = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
    queries = torch.tensor([[0.9, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    dists, idx = nearest_l1(queries, train, chunk=2)  # chunks must not change the answer
    # |0.9-1|+|1-1| = 0.1 -> /2 dims; [-1,0]: to [0,0] 1, to [-1,1] 1 (first wins); [0,0] itself
    assert torch.allclose(dists, torch.tensor([0.05, 0.5, 0.0]))
    assert idx.tolist() == [1, 0, 0]


def test_memorization_report_flags_copied_training_images():
    from gan_lab.metrics.memorization import memorization_report

    g = torch.Generator().manual_seed(0)
    train, heldout = torch.rand(50, 1, 4, 4, generator=g) * 2 - 1, torch.rand(20, 1, 4, 4, generator=g) * 2 - 1
    copied, pairs = memorization_report(train[:20], train, heldout)
    assert copied["metrics/nn_l1_generated"] == 0.0 and copied["metrics/nn_l1_ratio"] == 0.0
    assert torch.equal(pairs[:8], pairs[8:])  # every sample's nearest neighbour is itself
    fresh, _ = memorization_report(torch.rand(20, 1, 4, 4, generator=g) * 2 - 1, train, heldout)
    assert 0.5 < fresh["metrics/nn_l1_ratio"] < 2.0  # new samples sit as far as held-out real images


def test_metric_goals_and_fid_names_match_name_parts_not_substrings():
    """'fid' inside 'confident' makes neither an FID nor a lower-is-better metric (the progress bar, the
    sweep's plot and W&B's summary read these)."""
    from gan_lab.metrics.goals import goal, is_fid

    assert [is_fid(f"metrics/{n}") for n in ("clf_fid5k", "fid", "clf_intra_fid5k", "clf_fid5k_class_3", "clf_confident5k")] == [
        True, True, True, True, False]
    assert {n: goal(f"metrics/{n}") for n in ("clf_fid5k", "clf_confident5k", "stacked_kl26k", "stacked_modes_covered26k",
                                                "clf_class_kl5k", "kid", "clf_is5k")} == {
        "clf_fid5k": "min", "clf_confident5k": None, "stacked_kl26k": "min", "stacked_modes_covered26k": "max",
        "clf_class_kl5k": "min", "kid": "min", "clf_is5k": "max"}

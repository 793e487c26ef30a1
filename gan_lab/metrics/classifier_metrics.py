"""``metrics=classifier``: score generated samples on a digit classifier the project trains (FID / IS /
class coverage / precision-recall), by 2-D mode coverage, or by Stacked MNIST's mode count
(``gan_lab.metrics.stacked``).

:class:`ClassifierMetrics` is the config's ``_target_`` (its options; checks before any data is
read); its ``build`` makes the :class:`ClassifierEvaluator` (or, on Stacked MNIST, the :class:`StackedEvaluator`) of a
loaded dataset, for the training
callback (``gan_lab/callbacks/evaluation.py``) and ``python -m gan_lab.evaluate`` alike.
Real statistics (mean, covariance and the features themselves) are computed once per (dataset,
split, resolution, extractor, count) and cached on disk under ``cache_dir()/real_stats``. Names
follow the protocol (StyleGAN2-ADA convention): ``metrics/clf_fid5k`` = FID on the digit
classifier's features, 5,000 generated samples vs the whole train split.

Images also get the k-NN metrics of ``gan_lab.metrics.precision_recall`` on the classifier's
penultimate features: ``metrics/clf_precision5k``, ``clf_recall5k`` (Kynkäänniemi et al. 2019, k = 3),
``clf_density5k``, ``clf_coverage5k`` (Naeem et al. 2020, k = 5), 5,000 generated vs at most as many
real features (a fixed subset of a larger train split). Under DDP the generated features are
all-gathered (``torch.distributed.all_gather``, uneven shards padded) and every rank computes them.
2-D points keep their mode metrics only.

A class-conditional G (``task=conditional``) is asked for known classes: ``generate(n)`` then returns
``(images, classes)`` and ``metrics/clf_class_match5k`` is the share of samples the classifier assigns to
the class they were generated for (argmax of its logits; the accuracy of generated samples that Odena et al.
2017 §4.1 measure with a pre-trained Inception net). Higher is better, chance is 1/K; real held-out digits
score about the classifier's held-out accuracy. ``metrics/clf_intra_fid5k`` is the mean over classes of the
FID between the samples generated for class k and the real images of class k (Miyato & Koyama 2018 §4.1's
intra-FID, here on the classifier's features), and ``metrics/clf_fid5k_class_k`` each class's FID: with
5,000 samples over 10 classes each is an FID of 500 samples, so it sits above the overall FID by FID's
small-sample bias (compare them with each other, not with ``clf_fid5k``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from torchmetrics import Metric

from gan_lab.data.datasets import cache_dir, write_cache
from gan_lab.errors import ConfigError
from gan_lab.metrics import precision_recall as prc
from gan_lab.metrics.classifier import load_or_train
from gan_lab.metrics.modes import mode_metrics
from gan_lab.metrics.scorer import Scorer, count_tag, shard
from gan_lab.metrics.stacked import ModeHistogram, channel_digits, expected_kl_of_uniform_draws, modes_of
from gan_lab.metrics.statistics import CONFIDENT, ClassFeatureStatistics, SampleStatistics, class_statistics, frechet_distance, mean_cov


class ClassMatch(Metric):
    """Running count of generated samples whose classifier class (argmax of the logits) is the class they
    were generated for (a torchmetrics ``Metric``: the counts are summed over DDP ranks; every rank must
    call ``compute``); ``compute`` returns their share."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("matches", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, classes: torch.Tensor) -> None:
        self.matches += (logits.argmax(1) == classes.to(logits.device)).sum()
        self.count += classes.numel()

    def compute(self) -> float:
        return float(self.matches / self.count) if self.count > 0 else float("nan")


def check_labels(dataset: str, num_classes: int | None) -> None:
    """The classifier metrics need class labels to train their classifier (``data.num_classes``)."""
    if not num_classes:
        raise ConfigError(
            f"metrics=classifier needs a labelled digit-like dataset, data={dataset} has no labels: "
            "use metrics=inception (FID / IS / KID / precision-recall on InceptionV3) or metrics=none"
        )


class ClassifierEvaluator:
    """The project's CPU metrics of one dataset (``metrics=classifier``): classifier FID / IS / class
    coverage / precision-recall for images, PacGAN's mode coverage for 2-D points. Build once, call
    ``evaluate`` many times."""

    scores_classes = True  # ``generate(n)`` may return (images, classes): metrics/clf_class_match

    def __init__(self, dataset: str, data, num_samples: int, batch_size: int = 500, classifier_seed: int = 0,
                 std: float | None = None, real_split: str = "train", cache_dir: str | Path | None = None) -> None:
        self.dataset, self.data, self.num_samples, self.batch_size = dataset, data, int(num_samples), int(batch_size)
        self.cache_dir = cache_dir  # paths.cache_dir (None: $GAN_LAB_CACHE or ~/.cache/gan-lab)
        self.tag = count_tag(self.num_samples)
        self.real_split = real_split
        self.real_extractions = 0  # how often real features were computed (0 on a cache hit)
        self._real_class_stats = None  # per-class real statistics, the first time a conditional G is scored
        if data.kind == "points":
            if "means" not in data.info:
                raise ConfigError(f"metrics on 2-D data need a Gaussian mixture with known modes (data=ring8 or data=grid25), got data={dataset}")
            self.means, self.std = data.info["means"], float(std)
            self.protocol = {"extractor": "none (2-D points, PacGAN §5.1 mode coverage)", "num_samples": self.num_samples}
            return
        if data.train_y is None or data.num_classes is None:
            check_labels(dataset, None)
        self.classifier, info = load_or_train(dataset, data, seed=classifier_seed, cache=cache_dir)
        self.classifier_seed = classifier_seed
        dim = self.classifier.feature_dim
        if self.num_samples < dim:
            raise ConfigError(
                f"metrics.num_samples={self.num_samples} is fewer than the {dim} feature dimensions: FID's covariance "
                f"would be singular; set metrics.num_samples={max(1000, dim)} or more"
            )
        self.real_mean, self.real_cov, features = self.real_statistics()
        self.real_features = prc.real_subset(features, self.num_samples)  # the k-NN metrics' real set
        n = int(self.real_features.shape[0])
        self.real_data_floor = self.held_out_fid()
        self.protocol = {
            "extractor": f"digit classifier ({dim}-d penultimate features, {100 * info['val_accuracy']:.1f}% held-out accuracy)",
            "classifier_path": info["path"],
            "num_samples": self.num_samples,
            "real": f"{dataset} {real_split} split ({self.num_real} images)",
            "prdc": prc.protocol(n, self.num_real, self.num_samples) if prc.enough(n, self.num_samples) else
            f"skipped: k-NN metrics need more than 5 real and 3 generated samples ({n} and {self.num_samples})",
        }
        if self.real_data_floor is not None:
            self.protocol["real_data_floor"] = self.real_data_floor

    @torch.no_grad()
    def held_out_fid(self) -> dict | None:
        """The real-data floor: the same FID (and ``clf_confident``, the share the classifier labels with
        p > 0.9) for the held-out real images (the validation split, never
        trained on) against the real statistics. Held-out digits are what a perfect G would draw, so
        no G can be expected below it; it is computed on the validation split's size (1,000 for
        mnist5k), and FID's bias grows as the count falls, so it is an upper estimate of the floor at
        ``num_samples``. None without a validation split or when scoring against it."""
        val = self.data.val_x
        if val is None or self.real_split != "train" or val.shape[0] <= self.classifier.feature_dim:
            return None
        device = next(self.classifier.parameters()).device
        logits, feats = (torch.cat(parts) for parts in zip(*(self.classifier(chunk.to(device)) for chunk in val.split(self.batch_size))))
        mean, cov = mean_cov(feats.cpu())
        confident = float((logits.softmax(1).max(1).values > CONFIDENT).double().mean())
        return {"clf_fid": frechet_distance(mean, cov, self.real_mean, self.real_cov), "clf_confident": confident,
                "images": int(val.shape[0]), "what": f"{self.dataset} validation split vs the {self.real_split} split"}

    @property
    def real_images(self) -> torch.Tensor:
        return self.data.train_x if self.real_split == "train" else self.data.val_x

    @property
    def num_real(self) -> int:
        return int(self.real_images.shape[0])

    def stats_path(self) -> Path:
        size = int(self.real_images.shape[-1])
        return cache_dir(self.cache_dir) / "real_stats" / f"{self.dataset}_{self.real_split}_{size}px_clf-seed{self.classifier_seed}_n{self.num_real}.pt"

    @torch.no_grad()
    def real_statistics(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, covariance, features [num_real, D]) of the real images, cached together in one file:
        a file of an older version without the features counts as a miss and is rewritten."""
        path = self.stats_path()
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if "features" in saved:
                return saved["mean"], saved["cov"], saved["features"]
        self.real_extractions += 1
        feats = torch.cat([self.classifier(chunk)[1] for chunk in self.real_images.split(self.batch_size)]).cpu()
        mean, cov = mean_cov(feats)
        write_cache({"mean": mean, "cov": cov, "features": feats}, path)
        return mean, cov, feats

    @torch.no_grad()
    def evaluate(self, generate: Callable[[int], torch.Tensor], rank: int = 0, world_size: int = 1,
                 gather: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """Score ``num_samples`` samples; ``generate(n)`` returns n samples of this rank's share.

        Under DDP every rank calls this; image statistics are summed across ranks by torchmetrics,
        image features are all-gathered for the k-NN metrics (``precision_recall.gather_features``,
        any shard sizes), 2-D samples are concatenated with ``gather`` (e.g. ``LightningModule.all_gather``).
        A conditional G's ``generate(n)`` returns ``(images, classes)``: ``metrics/clf_class_match`` is added
        (:class:`ClassMatch`); it must do so on every call.
        """
        n_local = shard(self.num_samples, rank, world_size)
        if self.data.kind == "points":
            samples = generate(n_local)
            if gather is not None and world_size > 1:
                samples = gather(samples).reshape(-1, 2)  # needs equal shards: num_samples divisible by world size
            modes = mode_metrics(samples.cpu(), self.means, self.std)
            return {f"metrics/modes_covered{self.tag}": float(modes["modes_covered"]),
                    f"metrics/high_quality_fraction{self.tag}": modes["high_quality_fraction"]}
        device = next(self.classifier.parameters()).device
        stats = SampleStatistics(self.classifier.feature_dim, self.classifier.num_classes).to(device)
        done, fake, match, per_class = 0, [], None, None
        while done < n_local:
            n = min(self.batch_size, n_local - done)
            images, classes = _images_and_classes(generate(n))
            logits, feats = self.classifier(images.to(device))
            if classes is not None:
                if match is None:
                    match = ClassMatch().to(device)
                    per_class = ClassFeatureStatistics(self.classifier.feature_dim, self.classifier.num_classes).to(device)
                match.update(logits, classes)
                per_class.update(feats, classes)
            stats.update(feats, logits.softmax(1))
            fake.append(feats)
            done += n
        out = stats.compute()  # all-reduces the sums when torch.distributed is initialised
        fid = frechet_distance(out["mean"].cpu(), out["cov"].cpu(), self.real_mean, self.real_cov)
        t = self.tag
        values = {
            f"metrics/clf_fid{t}": fid,
            f"metrics/clf_is{t}": float(out["is"]),
            f"metrics/clf_classes_covered{t}": float(out["classes_covered"]),
            f"metrics/clf_class_kl{t}": float(out["class_kl_uniform"]),
            f"metrics/clf_confident{t}": float(out["confident"]),
        }
        fake = torch.cat(fake) if fake else torch.zeros(0, self.classifier.feature_dim, device=device)
        fake = prc.gather_features(fake, world_size)  # a collective: every rank calls it
        if prc.enough(self.real_features.shape[0], fake.shape[0]):
            scores = prc.prdc(self.real_features.to(fake.device), fake)
            values.update({f"metrics/clf_{name}{t}": value for name, value in scores.items()})
        if match is not None:
            values[f"metrics/clf_class_match{t}"] = match.compute()  # sums the counts over DDP ranks
            values.update(self.class_fids(per_class.compute()))  # all-reduces the sums under DDP
        return values

    def real_class_statistics(self) -> list:
        """(mean, covariance) of the real features of each class, computed once from the cached features."""
        if self._real_class_stats is None:
            labels = self.data.train_y if self.real_split == "train" else self.data.val_y
            features = self.real_statistics()[2]  # the cached file's features, in the split's order
            self._real_class_stats = class_statistics(features, labels.cpu(), self.classifier.num_classes)
        return self._real_class_stats

    def class_fids(self, generated: dict) -> dict[str, float]:
        """``metrics/clf_fid{t}_class_k`` for each class with samples on both sides, and their mean
        ``metrics/clf_intra_fid{t}`` (Miyato & Koyama 2018 §4.1)."""
        t, values = self.tag, {}
        for k, real in enumerate(self.real_class_statistics()):
            if real is None or float(generated["n"][k]) < 2:
                continue
            values[f"metrics/clf_fid{t}_class_{k}"] = frechet_distance(generated["mean"][k].cpu(), generated["cov"][k].cpu(), *real)
        if values:
            values[f"metrics/clf_intra_fid{t}"] = sum(values.values()) / len(values)
        return values


def _images_and_classes(generated) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``generate(n)``'s images, and the classes a conditional G was asked for (None: unconditional)."""
    if isinstance(generated, (tuple, list)):
        return generated[0], generated[1]
    return generated, None


class StackedEvaluator:
    """Stacked MNIST's metrics (``metrics=classifier`` on ``data=stacked_mnist``; ``gan_lab.metrics.stacked``):
    each channel of a sample classified by the digit classifier of the stacks' digits, the modes covered and
    KL(mode histogram || uniform); the held-out real stacks' values are in the protocol (the ceiling)."""

    scores_classes = False

    def __init__(self, data, num_samples: int, batch_size: int = 500, classifier_seed: int = 0, cache_dir=None) -> None:
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.tag = count_tag(self.num_samples)
        self.classifier, info = load_or_train(data.info["stacked"], data.info["digits"], seed=classifier_seed, cache=cache_dir)
        real = ModeHistogram()
        for chunk in data.val_x.split(self.batch_size):
            real.update(modes_of(channel_digits(self.classifier, chunk)))
        held_out = real.compute()
        self.protocol = {
            "extractor": f"digit classifier of {data.info['stacked']} on each channel ({100 * info['val_accuracy']:.1f}% held-out "
                         "accuracy); mode = 100 r + 10 g + b (VEEGAN §5.2, PacGAN §5.2)",
            "classifier_path": info["path"],
            "num_samples": self.num_samples,
            "held_out_real": {"images": int(data.val_x.shape[0]), "modes_covered": held_out["modes_covered"], "kl": held_out["kl"]},
            "kl_of_uniform_draws": expected_kl_of_uniform_draws(self.num_samples),
        }

    @torch.no_grad()
    def evaluate(self, generate: Callable[[int], torch.Tensor], rank: int = 0, world_size: int = 1, gather=None) -> dict[str, float]:
        """Modes covered and KL of ``num_samples`` samples; under DDP each rank scores its share and the
        histograms are summed (every rank calls this)."""
        n_local = shard(self.num_samples, rank, world_size)
        device = next(self.classifier.parameters()).device
        histogram = ModeHistogram(device)
        for start in range(0, n_local, self.batch_size):
            images, _ = _images_and_classes(generate(min(self.batch_size, n_local - start)))
            histogram.update(modes_of(channel_digits(self.classifier, images.to(device))))
        modes = histogram.compute()  # sums the counts over DDP ranks
        return {f"metrics/stacked_modes_covered{self.tag}": float(modes["modes_covered"]), f"metrics/stacked_kl{self.tag}": modes["kl"]}


class ClassifierMetrics(Scorer):
    """``metrics=classifier`` options: what to build once the data is loaded."""

    name = "classifier"

    def __init__(self, dataset: str, num_samples: int = 5000, batch_size: int = 500, classifier_seed: int = 0,
                 real_split: str = "train", skip_unsupported: bool = False, num_classes: int | None = None,
                 cache_dir: str | None = None) -> None:
        super().__init__(dataset, num_samples, batch_size)
        self.classifier_seed, self.real_split, self.cache_dir = classifier_seed, real_split, cache_dir
        try:
            check_labels(dataset, num_classes)  # fail before training, not after it
        except ConfigError as err:
            if not skip_unsupported:
                raise
            self.disabled = str(err)  # the default metrics config: say so once, train anyway

    def build(self, data, device=None, rank: int = 0, world_size: int = 1, barrier=None) -> ClassifierEvaluator | StackedEvaluator:
        if data.kind == "points" and world_size > 1 and self.num_samples % world_size:
            raise ConfigError(f"metrics.num_samples={self.num_samples} must be divisible by the {world_size} ranks on 2-D data")
        if data.info.get("stacked"):  # Stacked MNIST: the papers' mode count on each channel's digit, not FID
            evaluator = StackedEvaluator(data, self.num_samples, self.batch_size, self.classifier_seed, self.cache_dir)
        else:
            evaluator = ClassifierEvaluator(self.dataset, data, self.num_samples, self.batch_size, self.classifier_seed,
                                            std=data.info.get("std"), real_split=self.real_split, cache_dir=self.cache_dir)
        if device is not None and data.kind == "image":
            evaluator.classifier.to(device)
        return evaluator

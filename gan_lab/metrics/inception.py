"""Inception Score, FID and KID on torch-fidelity's InceptionV3, accumulated with torchmetrics.

* Extractor: ``torch_fidelity``'s ``FeatureExtractorInceptionV3`` ("inception-v3-compat"), the port
  of the TensorFlow 2015-12-05 graph that the papers' numbers use, including its TF1-style bilinear
  resize to 299x299. One forward per batch gives both the 2048-d pool3 features and the unbiased
  1008-way logits; each image is extracted once for all three metrics.
* FID — Heusel et al. 2017, §3 eq. (6), on pool3 features: ``torchmetrics.image.fid``.
* IS — Salimans et al. 2016, §4: exp E KL(p(y|x) || p(y)) over 10 splits, mean ± std, on the
  unbiased logits (torch-fidelity's choice): ``torchmetrics.image.inception``.
* KID — Bińkowski et al. 2018, §3: unbiased MMD² with the cubic polynomial kernel, 100 subsets of
  1,000: ``torchmetrics.image.kid``.
* Precision / recall (Kynkäänniemi et al. 2019, k = 3) and density / coverage (Naeem et al. 2020,
  k = 5) on the pool3 features: ``gan_lab.metrics.precision_recall`` (precision / recall counted
  as torch-fidelity's ``prc`` counts them), ``num_samples`` generated vs as many real features (all real
  ones when there are fewer), logged as ``metrics/precision10k`` etc. (the count tag of
  ``num_samples``, as the ``clf_*`` metrics).
The torchmetrics metrics receive the precomputed features through an identity ``feature`` module,
so their float64 sums, subset sampling and DDP state sync are torchmetrics' own code. The k-NN
metrics need the generated features themselves: each rank keeps its own, and they are all-gathered
(``torch.distributed.all_gather`` via torchmetrics' ``gather_all_tensors``, uneven shards padded)
before every rank computes the same numbers on the whole set.

Weights: ``metrics.inception_weights=/path`` (torch-fidelity's format), else torch-fidelity's file in
the torch hub cache (``$TORCH_HOME/hub/checkpoints``), downloaded there on first use unless
``GAN_LAB_OFFLINE=1``; ``python -m gan_lab.prefetch`` fetches it ahead of an offline job.
Real features are extracted once per (dataset, split, resolution, weights, count) and cached under
``cache_dir()/real_stats``.

Reference statistics (``metrics.reference=stats.npz``, ``python -m gan_lab.evaluate reference=...``):
the real side is the file's ``mu`` / ``sigma`` (``python -m gan_lab.reference``, pytorch-fid, clean-fid)
instead of the dataset's images; FID is then torch-fidelity's ``fid_statistics_to_metric`` on the
generated pool3 features and the file (``gan_lab.metrics.statistics.fid_to_reference``). IS needs no
real images and is computed as usual; KID and the k-NN metrics need real features, which a statistics
file does not hold, so they are skipped (the protocol says so).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from gan_lab.data.datasets import cache_dir, write_cache
from gan_lab.errors import ConfigError
from gan_lab.metrics.scorer import Scorer

log = logging.getLogger("gan_lab")

FEATURES = ["2048", "logits_unbiased"]
#: the ``extractor`` entry of the statistics files this extractor writes and accepts
EXTRACTOR_NAME = "torch-fidelity inception-v3-compat pool3 (2048-d)"
FEATURE_DIM = 2048


def weights_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def default_weights_path() -> Path:
    """Where torch-fidelity keeps its downloaded weights: the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_url()).name


def offline() -> bool:
    return os.environ.get("GAN_LAB_OFFLINE", "0").lower() not in ("", "0", "false", "no")


def _fix() -> str:
    return (
        "run `python -m gan_lab.prefetch` on a machine with internet (it saves torch-fidelity's file to "
        f"{default_weights_path()}; copy that file to the cluster) and pass "
        "metrics.inception_weights=/path/to/" + Path(weights_url()).name + ", or use metrics=classifier / metrics=none"
    )


def download_weights(dest: Path | None = None) -> Path:
    """Fetch torch-fidelity's InceptionV3 weights to ``dest`` (default: the torch hub cache)."""
    dest = Path(dest) if dest is not None else default_weights_path()
    if dest.is_file():
        return dest
    if offline():
        raise ConfigError(f"the Inception weights are not in {dest} and GAN_LAB_OFFLINE=1 forbids downloading: {_fix()}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(weights_url(), str(dest), progress=False)
    except Exception as err:  # urllib / socket / ssl errors: no network on this machine
        raise ConfigError(f"the Inception weights are not in {dest} and could not be downloaded ({type(err).__name__}: {err}): {_fix()}") from None
    return dest


def resolve_weights(path: str | os.PathLike | None) -> Path:
    """The weights file to use: ``path`` if given (must exist), else the hub cache (downloading once)."""
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"metrics.inception_weights={path} does not exist: {_fix()}")
        return p
    return download_weights()


def load_extractor(weights: Path) -> nn.Module:
    """torch-fidelity's InceptionV3 with ``weights`` loaded strictly; a readable error if they don't fit."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        return FeatureExtractorInceptionV3("inception-v3-compat", FEATURES, feature_extractor_weights_path=str(weights))
    except Exception as err:  # unpickling errors, missing / unexpected keys, shape mismatches
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{weights} is not torch-fidelity's InceptionV3 weights file ({first}): delete it and {_fix()}") from None


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:12]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> RGB uint8, quantised exactly as ``torchvision.utils.save_image``."""
    x = images.detach().float().clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class _Precomputed(nn.Module):
    """The ``feature`` slot of the torchmetrics metrics: features are extracted once, outside."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def real_batches(data, split: str, batch_size: int, limit: int | None) -> Iterator[torch.Tensor]:
    """Real images of ``split`` in [-1, 1], in order: in-memory tensors or a streaming folder."""
    if data.stream is not None:
        if split != "train":
            raise ConfigError(f"metrics.real_split={split}: folder datasets have only a train split")
        loader = torch.utils.data.DataLoader(data.stream, batch_size=batch_size, shuffle=False)
        seen = 0
        for batch in loader:
            batch = batch[0] if isinstance(batch, (list, tuple)) else batch
            if limit is not None:
                batch = batch[: limit - seen]
            seen += len(batch)
            yield batch
            if limit is not None and seen >= limit:
                return
        return
    x = data.train_x if split == "train" else data.val_x
    if x is None:
        raise ConfigError(f"metrics.real_split={split}: this dataset has no {split} split")
    yield from (x if limit is None else x[:limit]).split(batch_size)


class InceptionEvaluator:
    """FID / IS / KID of generated images against a dataset; build once, ``evaluate`` many times."""

    def __init__(self, dataset: str, data, num_samples: int, batch_size: int = 100, weights: str | None = None,
                 real_split: str = "train", num_real: int | None = None, is_splits: int = 10,
                 kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
                 extractor: nn.Module | None = None, weights_path: Path | None = None,
                 reference: dict | None = None, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = cache_dir  # paths.cache_dir (None: $GAN_LAB_CACHE or ~/.cache/gan-lab)
        if data is not None and data.kind != "image":
            raise ConfigError(f"metrics=inception scores images; data={dataset} is 2-D points: use metrics=classifier")
        self.dataset, self.data, self.num_samples, self.batch_size = dataset, data, int(num_samples), int(batch_size)
        self.real_split, self.seed, self.reference = real_split, seed, reference
        if reference is None and data is None:
            raise ConfigError("Inception metrics need real data or a reference statistics file (metrics.reference=stats.npz)")
        if self.num_samples < max(2, is_splits):
            raise ConfigError(f"metrics.num_samples={num_samples}: Inception metrics need at least is_splits={is_splits} samples")
        self.weights = weights_path or resolve_weights(weights)
        self.extractor = extractor or load_extractor(self.weights)
        self.num_real = self._count_real(num_real) if reference is None else (reference.get("num_images") or 0)
        self.kid_subset_size = min(int(kid_subset_size), self.num_samples, self.num_real or self.num_samples)
        self.is_splits, self.kid_subsets = int(is_splits), int(kid_subsets)
        self.real_extractions = 0  # real images pushed through Inception (0 on a cache hit)
        self.extractor_calls = 0
        self._metrics = None
        self._prdc_real: torch.Tensor | None = None  # the real pool3 features of the k-NN metrics
        self.prdc_num_real = min(self.num_real, self.num_samples)
        self.protocol = {
            "extractor": "torch-fidelity InceptionV3 (TF 2015-12-05 port; pool3 2048-d, unbiased logits)",
            "weights": str(self.weights),
            "num_samples": self.num_samples,
            "real": f"{dataset} {real_split} split ({self.num_real} images)",
            "is_splits": self.is_splits,
            "kid": f"{self.kid_subsets} subsets of {self.kid_subset_size}",
            "prdc": self._prdc_protocol(),
        }
        if reference is not None:
            skipped = "skipped: a reference statistics file holds mu / sigma, not the real features this metric needs"
            count = f"{self.num_real} images" if self.num_real else "image count not recorded"
            self.protocol.update(real=f"reference statistics {reference['path']} ({count})", kid=skipped, prdc=skipped,
                                 fid="torch-fidelity fid_statistics_to_metric against the reference mu / sigma")

    def _prdc_protocol(self) -> str:
        from gan_lab.metrics import precision_recall as prc

        if not prc.enough(self.prdc_num_real, self.num_samples):
            return f"skipped: k-NN metrics need more than 5 real and 3 generated images ({self.prdc_num_real} and {self.num_samples})"
        return prc.protocol(self.prdc_num_real, self.num_real, self.num_samples)

    def _count_real(self, num_real: int | None) -> int:
        data = self.data
        total = data.num_train if self.real_split == "train" else (0 if data.val_x is None else int(data.val_x.shape[0]))
        if total == 0:
            raise ConfigError(f"metrics.real_split={self.real_split}: data={self.dataset} has no such split")
        n = total if num_real is None else min(int(num_real), total)
        if n < 2:
            raise ConfigError(f"metrics.num_real={num_real}: FID needs at least 2 real images")
        return n

    def to(self, device) -> "InceptionEvaluator":
        self.extractor.to(device)
        if self._metrics is not None:
            self._metrics = [m if m is None else m.to(device) for m in self._metrics]
        return self

    @property
    def device(self) -> torch.device:
        return next(self.extractor.parameters()).device

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool3 features [B, 2048], unbiased logits [B, 1008]) of [-1, 1] images."""
        self.extractor_calls += 1
        pool, logits = self.extractor(to_uint8(images).to(self.device))
        return pool, logits

    def stats_path(self) -> Path:
        size = int(self.data.train_x.shape[-1]) if self.data.train_x is not None else int(self.data.stream[0].shape[-1])
        return cache_dir(self.cache_dir) / "real_stats" / (
            f"{self.dataset}_{self.real_split}_{size}px_inception-{file_digest(self.weights)}_n{self.num_real}.pt")

    @torch.no_grad()
    def real_features(self) -> torch.Tensor:
        """Pool3 features of the real images, from the disk cache when present."""
        path = self.stats_path()
        if path.is_file():
            return torch.load(path, map_location="cpu", weights_only=True)["features"]
        feats = []
        for batch in real_batches(self.data, self.real_split, self.batch_size, self.num_real):
            feats.append(self.extract(batch)[0].cpu())
            self.real_extractions += len(batch)
        features = torch.cat(feats)
        if not write_cache({"features": features}, path):
            log.warning("could not cache real Inception features at %s (not writable): they are extracted again next time", path)
        return features

    def prepare_real(self, rank: int = 0, world_size: int = 1, barrier: Callable[[], None] | None = None) -> None:
        """Real statistics into the metrics, once: rank 0 fills the cache, every rank adds its shard."""
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.inception import InceptionScore
        from torchmetrics.image.kid import KernelInceptionDistance

        isc = InceptionScore(feature=_Precomputed(1008), splits=self.is_splits).to(self.device)
        if self.reference is not None:  # the real side is the file's mu / sigma: no real image is read
            self._metrics = [None, None, isc]
            return
        if rank == 0:
            features = self.real_features()
        if barrier is not None:
            barrier()
        if rank != 0:
            features = self.real_features()
        from gan_lab.metrics.precision_recall import real_subset

        self._prdc_real = real_subset(features, self.prdc_num_real)  # every rank: the same subset
        device = self.device
        fid = FrechetInceptionDistance(feature=_Precomputed(2048), reset_real_features=False).to(device)
        kid = KernelInceptionDistance(feature=_Precomputed(2048), subsets=self.kid_subsets, subset_size=self.kid_subset_size,
                                      reset_real_features=False).to(device)
        shard = features[rank::world_size].to(device)  # the ranks' shards add up to all real images once
        for chunk in shard.split(4096):
            fid.update(chunk, real=True)
            kid.update(chunk, real=True)
        self._metrics = [fid, kid, isc]

    @torch.no_grad()
    def evaluate(self, generate: Callable[[int], torch.Tensor], rank: int = 0, world_size: int = 1, **_) -> dict[str, float]:
        """Score ``num_samples`` generated images; ``generate(n)`` gives n of this rank's share.

        Every rank calls this under DDP; torchmetrics all-gathers / all-reduces the states in compute(),
        and the generated pool3 features are all-gathered for the k-NN metrics.
        """
        from gan_lab.metrics import precision_recall as prc
        from gan_lab.metrics.scorer import count_tag, shard

        if self._metrics is None:
            self.prepare_real(rank, world_size)
        fid, kid, isc = self._metrics
        for metric in self._metrics:
            if metric is not None:
                metric.reset()  # fake states only: real ones are kept (reset_real_features=False)
        n_local, done = shard(self.num_samples, rank, world_size), 0
        fake = []
        while done < n_local:
            n = min(self.batch_size, n_local - done)
            pool, logits = self.extract(generate(n))
            fake.append(pool)
            if fid is not None:
                fid.update(pool, real=False)
                kid.update(pool, real=False)
            isc.update(logits.double())  # softmax in float64, as torch-fidelity: no 0 * log(0) = NaN
            done += n
        with torch.random.fork_rng(devices=[]):  # IS splits / KID subsets draw from a fixed seed, not the training RNG
            torch.manual_seed(self.seed)
            if fid is not None:
                fid_value = fid.compute()
                kid_mean, kid_std = kid.compute()
            is_mean, is_std = isc.compute()
        # torchmetrics gives the unbiased std over splits; the original code (and torch-fidelity) np.std,
        # the population std: sqrt((s - 1) / s) converts, and one split has std 0, not NaN.
        splits = self.is_splits
        is_std = is_std * math.sqrt((splits - 1) / splits) if splits > 1 else torch.zeros(())
        values = {"metrics/is_mean": float(is_mean), "metrics/is_std": float(is_std)}
        # every rank gathers all generated features (a collective: all ranks call it) and computes the same numbers
        fake = torch.cat(fake) if fake else torch.zeros(0, 2048, device=self.device)  # a rank with no share
        fake = prc.gather_features(fake, world_size)
        if self.reference is not None:
            from gan_lab.metrics.statistics import fid_to_reference

            return {"metrics/fid": fid_to_reference(fake, self.reference), **values}
        values = {"metrics/fid": float(fid_value), **values, "metrics/kid_mean": float(kid_mean), "metrics/kid_std": float(kid_std)}
        if prc.enough(self._prdc_real.shape[0], fake.shape[0]):
            tag = count_tag(self.num_samples)
            scores = prc.prdc(self._prdc_real.to(fake.device), fake)
            values.update({f"metrics/{name}{tag}": value for name, value in scores.items()})
        return values


class InceptionMetrics(Scorer):
    """``metrics=inception`` options; the weights are found and loaded here, before any data is read
    or step trained (a missing or wrong file is one line with the fix)."""

    name = "inception"

    def __init__(self, dataset: str, num_samples: int = 10_000, batch_size: int = 100, inception_weights: str | None = None,
                 num_real: int | None = None, is_splits: int = 10, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 real_split: str = "train", seed: int = 0, reference: str | None = None, cache_dir: str | None = None) -> None:
        from gan_lab.metrics.statistics import read_reference

        super().__init__(dataset, num_samples, batch_size)
        # the reference file first: checking it is quick, loading the network is not
        self.reference = None if reference is None else read_reference(reference, FEATURE_DIM, EXTRACTOR_NAME, key="metrics.reference")
        self.options = dict(num_real=num_real, is_splits=int(is_splits), kid_subsets=int(kid_subsets),
                            kid_subset_size=int(kid_subset_size), real_split=real_split, seed=seed, cache_dir=cache_dir)
        self.weights = resolve_weights(inception_weights)
        self.extractor = load_extractor(self.weights)
        self.extractor_name, self.feature_dim = EXTRACTOR_NAME, FEATURE_DIM

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pool3 features [B, 2048] of [-1, 1] images (what the statistics files hold)."""
        device = next(self.extractor.parameters()).device
        return self.extractor(to_uint8(images).to(device))[0]

    def build(self, data, device=None, rank: int = 0, world_size: int = 1, barrier=None) -> InceptionEvaluator:
        evaluator = InceptionEvaluator(self.dataset, data, self.num_samples, self.batch_size, extractor=self.extractor,
                                       weights_path=self.weights, reference=self.reference, **self.options)
        if device is not None:
            evaluator.to(device)
        evaluator.prepare_real(rank, world_size, barrier=barrier)
        return evaluator

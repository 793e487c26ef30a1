"""FID and Inception Score from DDP-syncable running sums (torchmetrics does accumulation and sync).

* FID — Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule", §3 eq. (6):
  ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``. Deviation: the trace of the matrix
  square root is taken from the eigenvalues of ``S_r S_g`` (real, >= 0 up to round-off) in float64,
  not with ``scipy.linalg.sqrtm``; statistics are accumulated in float64 (torch-fidelity #54).
* IS — Salimans et al. 2016, "Improved Techniques for Training GANs", §4 eq. (preceding §4.1):
  ``exp(E_x KL(p(y|x) || p(y)))``. Deviation: one split (the paper averages 10 splits of 50k); it
  is computed from sums, ``E_x sum_y p log p - sum_y p(y) log p(y)``, so ranks only add counters.
* Reference statistics: pytorch-fid / clean-fid style ``.npz`` files (``mu`` [D], ``sigma`` [D, D],
  float64) written by ``python -m gan_lab.reference`` (:func:`write_reference`) and checked by
  :func:`read_reference`; FID against one is torch-fidelity's ``fid_statistics_to_metric``
  (:func:`fid_to_reference`), so it equals ``torch_fidelity.calculate_metrics(fid=True)``.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

EPS = 1e-12


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2), in float64."""
    mu1, cov1, mu2, cov2 = (t.double() for t in (mu1, cov1, mu2, cov2))
    eigenvalues = torch.linalg.eigvals(cov1 @ cov2).real.clamp(min=0)
    trace_sqrt = eigenvalues.sqrt().sum()
    return float((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2.0 * trace_sqrt)


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of [N, D] features, in float64."""
    x = features.double()
    return x.mean(0), torch.cov(x.T)


#: ``metrics/clf_confident``: a sample counts when the classifier gives its class p > 0.9 (issue 25: the share of
#: clean digits, compared with the same share of held-out real digits)
CONFIDENT = 0.9


class SampleStatistics(Metric):
    """Running float64 sums of features (for FID) and class probabilities (for IS and mode coverage).

    ``update(features [B, D], probs [B, K])``; ``compute()`` returns mean, covariance, IS, class
    histogram, and the share of examples whose most likely class has p > ``CONFIDENT`` (0.9). All states are sums, so DDP ranks are reduced with ``dist_reduce_fx="sum"``.
    """

    full_state_update = False

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("feat_sum", torch.zeros(feature_dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("feat_outer", torch.zeros(feature_dim, feature_dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("prob_sum", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("plogp_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("class_counts", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("confident", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, features: torch.Tensor, probs: torch.Tensor) -> None:
        f, p = features.double(), probs.double()
        self.n += f.shape[0]
        self.feat_sum += f.sum(0)
        self.feat_outer += f.T @ f
        self.prob_sum += p.sum(0)
        self.plogp_sum += (p * (p + EPS).log()).sum()
        self.class_counts += torch.bincount(p.argmax(1), minlength=p.shape[1]).double()
        self.confident += (p.max(1).values > CONFIDENT).sum()

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.n
        mean = self.feat_sum / n
        cov = (self.feat_outer - n * torch.outer(mean, mean)) / (n - 1)
        marginal = self.prob_sum / n
        inception_score = torch.exp(self.plogp_sum / n - (marginal * (marginal + EPS).log()).sum())
        hist = self.class_counts / n
        kl_uniform = (hist * ((hist + EPS) * hist.numel()).log()).sum()  # KL(class histogram || uniform)
        return {
            "n": n, "mean": mean, "cov": cov, "is": inception_score,
            "classes_covered": (self.class_counts > 0).sum(), "class_kl_uniform": kl_uniform,
            "confident": self.confident / n,
        }


class ClassFeatureStatistics(Metric):
    """Running float64 feature sums per class, for the FID of each class (intra-FID, Miyato & Koyama 2018
    §4.1: the FID between generated and real images of one class, averaged over the classes).

    ``update(features [B, D], classes [B])``; ``compute()`` returns ``n`` [K], ``mean`` [K, D] and ``cov``
    [K, D, D] (unbiased). Sums only, so DDP ranks are reduced with ``dist_reduce_fx="sum"``."""

    full_state_update = False

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.add_state("n", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("feat_sum", torch.zeros(num_classes, feature_dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("feat_outer", torch.zeros(num_classes, feature_dim, feature_dim, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, features: torch.Tensor, classes: torch.Tensor) -> None:
        f, y = features.double(), classes.to(features.device).long()
        self.n.index_add_(0, y, torch.ones_like(y, dtype=torch.float64))
        self.feat_sum.index_add_(0, y, f)
        self.feat_outer.index_add_(0, y, f[:, :, None] * f[:, None, :])

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.n.clamp(min=2)[:, None]
        mean = self.feat_sum / n
        cov = (self.feat_outer - n[:, :, None] * mean[:, :, None] * mean[:, None, :]) / (n[:, :, None] - 1)
        return {"n": self.n, "mean": mean, "cov": cov}


def class_statistics(features: torch.Tensor, classes: torch.Tensor, num_classes: int) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """(mean, covariance) of the [N, D] features of each class (None for a class with fewer than 2 samples)."""
    return [mean_cov(features[classes == k]) if int((classes == k).sum()) > 1 else None for k in range(num_classes)]


# --- reference statistics: pytorch-fid / clean-fid style .npz files (``mu`` [D], ``sigma`` [D, D]) ---
# Written by ``python -m gan_lab.reference``, read by ``gan_lab.evaluate reference=`` and ``metrics.reference=``.
# The statistics and the distance are torch-fidelity's own (``fid_features_to_statistics``: np.mean /
# np.cov; ``fid_statistics_to_metric``: the eigenvalue trace of TTUR's fid.py), in float64.

REFERENCE_HOW = "python -m gan_lab.reference data=NAME out=stats.npz [metrics=inception|classifier]"


def features_to_statistics(features: torch.Tensor) -> dict:
    """torch-fidelity's FID statistics of [N, D] features in float64: ``{"mu": [D], "sigma": [D, D]}`` (numpy)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    return fid_features_to_statistics(features.detach().cpu().double())


def write_reference(path, features: torch.Tensor, extractor: str, **info) -> dict:
    """Save ``mu`` / ``sigma`` of ``features`` (and ``extractor``, ``num_images``, ``info``) to the .npz ``path``
    exactly as named (written beside it, then renamed: no half-written file)."""
    import os
    from pathlib import Path

    import numpy as np

    from gan_lab.errors import ConfigError

    if features.shape[0] < 2:
        raise ConfigError(f"{features.shape[0]} image(s): FID statistics need at least 2")
    stats = features_to_statistics(features)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name without it
        np.savez(f, mu=stats["mu"], sigma=stats["sigma"], extractor=np.array(extractor),
                 num_images=np.array(int(features.shape[0])), **{k: np.array(v) for k, v in info.items()})
    os.replace(tmp, path)
    return stats


def read_reference(path, dim: int, extractor: str | None = None, key: str = "reference") -> dict:
    """The ``mu`` / ``sigma`` of a statistics file, checked against the features they will meet:
    float64 ``{"mu", "sigma", "extractor", "num_images", "path"}``. A missing file, a file without
    ``mu`` / ``sigma``, other shapes than [dim] / [dim, dim], non-finite values or another ``extractor``
    entry (files without one, as pytorch-fid's, are taken on their dimensions) raise one ConfigError."""
    import zipfile
    from pathlib import Path

    import numpy as np

    from gan_lab.errors import ConfigError

    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key}={path} does not exist: make it with {REFERENCE_HOW}")
    try:
        with np.load(p, allow_pickle=False) as npz:
            entries = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ConfigError(f"{key}={path} is not an .npz statistics file ({type(err).__name__}: {err}): "
                          f"make it with {REFERENCE_HOW}") from None
    missing = [name for name in ("mu", "sigma") if name not in entries]
    if missing:
        raise ConfigError(f"{key}={path} has no {' / '.join(missing)} (it has {', '.join(sorted(entries)) or 'nothing'}): "
                          f"a statistics file holds mu [D] and sigma [D, D] (pytorch-fid, clean-fid); make one with {REFERENCE_HOW}")
    mu, sigma = entries["mu"].astype(np.float64), entries["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ConfigError(f"{key}={path}: mu has shape {list(mu.shape)} and sigma {list(sigma.shape)}; "
                          "a statistics file holds mu [D] and sigma [D, D]")
    if mu.shape[0] != dim:
        raise ConfigError(f"{key}={path} holds {mu.shape[0]}-d statistics but {extractor or 'this extractor'} gives "
                          f"{dim}-d features: make the file with the same metrics= ({REFERENCE_HOW})")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ConfigError(f"{key}={path}: mu or sigma holds NaN or infinite values: make the file again with {REFERENCE_HOW}")
    written_by = str(entries["extractor"]) if "extractor" in entries else None
    if extractor is not None and written_by is not None and written_by != extractor:
        raise ConfigError(f"{key}={path} was made with the extractor '{written_by}', these metrics use '{extractor}': "
                          f"make the file with the same metrics= and data= ({REFERENCE_HOW})")
    num_images = int(entries["num_images"]) if "num_images" in entries else None
    return {"mu": mu, "sigma": sigma, "extractor": written_by, "num_images": num_images, "path": str(p)}


def fid_to_reference(features: torch.Tensor, reference: dict) -> float:
    """FID of [N, D] features against a reference's ``mu`` / ``sigma``: torch-fidelity's
    ``fid_statistics_to_metric`` (features first, reference second, as ``calculate_metrics(input1=generated,
    input2=real)``)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    stats = features_to_statistics(features)
    return float(fid_statistics_to_metric(stats, reference, verbose=False)[KEY_METRIC_FID])


def folder_data(folder, image_size: int | None = None, channels: int = 3):
    """A folder of images as streamed data (read like ``data=folder``); ``image_size`` None: the first
    image's shorter side (same-sized images are then read as they are, as torch-fidelity reads them)."""
    from pathlib import Path

    from PIL import Image

    from gan_lab.data.datasets import ImageFiles, Prepared, scan_image_folder

    files = scan_image_folder(Path(str(folder)).expanduser())
    if image_size is None:
        with Image.open(files[0]) as img:
            image_size = min(img.size)
    return Prepared("image", stream=ImageFiles(files, int(image_size), channels), info={"source": str(folder), "files": len(files)})

"""FID and Inception Score from DDP-syncable running sums (torchmetrics does accumulation and sync).

* FID — Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule", §3 eq. (6):
  ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``. Deviation: the trace of the matrix
  square root is taken from the eigenvalues of ``S_r S_g`` (real, >= 0 up to round-off) in float64,
  not with ``scipy.linalg.sqrtm``; statistics are accumulated in float64 (torch-fidelity #54).
* IS — Salimans et al. 2016, "Improved Techniques for Training GANs", §4 eq. (preceding §4.1):
  ``exp(E_x KL(p(y|x) || p(y)))``. Deviation: one split (the paper averages 10 splits of 50k); it
  is computed from sums, ``E_x sum_y p log p - sum_y p(y) log p(y)``, so ranks only add counters.
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


class SampleStatistics(Metric):
    """Running float64 sums of features (for FID) and class probabilities (for IS and mode coverage).

    ``update(features [B, D], probs [B, K])``; ``compute()`` returns mean, covariance, IS, class
    histogram. All states are sums, so DDP ranks are reduced with ``dist_reduce_fx="sum"``.
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

    def update(self, features: torch.Tensor, probs: torch.Tensor) -> None:
        f, p = features.double(), probs.double()
        self.n += f.shape[0]
        self.feat_sum += f.sum(0)
        self.feat_outer += f.T @ f
        self.prob_sum += p.sum(0)
        self.plogp_sum += (p * (p + EPS).log()).sum()
        self.class_counts += torch.bincount(p.argmax(1), minlength=p.shape[1]).double()

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
        }

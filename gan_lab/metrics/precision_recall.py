"""k-NN manifold metrics on feature tensors: precision / recall and density / coverage.

Notation: real features X = {X_i}, N rows; generated (fake) features Y = {Y_j}, M rows; [N, F] and
[M, F] tensors of one extractor's features. NND_k(X_i) is the distance from X_i to its k-th nearest
neighbour among the other real points, B(c, r) the closed Euclidean ball {x : ||x - c||_2 <= r}.

* Precision and recall — Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", §2, eq. (1): f(phi, Phi) = 1 iff ||phi - phi'||_2 <= ||phi' - NN_k(phi')||_2
  for at least one phi' in Phi, and the averages that follow it:
  precision = 1/M sum_j f(Y_j, X), recall = 1/N sum_i f(X_i, Y); k = 3 (their §2 choice).
  Computed as torch-fidelity computes ``prc`` (``torch_fidelity.metric_prc``, its
  ``save_cpu_ram`` path ``calculate_precision_recall_part``): same k, same distance blocks (its own
  ``calc_cdist_part``: ``torch.cdist`` in [batch, N] blocks, ``prc_batch_size`` 10,000, so 10k x 10k
  or 50k x 50k fit in memory), same orientation of each block, same neighbourhood rule (the
  (k + 1)-th smallest distance of a point to its own set, the point itself being the first at 0;
  ``<=``). Not by calling ``prc_features_to_metric``: that takes ~2.2 s for 5,000 x 4,000 64-d
  features on one CPU thread (``kthvalue`` is slow on the CPU, and density / coverage would redo the
  real-real distances), against ~1 s for all four metrics here (``topk`` picks the same radius; the
  real radii for k = 3 and 5 come from one pass). The tests check the counts equal torch-fidelity's,
  on features (tests/unit/test_precision_recall.py) and end to end on image folders
  (tests/integration/test_precision_recall_fidelity.py).
* Density and coverage — Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models", §3.2 (their definitions of density and coverage), k = 5 (their recommended value):
  density = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))],
  coverage = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))].
  torch-fidelity has no density / coverage; they use the same distance blocks (the precision ones)
  and neighbourhood rule, so all four metrics share one definition of a k-NN ball. Deviation from the authors' reference code (clovaai/generative-evaluation-prdc):
  it tests ``<`` (open balls), we test ``<=`` as torch-fidelity and Kynkäänniemi's eq. (1); the two
  differ only for a fake point exactly on a ball's boundary.

All four are ratios of integer counts and are returned exactly (Python floats of count / total):
torch-fidelity averages in float32, so its precision / recall differ from ours by < 1e-7.

Feature extractor: the papers embed images with VGG-16 fc2 (torch-fidelity's ``prc`` default);
gan-lab uses the extractor of the metrics config (Inception pool3 for ``metrics=inception``, the
digit classifier's penultimate layer for ``metrics=classifier``), so the numbers are comparable
across gan-lab runs, not with the papers' tables.
"""
from __future__ import annotations

import torch

PRC_NEIGHBORHOOD = 3  # Kynkäänniemi et al. 2019 §2; torch-fidelity's prc_neighborhood default
DC_NEIGHBORHOOD = 5  # Naeem et al. 2020 §4: k = 5
BATCH_SIZE = 10_000  # torch-fidelity's prc_batch_size default
SUBSET_SEED = 0  # which real features take part when the real set is larger than the generated one


def knn_radii(x: torch.Tensor, k: int, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """NND_k of every row of ``x`` within ``x`` (on the CPU): torch-fidelity's rule, the (k + 1)-th
    smallest of each row's distances to all rows, the row itself being the nearest at distance 0."""
    return _radii(x, (k,), batch_size)[k]


def _radii(x: torch.Tensor, ks: tuple[int, ...], batch_size: int) -> dict[int, torch.Tensor]:
    """``knn_radii`` for several k from one pass over the distance blocks.

    torch-fidelity takes the radius with ``kthvalue(k + 1)``; ``topk(k + 1, largest=False)`` selects
    the same element of the same distances (bit-identical radii) ~10x faster on the CPU (0.05 s
    instead of 0.5 s for 5,000 x 5,000 on one thread), and gives every k <= max(ks) at once.
    """
    from torch_fidelity.metric_prc import calc_cdist_part

    top = max(ks) + 1
    nearest = torch.cat([calc_cdist_part(rows, x, batch_size).topk(top, dim=1, largest=False).values
                         for rows in x.split(batch_size)])  # [N, top], ascending
    return {k: nearest[:, k] for k in ks}


def _scores(real: torch.Tensor, fake: torch.Tensor, prc_k: int | None, dc_k: int | None, batch_size: int) -> dict[str, float]:
    """The metrics asked for (``prc_k``: precision / recall, ``dc_k``: density / coverage) in one pass.

    Distance blocks, orientation and comparisons are those of torch-fidelity's ``save_cpu_ram`` path
    (``calculate_precision_recall_part``): precision compares ``cdist(fake rows, real)`` with the real
    radii, recall ``cdist(real rows, fake)`` with the generated radii, ``<=``. Density and coverage
    reuse the precision blocks with the k = 5 real radii.
    """
    from torch_fidelity.metric_prc import calc_cdist_part

    m, n = fake.shape[0], real.shape[0]
    real_radii = _radii(real, tuple(k for k in (prc_k, dc_k) if k is not None), batch_size)
    precision = inside = 0  # fakes inside some real k-NN ball; sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]
    covered = torch.zeros(n, dtype=torch.bool)  # exists j: Y_j in B(X_i, NND_k(X_i))
    for rows in fake.split(batch_size):
        dist = calc_cdist_part(rows, real, batch_size)  # [b, N] on the CPU
        if prc_k is not None:
            precision += int((dist <= real_radii[prc_k]).any(dim=1).sum())
        if dc_k is not None:
            within = dist <= real_radii[dc_k]
            inside += int(within.sum())
            covered |= within.any(dim=0)
    out = {}
    if prc_k is not None:
        fake_radii = _radii(fake, (prc_k,), batch_size)[prc_k]
        recall = sum(int((calc_cdist_part(rows, fake, batch_size) <= fake_radii).any(dim=1).sum())
                     for rows in real.split(batch_size))  # reals inside some generated k-NN ball
        out.update(precision=precision / m, recall=recall / n)
    if dc_k is not None:
        out.update(density=inside / (dc_k * m), coverage=int(covered.sum()) / n)
    return out


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PRC_NEIGHBORHOOD,
                     batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """Kynkäänniemi et al. 2019 §2 eq. (1): precision = 1/M sum_j f(Y_j, X) (fakes inside the real
    manifold), recall = 1/N sum_i f(X_i, Y) (reals inside the generated manifold), k-NN balls.

    ``real`` [N, F], ``fake`` [M, F], N and M > k. Equal to torch-fidelity's ``prc_features_to_metric
    (fake, real, prc_neighborhood=k, prc_batch_size=batch_size, save_cpu_ram=True)`` (its input1 is
    the generated set), up to its float32 mean (tests/unit/test_precision_recall.py).
    """
    check_sizes(real, fake, k)
    return _scores(real, fake, k, None, batch_size)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = DC_NEIGHBORHOOD,
                     batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """Naeem et al. 2020 §3.2: density = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))] and
    coverage = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))], X = ``real`` [N, F] (N > k),
    Y = ``fake`` [M, F]."""
    check_sizes(real, fake, k, need_fake=False)
    return _scores(real, fake, None, k, batch_size)


def check_sizes(real: torch.Tensor, fake: torch.Tensor, k: int, need_fake: bool = True) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, F] and [M, F], got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[0] <= k or (need_fake and fake.shape[0] <= k):
        raise ValueError(f"k={k} nearest neighbours need more than {k} points per set, got {real.shape[0]} real "
                         f"and {fake.shape[0]} generated")


def enough(num_real: int, num_fake: int) -> bool:
    """Whether the sets are large enough for every k used here: the real set needs more than
    max(3, 5) points (both metrics draw balls around real points), the generated set more than 3
    (recall draws balls around generated points)."""
    return num_real > max(PRC_NEIGHBORHOOD, DC_NEIGHBORHOOD) and num_fake > PRC_NEIGHBORHOOD


def prdc(real: torch.Tensor, fake: torch.Tensor, batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """precision, recall (k = 3) and density, coverage (k = 5) of ``fake`` against ``real``, in one
    pass: 4 distance matrices (real-real, fake-fake, fake-real, real-fake), the real radii for both k
    from one ``topk``. 5,000 generated x 4,000 real 64-d features: ~1 s on one CPU thread."""
    check_sizes(real, fake, max(PRC_NEIGHBORHOOD, DC_NEIGHBORHOOD), need_fake=False)
    check_sizes(real, fake, PRC_NEIGHBORHOOD)
    return _scores(real, fake, PRC_NEIGHBORHOOD, DC_NEIGHBORHOOD, batch_size)


def real_subset(features: torch.Tensor, n: int, seed: int = SUBSET_SEED) -> torch.Tensor:
    """At most ``n`` of the real features: all when there are no more, else a fixed random subset
    (the same for every run and rank; not the first ``n``, which may be sorted by class).

    The k-NN radii shrink as a set grows, so the sets are kept equally large, as both papers do
    (50k and 50k in Kynkäänniemi et al., 10k and 10k in Naeem et al.).
    """
    if features.shape[0] <= n:
        return features
    index = torch.randperm(features.shape[0], generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return features[index]


def gather_features(features: torch.Tensor, world_size: int) -> torch.Tensor:
    """All ranks' generated features, concatenated in rank order, on every rank.

    ``torch.distributed.all_gather`` through torchmetrics' ``gather_all_tensors``, which pads and
    trims shards of unequal length (num_samples not divisible by the world size). Every rank must
    call it; without an initialised process group it returns ``features`` as they are.
    """
    if world_size <= 1 or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return features
    from torchmetrics.utilities.distributed import gather_all_tensors

    return torch.cat(gather_all_tensors(features.contiguous()))


def protocol(num_real: int, total_real: int, num_fake: int) -> str:
    """The ``prdc`` entry of an evaluator's protocol: k's, rule and the counts used."""
    subset = f"a fixed random subset (seed {SUBSET_SEED}) of the {total_real}" if num_real < total_real else "all"
    return (f"precision/recall k={PRC_NEIGHBORHOOD} (Kynkaanniemi et al. 2019, counted as torch-fidelity's prc), "
            f"density/coverage k={DC_NEIGHBORHOOD} (Naeem et al. 2020); Euclidean, closed k-NN balls; "
            f"{num_fake} generated vs {num_real} real ({subset} real features)")

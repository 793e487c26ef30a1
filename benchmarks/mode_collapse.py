"""Mode collapse on the 2-D mixtures (ring8, grid25): modes covered and % high-quality samples, per row.

Metric (VEEGAN §5, PacGAN §5.1 / Table 1; ``gan_lab.metrics.modes.mode_metrics``): after training,
draw 2,500 samples; a sample is high quality within 3 std of its nearest mode; a mode is covered
when it has at least one high-quality sample. Mean ± standard error over seeds.

    python benchmarks/mode_collapse.py                                   # cpu protocol, GAN row, 5 seeds (~18 min on 1 core)
    python benchmarks/mode_collapse.py --jobs 2 --out results.json       # the same, one process per dataset (~13 min on 2 cores)
    python benchmarks/mode_collapse.py --rows all --jobs 2 --out results.json   # whole table (~2.8 h on 2 cores; see "Cost")
    python benchmarks/mode_collapse.py --set d_hidden=200 g_depth=4 --data grid25   # a variant of the protocol (not its numbers)
    python benchmarks/mode_collapse.py --rows "label smoothing" "virtual BN" --jobs 2   # rows by name (quote the spaces)
    python benchmarks/mode_collapse.py --rows "historical averaging" --trick historical_averaging.weight=0.1   # a trick's conf/trick default changed (a variant row)
    python benchmarks/mode_collapse.py --rows "historical averaging" --data ring8 --seeds 0 --log-every 5500 --trace   # why a row fails: D logits, drift from init, G's gradients
    python benchmarks/mode_collapse.py --rows all --quick                # whole table, 2 seeds x 1,500 iterations (a smoke run, not numbers)
    python benchmarks/mode_collapse.py --protocol pacgan --rows GAN PacGAN2 PacGAN3 PacGAN4   # GPU
    python benchmarks/mode_collapse.py --protocol pacgan --time-only     # cost per iteration here
    python benchmarks/mode_collapse.py --protocol pacgan --time-only --device cuda   # ... on a GPU

Protocol ``pacgan`` is PacGAN's own (github.com/fjxmlzn/PacGAN, synthetic_data_experiments/
2D{Ring,Grid}_GAN&PacGAN/{config,pacgan_task}.py, pacgan/{bricks,datasets,distributions}.py and
ALI's ``ali_algorithm``), read line by line:
  * data: one fixed set of 100,000 points per run drawn from the mixture (ring8: 8 modes on the
    unit circle, std 0.01; grid25: 5x5 grid {-4..4 step 2}^2, std 0.05, equal priors); for packing
    m, slot j of the packed set is an independent with-replacement resampling of those points
    (``GaussianPackingMixture``); batches of 100 packed examples, reshuffled every epoch.
  * z: 2-d N(0, I) (``circle_gaussian_mixture`` with 1 mode, r=0, std 1), one z per packing slot.
  * G: 2 -> 4 x [Linear 400 (no bias) -> BatchNorm -> ReLU] -> Linear 2 (+bias). BN population
    statistics: momentum 0.05, the slots' batch statistics averaged; sampling uses them.
  * D: 2m -> 3 x [Linear -> maxout 200 units x 5 pieces] -> Linear 1 (a logit). No BN, no dropout
    (``_create_model(with_dropout=False)``).
  * init: all weights N(0, 0.02), biases 0 (BN scale 1, shift 0).
  * loss: D softplus(-D(x)) + softplus(D(G(z))); G non-saturating softplus(-D(G(z))).
  * optimiser: Adam lr 1e-4, beta1 0.8 (beta2 0.999, eps 1e-8: blocks' defaults) for G and D;
    ``ali_algorithm`` = simultaneous updates: both gradients at the same parameters, on the same
    batch and z, applied together (1 D step per G step).
  * length: 400 epochs x 100,000 / 100 = 400,000 iterations; 10 runs per row; metric on 2,500
    samples of the final G.

Deviations of protocol ``pacgan`` from PacGAN's code, with the reason:
  1. Seeds: fixed seeds 0..9 instead of ``random.randint`` seeds for blocks / fuel (reproducible).
  2. BN: population variance averaged (unbiased) where blocks averages a population *stdev*; eps
     1e-4 as blocks. Only the sampling-time normalisation can differ, by a negligible amount.
  3. Adam: torch's Adam; blocks' Adam decays beta1 by (1 - 1e-8)^t (at t = 400k beta1 is 0.797).
  4. A dataset's runs (its seeds) are trained as one batched model (bmm over a model axis); the
     arithmetic of each run is that of a run alone (Adam is element-wise), only the speed changes.
     Its rounding is not: a run's bits depend on which runs share its batch (observed 2026-11-27:
     grid25 seeds 0-1 after 120 iterations give different samples with and without ring8's runs in
     the batch; the cause was not traced), and GAN training amplifies that. The numbers measured
     before 2026-11-27 (both datasets in one batch) are therefore not reproduced bit for bit.
  5. Metric: final G only (PacGAN logs the metric every epoch; Table 1 reports the end of training);
     Euclidean distance / std, which equals PacGAN's diagonal-Mahalanobis distance for isotropic modes.

Protocol ``cpu`` (the default) keeps PacGAN's data, z (2-d), loss, init, G batch norm,
simultaneous updates, batch 100, optimiser family (Adam) and metric; it changes what 2 CPU cores
force (aimed at a whole table of 2 datasets x 10 rows x 5 seeds in <= 2 h; with a GAN baseline at
>= 90% high quality on both mixtures it costs ~2.7 h, see "Cost"):
  6. Nets: G 2 -> 3 x [128, BN, ReLU] -> 2; D 2m -> 2 x [128 units, maxout 2 pieces] -> 1
     (PacGAN: G 4 x 400; D 3 x 200 maxout 5). Reason: cost; D dominates (it sees 2 x batch, and is
     differentiated twice). D 128 since 2026-11-27 (200 before): 12 ms per GAN step of 5 runs against
     21 ms, the same baseline (below); D 100 left one grid seed at 63%; LeakyReLU units instead of
     maxout (8.6 ms) reached only 76.5% (84.0% with G depth 4) on grid25 at 44k iterations.
  7. Optimiser: Adam lr 1e-3 (PacGAN 1e-4), beta1 0.5 (PacGAN 0.8), beta2 0.999; lr constant for
     the first 40% of the run, then linear to 0.1% of it (1% before 2026-11-27). Reason: 22-55k
     iterations instead of 400,000. beta1 0.5 roughly doubled grid25 quality at 8k iterations (39% vs
     21%); the annealing phase is where high quality appears (grid25 49% -> 79% over the last 4k of
     20k iterations); the decay to 0.1% brought the slowest ring seed from 74% to 91%.
  8. 22,000 iterations for ring8 and 55,000 for grid25 (PacGAN 400,000 for both), each dataset
     trained as its own batched model (the lr schedule is relative to each run's length; --jobs 2
     shares the table's (row, dataset) cells between two processes, the costliest first;
     --iterations overrides both; --quick uses 1,500 for both);
     5 seeds (PacGAN 10: standard errors ~1.4x wider).

How the cpu protocol was chosen (1 thread of a 2-core machine shared with another engineer's tests,
so timings are +-30%; "10 runs" = 5 seeds x 2 datasets trained as one batched model):
  cost per iteration of 10 runs, batch 100 [batch 400]:
    G 128x3 / D 128x3 maxout 5: 96-143 ms [508]      G 128x3 / D 64x3 maxout 5: 57 ms [236]
    G 64x3 / D 64x2 maxout 5: 27 ms [113]            G 128x3 / D 128x2 maxout 2: 33 ms [124]
    G 64x3 / D 64x3 maxout 2: 20 ms [101]            G 64x2 / D 64x2 maxout 2: 24 ms [62]
    chosen G 128x3 / D 200x2 maxout 2: bmm ensemble (this file) 58 ms; torch.func stack_module_state
    + vmap + functional_call 59 ms; a Python loop over 10 nn.Modules 76 ms; torch.compile of the bmm
    step 53 ms (+35 s compile): the nets are compute-bound on one core, so batching the runs saves
    ~25% (1 run alone: 17.4 ms vs 14.3 ms per run-iteration at G 128x3 / D 128x3 maxout 5), compile 9%.
    PacGAN's own nets: 25 ms per iteration for 1 run, 473 ms for 20 runs batched (24 ms per run):
    400,000 iterations = ~2.8 h per run on one core, ~110 h for its 4 rows x 2 datasets x 10 seeds.
  quality (seed 0; high-quality % / modes):
    G 64x3 / D 64x2 maxout 5, lr 1e-3 beta1 0.8, linear decay to 5%, 10k its: ring 77% / 8, grid 12% / 20
    G 128x3 / D 64x2 maxout 5, same, 15k its: ring 91% / 8, grid 11% / 9
    G 128x3 / D 200x2 maxout 2, same, 8k its, grid: beta1 0.8 21%; lr 2e-3 18%; beta1 0.5 39%;
      beta1 0.0 40%; G 256x3 (beta1 0.5) 34%; lr constant then decay over the last 25% 53%
    same, beta1 0.5, full decay, 16k its: grid 57% / 19; batch 400 lr 2e-3 4k its (same samples
      seen, ~0.7x the time): 50% / 22
    same, decay from 50% to 1%, 12k its: ring 66% / 8, grid 66% / 21; 20k its: ring 92% / 8, grid 79% / 18
  -> 22k iterations with the decay from 40% (the final setting). Measured (2026-11-26,
     `python benchmarks/mode_collapse.py --log-every 5500 --out ...`, 1 process x 1 thread, seeds 0-4,
     20.8 min wall = 57 ms per iteration of the 10 runs; with --jobs 2 about half on 2 cores):
       ring8:  7.0 ± 0.4 modes, 93.4 ± 1.5% high quality   (PacGAN GAN: 6.3 ± 0.5, 98.2 ± 0.2%)
       grid25: 17.8 ± 1.2 modes, 76.0 ± 3.5% high quality  (PacGAN GAN: 17.3 ± 0.8, 94.8 ± 0.7%)
     Mode counts match PacGAN's GAN; grid25's high-quality share does NOT reach PacGAN's (or the 90%
     target) within this budget: it was still rising (mean 64% at 16.5k, 76% at 22k iterations).
     Packing rows cost ~1.1-1.3x the GAN row (4 runs, 100 iterations: GAN 29, PacGAN2 34, PacGAN3 33,
     PacGAN4 38 ms per iteration).
  -> grid25 at 44k iterations (2026-11-26): GAN 91.3 ± 1.0% high quality,
     16.0 ± 1.9 modes over seeds 0-4; ring8 stays at 22k (93.4 ± 1.5%).

Cost. Before the speed work of 2026-11-27 (below), with D 200 x maxout 2 (``--time-only --seeds 0 1 2 3 4``:
200 iterations after 20 of warm-up, 1 thread, on a 2-core machine whose other core(s) ran another
engineer's training, load 3-4, so +-30%); ms per iteration of a dataset's 5 runs batched, ring8 /
grid25, and minutes for 22k / 44k iterations:
    GAN 31-36 / 27-37 (12-13 / 20-27 min)      PacGAN2 36 / 37 (13 / 28)     PacGAN3 47 / 43 (17 / 32)
    PacGAN4 44 / 47 (16 / 34)                  label smoothing 36 / 35 (13 / 26)
    feature matching 39 / 33 (14 / 24)         historical averaging 35 / 34 (13 / 25)
    virtual BN 33 / 34 (12 / 25)               minibatch discrimination 137 / 144 (50 / 105)
    all five 138 / 131 (51 / 96)
  A row with --jobs 2 takes its grid25 time; the whole table ~7 h (~420 min), 3.4 h of it the two rows
  with minibatch discrimination: o(x) compares every pair of a batch in each of 100 kernels
  (2 x 100 x 100 x 100 L1 distances per run and step), ~3x the rest of the step. Its o(x) runs as a
  compiled fused kernel (mode_collapse_nets.FusedPairSums): with gan-lab's cdist the row cost ~400 ms.
  Since 2026-11-27 (the protocol above: D 128, ring8 22k, grid25 55k), ``--time-only --rows all``
  with ring8 and grid25 in two processes at once (as ``--jobs 2`` runs the cells), 11:10, minutes
  for 22k / 55k iterations: GAN 4.3 / 11.1, feature matching 4.4 / 10.8, label smoothing 5.4 / 12.4,
  historical averaging 5.2 / 13.3, virtual BN 6.1 / 16.7, PacGAN2 5.8 / 14.5, PacGAN3 7.1 / 17.0,
  PacGAN4 7.7 / 20.6, minibatch discrimination 26.1 / 53.0, all five 28.7 / 53.7 (o(x) alone, 2
  forwards + 3 backwards of 500 sets of 100 points, ~26 ms of their ~58-78 ms per iteration).
  Sum: 324 min of one core, **~2.7 h** (162 min) with --jobs 2, against the <= 2 h aimed at; the
  two minibatch-discrimination rows are half of it (161 min), the other eight the other half. What would get under 2 h measured short of the 90% baseline:
  grid25 at 44k (89.0-89.5%), D 100 (83.8%), LeakyReLU units (76.5%). The minibatch-discrimination
  rows are 45% of the table: o(x) is O(kernels x batch^2) per step whatever the nets, and gan-lab's
  trick defaults (100 kernels x 5 dims) are kept.
  The table itself, 2026-11-27 (two parts with --jobs 2; per-seed numbers in
  benchmarks/results/mode_collapse_cpu_2026-11-27_*.json): minibatch discrimination 22.4 / 63.9 min,
  all five 24.2 / 49.0 (88.3 min of wall time), GAN 4.9 / 11.3, feature matching 4.7 / 11.5, label
  smoothing 4.6 / 11.4, historical averaging 5.0 / 12.8, virtual BN 6.1 / 15.5 (44.8 min); with
  PacGAN2/3/4 (37.6 min) the whole table took 170.7 min (2.8 h).

Speed and baseline work of 2026-11-27 (one quiet thread unless said; this machine drifts +-20% within
minutes, so single --time-only figures are +-20%; "two at once" = two runs sharing the 2 cores):
  the step, profiled (torch.profiler), with the nets of deviation 6 before this work (D 200 x maxout 2):
    * maxout by ``amax``: its backward (compare, divide, copies) was 37% of the GAN step; ``max(-1)``
      gives the same values and the same gradient (a scatter; no ties in practice): 28.8 -> 22.3 ms.
    * batch-norm variance by ``Tensor.var``: 0.4-0.8 ms a call, the written-out mean of squared
      deviations 0.07 ms; Adam ``fused=True``: 0.7 ms against foreach's 1.8 ms for G's tensors.
    * o(x) of minibatch discrimination: Inductor did not vectorise the fused loop when the self-pair
      mask was built in the graph (``torch.eye``): a forward over 500 sets of 100 points took 21 ms,
      6.5 ms with the mask as an input; exp(-L1) underflows to denormals for far pairs (5% of the
      pairs after the init), ~50x slower on this CPU: with ``torch.set_flush_denormal(True)`` the
      forward takes 4.8 ms instead of 8.6, the backward 5.4 instead of 6.7; and G's gradient no
      longer runs the real set's o(x) backward (``Ensemble.head_sets``). MD row 127.5 -> ~52 ms.
    * tried and dropped: ``--compile`` of the step (20.8 ms against 12.0: graph breaks at
      autograd.grad), a custom maxout Function (2.2 ms against max's 1.8 ms per forward + backward),
      glibc malloc thresholds (no change), 10 runs batched instead of 5 (GAN 2.2 ms per run-iteration
      against 2.4; MD 14.5 against 12).
  D width, GAN step of 5 runs on grid25 after the above: D 200: 20.8 ms; D 128: 12.0-13.6 ms;
    D 100: 12.0 ms; D 64 x 3 layers: 12.3 ms; G 64 / D 128: 12.5 ms; D 128 of LeakyReLU(0.2) units
    instead of maxout (``--set pieces=1``): 7.7-8.6 ms. With D 128 the MD rows take ~52-66 ms, PacGAN4
    ~22 ms, the other rows 12-20 ms. Two at once, each runs ~15% slower than alone.
  GAN baseline, 5 seeds, ring8 22k / grid25 44k iterations, % high quality (per seed):
    D 100: ring 95.1 +- 0.4, grid 83.8 +- 5.2 (88, 88, 90, 63, 91)
    D 128: ring 94.8 +- 0.8, grid 91.4 +- 0.9, 17.0 modes (before fused Adam / the BN variance /
      flushed denormals, which change the rounding); after them: ring 91.6 +- 4.5 (96, 95, 96, 97, 74),
      grid 89.0 +- 0.9 (90, 89, 88, 87, 92)
    D 128, decay from 20% of the run: ring 93.4 +- 2.1, grid 88.4 +- 0.9
    D 128, decay to 0.1% (lr_final_frac 0.001): ring 94.8 +- 1.1 (96, 95, 95, 97, 91), grid 89.5 +- 0.6
    D 128, decay to 0.1%, G depth 4 (PacGAN's): grid 90.5 +- 1.7 (94, 92, 93, 90, 84), 21.6 modes
    D 128, decay to 0.1%, grid 55k: 91.8 +- 0.4 (90, 93, 92, 92, 93), 19.6 modes
    D 128 of LeakyReLU units, decay to 0.1%: grid 76.5 +- 4.7 (21.8 modes); with G depth 4 84.0 +- 1.7
      (23.6 modes): more modes, lower quality, at 8.6 / 10.1 ms per iteration two at once
  -> the protocol: D 128 x maxout 2, decay to 0.1%, ring8 22k (94.8 +- 1.1%), grid25 55k (91.8 +- 0.4%,
     every seed >= 90%; ``python benchmarks/mode_collapse.py --jobs 2`` reproduces both per seed);
     the whole table then costs ~2.7 h on 2 cores (see "Cost"). G depth 4 at 55k: grid 93.1 +- 1.0
     (96, 93, 94, 93, 90), 20.6 modes, at ~1.15x the cost: not adopted (one seed under 90%).

Rows: a row is a name + a :class:`Row` (packing m, Improved-GAN tricks): PacGAN's rows (GAN,
PacGAN2/3/4) and the Improved-GAN rows (Salimans et al. 2016 §3.1-3.5: feature matching, minibatch
discrimination, historical averaging, one-sided label smoothing, virtual BN, and all five together).
Each trick is gan-lab's own (same formula, same place in the nets), computed per model k in the
batched nets (mode_collapse_nets.py: formulas and the gan-lab file each mirrors), with the
hyper-parameters of gan-lab's trick objects built from conf/trick/<name>.yaml (:func:`apply_tricks`):
feature matching weight 1, sum reduction, replacing G's adversarial loss; minibatch discrimination
100 kernels x 5 dims on D's last hidden layer (its 128 maxout units), the original's head
(normalised theta, weight-normalised dense output, data-dependent init); historical averaging
lambda 1 over all parameters of each player; real target 0.9; virtual BN with a reference batch of
100 (``${data.batch_size}``) in every BN layer of G. The plain rows draw and compute exactly what
they did before the tricks existed (the tricks' parameters are drawn after the plain nets').
Deviations from gan-lab's tricks, with the reason:
  9. Simultaneous updates (the protocol's, every row): G's and D's losses are taken at the same
     parameters, so feature matching's real features come from D before its step (gan-lab: through
     D after its step, in G's phase), and both historical-averaging penalties from the parameters
     before the step (as gan-lab's, which also precede each player's own step).
 10. Minibatch discrimination: o(x) is computed within the real and within the fake batch (gan-lab
     calls D on each; PacGAN's joint call is kept for D's hidden layers, which are per example);
     the data-dependent init runs on each run's first 500 points (gan-lab's ``first_examples(500)``);
     the plain D's output layer is still drawn (unused) so that D's other weights are those of the
     plain row; o(x) is a compiled fused kernel with a hand-written backward, equal to gan-lab's
     cdist up to rounding (tested), without double backward (no row needs it).
 11. Virtual BN: eps 1e-4, the eps of the BN it replaces (as gan-lab's transform takes the replaced
     layer's); the reference z of run k is drawn from ``torch.Generator().manual_seed(init seed)``
     (gan-lab: ``${seed}``); G has no running statistics then, and sampling uses the reference batch.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.mode_collapse_nets import (INIT_EXAMPLES, Ensemble, Tricks, fused_md_pair_sums, pack_fake,  # noqa: E402
                                           simultaneous_step)
from gan_lab.cli import compose  # noqa: E402
from gan_lab.data.mixtures import means_tensor  # noqa: E402
from gan_lab.metrics.modes import mode_metrics  # noqa: E402


def mixture_means(name: str):
    """The modes of ``data=NAME`` as its config gives them (conf/data/ring8.yaml, grid25.yaml)."""
    return means_tensor(compose([f"data={name}", "model=gan_mlp"]).data.means)


STD = {"ring8": 0.01, "grid25": 0.05}
EVAL_SAMPLES = 2500
TRICK_CONF = Path(__file__).resolve().parent.parent / "conf" / "trick"


@dataclass(frozen=True)
class Protocol:
    g_hidden: int
    g_depth: int
    d_hidden: int
    d_depth: int
    pieces: int
    z_dim: int
    batch: int
    lr: float
    beta1: float
    iterations: int
    seeds: int
    num_data: int = 100_000
    lr_decay: str = "none"  # "none" | "linear": constant, then linear from lr_decay_start (fraction of the run) to lr_final_frac * lr
    lr_final_frac: float = 0.0
    lr_decay_start: float = 0.0
    quick_iterations: int = 0
    quick_seeds: int = 0
    data_iterations: tuple[tuple[str, int], ...] = ()  # per-dataset lengths, where they differ from ``iterations``

    def iterations_for(self, data: str) -> int:
        return dict(self.data_iterations).get(data, self.iterations)


PROTOCOLS = {
    "pacgan": Protocol(g_hidden=400, g_depth=4, d_hidden=200, d_depth=3, pieces=5, z_dim=2, batch=100,
                       lr=1e-4, beta1=0.8, iterations=400_000, seeds=10),
    "cpu": Protocol(g_hidden=128, g_depth=3, d_hidden=128, d_depth=2, pieces=2, z_dim=2, batch=100,
                    lr=1e-3, beta1=0.5, iterations=22_000, seeds=5, lr_decay="linear", lr_final_frac=0.001,
                    lr_decay_start=0.4, quick_iterations=1_500, quick_seeds=2,
                    data_iterations=(("ring8", 22_000), ("grid25", 55_000))),
}


@dataclass(frozen=True)
class Row:
    """What a row changes from the plain GAN: PacGAN's packing degree, Improved-GAN tricks."""

    pack: int = 1
    tricks: tuple[str, ...] = ()
    note: str = ""
    # ``--trick``: (``trick.field``, value) changes to the tricks' conf/trick/<name>.yaml defaults
    options: tuple[tuple[str, str], ...] = ()


IMPROVED_GAN = ("feature_matching", "minibatch_discrimination", "historical_averaging", "label_smoothing", "virtual_bn")
ROWS: dict[str, Row] = {
    "GAN": Row(note="plain GAN"),
    # Improved-GAN tricks (Salimans et al. 2016 §3), each with gan-lab's defaults (apply_tricks)
    "feature matching": Row(tricks=("feature_matching",)),
    "minibatch discrimination": Row(tricks=("minibatch_discrimination",)),
    "historical averaging": Row(tricks=("historical_averaging",)),
    "label smoothing": Row(tricks=("label_smoothing",)),
    "virtual BN": Row(tricks=("virtual_bn",)),
    "all five": Row(tricks=IMPROVED_GAN),
    "PacGAN2": Row(pack=2, note="D sees 2 samples concatenated"),
    "PacGAN3": Row(pack=3, note="D sees 3 samples concatenated"),
    "PacGAN4": Row(pack=4, note="D sees 4 samples concatenated"),
}

# Published rows: (modes, % high quality) as (mean, s.e.) or bare means; by dataset. PacGAN's as in
# github.com/fjxmlzn/PacGAN synthetic_data_experiments/results/Table1.png (its reverse-KL column is not measured here).
PUBLISHED = {
    "PacGAN (Lin et al. 2018) Table 1, 10 trials, mean ± s.e.": {
        "GAN": {"ring8": ((6.3, 0.5), (98.2, 0.2)), "grid25": ((17.3, 0.8), (94.8, 0.7))},
        "ALI": {"ring8": ((6.6, 0.3), (97.6, 0.4)), "grid25": ((24.1, 0.4), (95.7, 0.6))},
        "PacGAN2": {"ring8": ((7.9, 0.1), (95.6, 2.0)), "grid25": ((23.8, 0.7), (91.3, 0.8))},
        "PacGAN3": {"ring8": ((7.8, 0.1), (97.7, 0.3)), "grid25": ((24.6, 0.4), (94.2, 0.4))},
        "PacGAN4": {"ring8": ((7.8, 0.1), (95.9, 1.4)), "grid25": ((24.8, 0.2), (93.6, 0.6))},
    },
    # VEEGAN's own GAN is a different, smaller setup (and collapses to 1 mode on the ring). Read from the
    # paper's Table 1 as its authors publish it (github.com/akashgit/VEEGAN, tab.png, the project page's
    # "results" image).
    "VEEGAN (Srivastava et al. 2017) Table 1, means": {
        "GAN": {"ring8": (1, 99.3), "grid25": (3.3, 0.5)},
        "ALI": {"ring8": (2.8, 0.13), "grid25": (15.8, 1.6)},
        "Unrolled GAN": {"ring8": (7.6, 35.6), "grid25": (23.6, 16)},
        "VEEGAN": {"ring8": (8, 52.9), "grid25": (24.6, 40)},
    },
}


def trick_objects(names: tuple[str, ...], batch: int, seed: int = 0,
                  options: tuple[tuple[str, str], ...] = ()) -> dict:
    """gan-lab's own trick objects, built from conf/trick/<name>.yaml as ``trick=<name>`` builds them
    (``${data.batch_size}`` = the benchmark's batch, ``${seed}`` = ``seed``): their defaults are the row's,
    changed by ``options`` ((``trick.field``, value) pairs: ``train.py``'s ``tricks.<trick>.<field>=value``)."""
    if not names:
        return {}
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"data": {"batch_size": batch}, "seed": seed,
                            "tricks": {name: OmegaConf.load(TRICK_CONF / f"{name}.yaml") for name in names}})
    for key, value in options:
        trick, _, field = key.partition(".")
        if trick not in names:
            raise ValueError(f"--trick {key}={value}: {trick!r} is not one of this row's tricks {list(names)}")
        known = [k for k in cfg.tricks[trick] if k != "_target_"]
        if field not in known:
            raise ValueError(f"--trick {key}={value}: {trick} has no field {field!r}; its fields "
                             f"(conf/trick/{trick}.yaml): {known}")
        new, old = OmegaConf.from_dotlist([f"v={value}"]).v, cfg.tricks[trick][field]
        if not (type(new) is type(old) or (isinstance(old, float) and type(new) is int) or old is None):
            raise ValueError(f"--trick {key}={value}: expected a {type(old).__name__} like the default {old!r}")
        cfg.tricks[trick][field] = new
    return {name: instantiate(cfg.tricks[name]) for name in names}


def with_options(rows: dict[str, Row], items: list[str]) -> dict[str, Row]:
    """``--trick TRICK.FIELD=VALUE ...``: every row that uses TRICK gets the change, and a name that says
    it (``historical averaging (historical_averaging.weight=0.1)``), so that variants merge into one table
    beside the defaults' rows. Refuses a change no row of ``rows`` can take, before anything is trained."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        trick, dot, field = key.partition(".")
        if not (sep and dot and trick and field and value):
            raise ValueError(f"--trick {item!r}: expected TRICK.FIELD=VALUE, e.g. historical_averaging.weight=0.1")
        if not any(trick in row.tricks for row in rows.values()):
            raise ValueError(f"--trick {item!r}: no row of {list(rows)} uses {trick!r} "
                             f"(rows with it: {[n for n, r in ROWS.items() if trick in r.tricks]})")
        pairs.append((trick, key, value))
    out = {}
    for name, row in rows.items():
        mine = tuple((key, value) for trick, key, value in pairs if trick in row.tricks)
        if mine:
            row = dataclasses.replace(row, options=row.options + mine)
            name = f"{name} ({', '.join(f'{k}={v}' for k, v in mine)})"
            trick_objects(row.tricks, 100, options=row.options)  # a bad field or value fails here, not after hours
        out[name] = row
    return out


def apply_tricks(row: Row, batch: int) -> Tricks:
    """The row's Improved-GAN tricks for the batched nets (mode_collapse_nets.py), with the
    hyper-parameters of gan-lab's trick objects built from conf/trick/*.yaml."""
    objs = trick_objects(row.tricks, batch, options=row.options)
    fm, md = objs.get("feature_matching"), objs.get("minibatch_discrimination")
    ha, ls, vbn = objs.get("historical_averaging"), objs.get("label_smoothing"), objs.get("virtual_bn")
    return Tricks(
        real_target=ls.alpha if ls else 1.0,
        feature_matching=fm is not None,
        fm_weight=fm.weight if fm else 1.0,
        fm_reduction=fm.reduction if fm else "sum",
        fm_add_to_adversarial=fm.add_to_adversarial if fm else False,
        historical_weight=ha.weight if ha else None,
        md_kernels=md.num_kernels if md else 0,
        md_kernel_dim=md.kernel_dim if md else 5,
        vbn_reference_size=vbn.reference_size if vbn else 0,
    )


# ---- data ----------------------------------------------------------------------------------------
def make_dataset(data: str, seed: int, num: int, pack: int) -> torch.Tensor:
    """PacGAN's ``GaussianPackingMixture``: ``num`` mixture points, then ``pack`` with-replacement
    resamplings concatenated on the feature axis -> [num, 2 * pack]."""
    g = torch.Generator().manual_seed(7_919 * seed + (0 if data == "ring8" else 1))
    means = mixture_means(data)
    modes = torch.randint(len(means), (num,), generator=g)
    points = means[modes] + STD[data] * torch.randn(num, 2, generator=g)
    return torch.cat([points[torch.randint(num, (num,), generator=g)] for _ in range(pack)], dim=1)


class Batches:
    """Shuffled epochs over each run's fixed data set (fuel's ``ShuffledScheme``), one RNG per run."""

    def __init__(self, sets: torch.Tensor, batch: int, generators: list[torch.Generator]) -> None:
        self.sets, self.batch, self.gens = sets, batch, generators
        self.per_epoch = sets.shape[1] // batch
        self.i, self.epoch = self.per_epoch, None

    def next(self) -> torch.Tensor:
        if self.i == self.per_epoch:
            perm = torch.stack([torch.randperm(self.sets.shape[1], generator=g) for g in self.gens])
            self.epoch = torch.take_along_dim(self.sets, perm[..., None], dim=1)
            self.i = 0
        out = self.epoch[:, self.i * self.batch:(self.i + 1) * self.batch]
        self.i += 1
        return out


# ---- one row -------------------------------------------------------------------------------------
def train_row(row: Row, datasets: list[str], seeds: list[int], proto: Protocol, iterations: int,
              compile_step: bool = False, log_every: int = 0, device: str = "cpu",
              trace_runs: bool = False) -> tuple[list[dict], float]:
    """Train every (dataset, seed) run of a row as one batched model; metrics per run, seconds.
    (``run_cells`` calls it once per (row, dataset) cell, since the datasets' lengths differ.)
    ``log_every``: every run's modes / % high quality every N iterations, with ``trace_runs`` also
    :func:`trace`'s figures (neither changes the training: same numbers with and without)."""
    tricks = apply_tricks(row, proto.batch)
    runs = [(d, s) for d in datasets for s in seeds]
    net = Ensemble([2 * s + (d == "grid25") for d, s in runs],  # init seed per run, independent of the others
                   z_dim=proto.z_dim, g_hidden=proto.g_hidden, g_depth=proto.g_depth, d_hidden=proto.d_hidden,
                   d_depth=proto.d_depth, pieces=proto.pieces, pack=row.pack, tricks=tricks)
    sets = torch.stack([make_dataset(d, s, proto.num_data, row.pack) for d, s in runs])
    net.init_from_data(sets[:, :INIT_EXAMPLES])  # minibatch discrimination's init (gan-lab: first_examples(500))
    net.md_pair_sums = fused_md_pair_sums  # its o(x), compiled: gan-lab's cdist values, the row ~3x faster here
    net.to(device)  # --device: the nets there; data and z are drawn on the CPU (the same numbers) and copied
    # one RNG per run for batches and z: a run's numbers do not depend on which runs share its batch
    gens = [torch.Generator().manual_seed(12_345 + 2 * s + (d == "grid25") + 101 * row.pack) for d, s in runs]
    batches = Batches(sets, proto.batch, gens)
    # fused: one kernel for all of a player's tensors (on one CPU core 0.7 ms against foreach's 1.8 ms for G)
    opt_d = torch.optim.Adam(net.d_params(), lr=proto.lr, betas=(proto.beta1, 0.999), eps=1e-8, fused=True)
    opt_g = torch.optim.Adam(net.g_params(), lr=proto.lr, betas=(proto.beta1, 0.999), eps=1e-8, fused=True)
    step = torch.compile(simultaneous_step) if compile_step else simultaneous_step
    initial = [[p.detach().clone() for p in params] for params in (net.g_params(), net.d_params())] if trace_runs else None
    K, m, B = len(runs), row.pack, proto.batch
    started = time.perf_counter()
    for it in range(iterations):
        if proto.lr_decay == "linear":
            start = proto.lr_decay_start * iterations
            frac = max(0.0, (it - start) / max(iterations - 1 - start, 1))
            lr = proto.lr * (1 - (1 - proto.lr_final_frac) * frac)
            for opt in (opt_d, opt_g):
                opt.param_groups[0]["lr"] = lr
        z = torch.stack([torch.randn(m, B, proto.z_dim, generator=gk) for gk in gens]).to(device, non_blocking=True)
        real = batches.next().to(device, non_blocking=True)
        step(net, opt_d, opt_g, real, z)
        if log_every and (it + 1) % log_every == 0:
            res = evaluate(net, runs, proto)
            print(f"    it {it + 1:6d}  " + "  ".join(
                f"{d[:4]}/{s}:{r['modes_covered']}/{100 * r['high_quality_fraction']:.0f}%" for (d, s), r in zip(runs, res)),
                flush=True)
            if trace_runs:
                for (d, s), t in zip(runs, trace(net, real, z, initial)):
                    print(f"      {d[:4]}/{s}: " + "  ".join(f"{k} {v:.3g}" for k, v in t.items()), flush=True)
    if device != "cpu":
        torch.cuda.synchronize()  # the queued steps count
    seconds = time.perf_counter() - started
    return evaluate(net, runs, proto), seconds


def trace(net: Ensemble, real: torch.Tensor, z: torch.Tensor, start: list[list[torch.Tensor]]) -> list[dict[str, float]]:
    """``--trace``, per run, on a batch (``real`` [K, B, 2m], ``z`` [K, m, B, z_dim]): D's mean logit on
    the real and the fake batch (d_real, d_fake); how far each player is from its initial parameters
    ``start`` = [G's, D's] (g_moved, d_moved: L2 norms over all its parameters); the norm of G's
    gradient of the non-saturating term softplus(-D(G(z))) (g_adv_grad); with historical averaging, the
    norm of G's gradient of its penalty (g_hist_grad = 2 lambda ||theta - theta_bar||); with minibatch
    discrimination, the mean o(x) sum before the bias in the real and the fake batch (o_real, o_fake).
    Leaves the training as it was (G's batch-norm running statistics are put back)."""
    K, B = net.K, real.shape[1]

    def norms(tensors) -> torch.Tensor:  # [K]: each model's L2 norm over all the tensors' slices
        return torch.stack([t.detach().reshape(K, -1).square().sum(1) for t in tensors]).sum(0).sqrt()

    running = [t.clone() for t in net.run_mean + net.run_var]
    fake = pack_fake(net.generate(z, train=True))
    features = net.features(torch.cat([real, fake], dim=1))
    d_real, d_fake = net.head_sets(features, 2)
    g_params = net.g_params()
    out = {"d_real": d_real.detach().mean(1), "d_fake": d_fake.detach().mean(1),
           "g_moved": norms([p - q for p, q in zip(g_params, start[0])]),
           "d_moved": norms([p - q for p, q in zip(net.d_params(), start[1])]),
           "g_adv_grad": norms(torch.autograd.grad(F.softplus(-d_fake).mean(1).sum(), g_params))}
    if net.history is not None and "g" in net.history.averages:
        out["g_hist_grad"] = norms(torch.autograd.grad(net.history.penalty("g", g_params).sum(), g_params))
    if net.md_kernels:
        with torch.no_grad():
            M = net.md_project(features)
            out["o_real"] = net.md_set_sums(M[:, :B]).mean((1, 2))
            out["o_fake"] = net.md_set_sums(M[:, B:]).mean((1, 2))
    with torch.no_grad():
        for t, saved in zip(net.run_mean + net.run_var, running):
            t.copy_(saved)
    return [{k: float(v[i]) for k, v in out.items()} for i in range(K)]


@torch.no_grad()
def evaluate(net: Ensemble, runs: list[tuple[str, int]], proto: Protocol) -> list[dict]:
    z = torch.randn(net.K, 1, EVAL_SAMPLES, proto.z_dim, generator=torch.Generator().manual_seed(2333))
    x = net.generate(z.to(net.g_out_b.device), train=False)[:, 0].cpu()
    return [{"data": d, "seed": s, **mode_metrics(x[k], mixture_means(d), STD[d])} for k, (d, s) in enumerate(runs)]


def time_per_iteration(row: Row, datasets: list[str], seeds: list[int], proto: Protocol, iterations: int,
                       compile_step: bool = False, device: str = "cpu") -> float:
    """Seconds per iteration of the batched row (all runs together), after 20 warm-up iterations."""
    train_row(row, datasets, seeds, proto, 20, compile_step, device=device)
    return train_row(row, datasets, seeds, proto, iterations, compile_step, device=device)[1] / iterations


# ---- report --------------------------------------------------------------------------------------
def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.mean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan"))


def summary(results: list[dict]) -> dict[str, tuple[float, float]]:
    """A cell of the table: its runs' modes and % high quality, each as (mean, standard error)."""
    return {"modes": mean_se([r["modes_covered"] for r in results]),
            "hq": mean_se([100 * r["high_quality_fraction"] for r in results])}


def fmt(pair) -> str:
    if isinstance(pair, tuple):
        return f"{pair[0]:.1f} ± {pair[1]:.1f}"
    return f"{pair:g}"


def markdown(table: dict, datasets: list[str]) -> str:
    head = "| row | " + " | ".join(f"{d} modes (of {len(mixture_means(d))}) | {d} % high quality" for d in datasets) + " |"
    lines = [head, "|---|" + "---|---|" * len(datasets)]
    for row, per_data in table.items():
        cells = []
        for d in datasets:
            r = per_data.get(d)
            cells += [fmt(r["modes"]), fmt(r["hq"])] if r else ["", ""]
        lines.append(f"| {row} (this benchmark) | " + " | ".join(cells) + " |")
    for source, rows in PUBLISHED.items():
        for row, per_data in rows.items():
            cells = []
            for d in datasets:
                modes, hq = per_data[d]
                cells += [fmt(modes), fmt(hq)]
            lines.append(f"| {row} ({source}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _train_cell(job: tuple) -> tuple[str, str, list[dict], float]:
    """One (row, dataset) cell of the table: that dataset's runs of the row as one batched model."""
    threads, name, row, data, seeds, proto, iterations, compile_step, log_every, device, trace_runs = job
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as main(): a spawned process starts with the CPU's defaults
    results, seconds = train_row(row, [data], seeds, proto, iterations, compile_step, log_every, device, trace_runs)
    return name, data, results, seconds


def cell_cost(row: Row, iterations: int) -> float:
    """Relative cost of a cell (GAN iteration = 1), for scheduling the longest cells first: a
    minibatch-discrimination row costs ~4x a GAN iteration, packing m ~1 + 0.3 (m - 1) (see "Cost")."""
    return iterations * (4.0 if "minibatch_discrimination" in row.tricks else 1.0 + 0.3 * (row.pack - 1))


def run_cells(rows: dict[str, Row], datasets: list[str], seeds: list[int], proto: Protocol, iterations: dict[str, int],
              args, done) -> None:
    """Every (row, dataset) cell, each dataset's runs of a row as one batched model (its own length and
    lr schedule). With ``--jobs N`` the cells go to N single-threaded processes, the costliest first
    (so the cores stay busy to the end); ``done(name, data, results, seconds)`` is called as each ends."""
    cells = [(name, d) for name in rows for d in datasets]
    jobs = [(args.threads, name, rows[name], d, seeds, proto, iterations[d], args.compile, args.log_every, args.device,
             args.trace)
            for name, d in sorted(cells, key=lambda c: -cell_cost(rows[c[0]], iterations[c[1]]))]
    if args.jobs <= 1 or len(jobs) == 1:
        for job in jobs:
            done(*_train_cell(job))
        return
    import concurrent.futures
    import multiprocessing
    with concurrent.futures.ProcessPoolExecutor(min(args.jobs, len(jobs)),
                                                mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in concurrent.futures.as_completed([pool.submit(_train_cell, job) for job in jobs]):
            done(*future.result())


def merge(paths: list[Path]) -> tuple[dict, list[str], float]:
    """``--merge``: the table of earlier ``--out`` files (a table's rows run in parts, e.g. over two
    sessions), their summed wall time. Refuses parts of different protocols, iterations or seeds."""
    table, datasets, wall, first = {}, [], 0.0, None
    for path in paths:
        part = json.loads(path.read_text())
        key = {k: part[k] for k in ("protocol", "settings", "iterations", "seeds")}
        if first is None:
            first = (path, key)
        elif key != first[1]:
            raise ValueError(f"{path} and {first[0]} differ in protocol, settings, iterations or seeds: "
                             "merge only parts of one table")
        wall += part["wall_seconds"]
        for d in part["iterations"]:
            if d not in datasets:
                datasets.append(d)
        for name, row in part["runs"].items():
            if name in table:
                raise ValueError(f"row {name!r} is in more than one of {[str(p) for p in paths]}")
            table[name] = {d: summary([r for r in row["results"] if r["data"] == d]) for d in part["iterations"]}
    return table, datasets, wall


def override(proto: Protocol, assignments: list[str]) -> Protocol:
    """``--set``: the protocol with FIELD=VALUE changes, each value parsed as the field's type."""
    fields = [f.name for f in dataclasses.fields(proto)]
    changes = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or name not in fields or name == "data_iterations":
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{[n for n in fields if n != 'data_iterations']} (per-dataset lengths: --iterations)")
        kind = type(getattr(proto, name))
        try:
            changes[name] = kind(value) if kind is not bool else value.lower() in ("1", "true", "yes")
        except ValueError:
            raise ValueError(f"--set {item!r}: {value!r} is not a {kind.__name__}") from None
    return dataclasses.replace(proto, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="cpu")
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"], choices=list(STD))
    parser.add_argument("--rows", nargs="+", default=["GAN"], help=f"row names or 'all': {list(ROWS)}")
    parser.add_argument("--seeds", nargs="+", type=int, help="default: 0..protocol.seeds-1")
    parser.add_argument("--iterations", type=int, help="override the protocol's iteration counts (every dataset)")
    parser.add_argument("--quick", action="store_true", help="the protocol's short version (a smoke run, not the numbers)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1: shared machine)")
    parser.add_argument("--jobs", type=int, default=1, help="processes; the table's (row, dataset) cells are shared between them, costliest first (2 = one per core)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
    parser.add_argument("--time-only", action="store_true", help="only measure the cost per iteration (200 iterations)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the nets and steps there, in every --jobs process)")
    parser.add_argument("--log-every", type=int, default=0, help="print every run's metrics every N iterations")
    parser.add_argument("--trace", action="store_true",
                        help="with --log-every: also each run's D logits, parameter drift, G's gradient norms, o(x) (see trace())")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change protocol fields, e.g. --set d_hidden=128 lr=2e-3 (a variant, not the protocol's numbers)")
    parser.add_argument("--trick", nargs="+", default=[], metavar="TRICK.FIELD=VALUE",
                        help="change a trick's conf/trick default in the rows that use it, e.g. --trick "
                             "historical_averaging.weight=0.1 (train.py's tricks.historical_averaging.weight; a variant row)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--merge", nargs="+", type=Path, metavar="OUT_JSON",
                        help="print the table of earlier --out files (rows run in parts) and their summed wall time")
    args = parser.parse_args()
    if args.merge:
        try:
            table, datasets, wall = merge(args.merge)
        except (OSError, ValueError, KeyError) as err:
            parser.error(f"--merge: {err}")
        print(f"{len(args.merge)} part(s), {len(table)} row(s), summed wall time {wall / 60:.1f} min\n")
        print(markdown(table, datasets))
        return
    if args.trace and not args.log_every:
        parser.error("--trace prints at each --log-every N: give both (e.g. --log-every 1000 --trace)")
    torch.set_num_threads(args.threads)
    # Denormals flushed to zero: minibatch discrimination's exp(-||M_i - M_j||_1) underflows into them for
    # far pairs (5% of the pairs after its init), and the CPU computes them ~50x slower; its o(x) took
    # 8.6 + 6.7 ms (forward + backward, 500 sets of 100 points) with them and 4.8 + 5.4 ms without.
    # Values below 1.2e-38 become 0; nothing else changes.
    torch.set_flush_denormal(True)
    proto = PROTOCOLS[args.protocol]
    if args.set:
        try:
            proto = override(proto, args.set)
        except ValueError as err:
            parser.error(str(err))
    names = list(ROWS) if args.rows == ["all"] else args.rows
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}: choose from {list(ROWS)} or 'all' (quote names with spaces)")
    try:
        rows = with_options({name: ROWS[name] for name in names}, args.trick)
    except ValueError as err:
        parser.error(str(err))
    n_seeds = proto.quick_seeds if args.quick and proto.quick_seeds else proto.seeds
    seeds = args.seeds if args.seeds is not None else list(range(n_seeds))
    quick = proto.quick_iterations if args.quick and proto.quick_iterations else 0
    iterations = {d: args.iterations or quick or proto.iterations_for(d) for d in args.data}
    command = "python " + shlex.join(sys.argv)
    per_data = ", ".join(f"{d} {n}" for d, n in iterations.items())
    print(f"# {command}\n# {datetime.datetime.now().isoformat(timespec='seconds')}  protocol {args.protocol}: {asdict(proto)}"
          f"\n# iterations: {per_data}; seeds {seeds}, {args.jobs} process(es) x {args.threads} thread(s), compile={args.compile}, device={args.device}", flush=True)

    if args.time_only:
        for name in rows:
            for d in args.data:
                sec = time_per_iteration(rows[name], [d], seeds, proto, 200, args.compile, args.device)
                print(f"{name:24s} {d:7s} {len(seeds):2d} run(s) batched: {1e3 * sec:7.2f} ms/iteration "
                      f"({1e3 * sec / len(seeds):.2f} ms per run-iteration); {iterations[d]} iterations -> "
                      f"{sec * iterations[d] / 60:.1f} min", flush=True)
        return

    started = time.perf_counter()
    cells: dict[tuple[str, str], tuple[list[dict], float]] = {}

    def done(name: str, d: str, results: list[dict], seconds: float) -> None:
        cells[name, d] = results, seconds
        cell = summary(results)
        print(f"{name:24s} {d:7s} modes {fmt(cell['modes'])}  HQ {fmt(cell['hq'])}%  per seed "
              f"{[(r['modes_covered'], round(100 * r['high_quality_fraction'], 1)) for r in results]}  "
              f"({iterations[d]} iterations, {seconds / 60:.1f} min; {(time.perf_counter() - started) / 60:.1f} min since start)",
              flush=True)

    run_cells(rows, args.data, seeds, proto, iterations, args, done)
    table = {name: {d: summary(cells[name, d][0]) for d in args.data} for name in rows}
    raw = {name: {"results": [r for d in args.data for r in cells[name, d][0]],
                  "seconds": {d: cells[name, d][1] for d in args.data}, "row": asdict(rows[name]),
                  "tricks": asdict(apply_tricks(rows[name], proto.batch))} for name in rows}
    wall = time.perf_counter() - started
    print(f"\n{command}\n{datetime.date.today().isoformat()}, protocol {args.protocol}, {len(seeds)} seeds; iterations: "
          f"{per_data}; {EVAL_SAMPLES} samples, {args.threads} thread(s); wall time {wall / 60:.1f} min\n")
    print(markdown(table, args.data))
    if args.out:
        args.out.write_text(json.dumps({"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                                        "protocol": args.protocol, "settings": asdict(proto), "iterations": iterations,
                                        "seeds": seeds, "threads": args.threads, "wall_seconds": wall,
                                        "table": table, "runs": raw, "published": {k: v for k, v in PUBLISHED.items()}},
                                       indent=2, default=str))


if __name__ == "__main__":
    main()

"""Mode collapse on the 2-D mixtures: modes covered and % high-quality samples, per trick.

The protocol of VEEGAN (Srivastava et al. 2017, §5) and PacGAN (Lin et al. 2018, Table 1): after
training, draw 2,500 samples; a sample is high quality within 3 std of its nearest mode; a mode
is covered when it is the nearest mode of at least one high-quality sample. Averaged over seeds.

    python benchmarks/mode_collapse.py                       # ring8 + grid25, 7 rows, 3 seeds x 2,000 iterations (~20 min on 2 cores)
    python benchmarks/mode_collapse.py --steps 5000 --seeds 0 1 2 3 4 --out results.json

All rows share one MLP GAN (G 16-128-128-2 with BatchNorm so that virtual BN applies, D
2-128-128-1 with LeakyReLU; minibatch discrimination with 20 kernels of 5), Adam 1e-3 (0.5, 0.999), batch 100 (the paper's; minibatch discrimination costs O(batch^2)),
non-saturating loss.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gan_lab.data.datasets import mixture_means  # noqa: E402
from gan_lab.metrics.modes import mode_metrics  # noqa: E402
from gan_lab.train import build_run  # noqa: E402
from tests.conftest import compose_cfg  # noqa: E402

ROWS = {
    "no trick": [],
    "feature matching": ["feature_matching"],
    "minibatch discrimination": ["minibatch_discrimination"],
    "historical averaging": ["historical_averaging"],
    "label smoothing": ["label_smoothing"],
    "virtual BN": ["virtual_bn"],
    "all five": ["feature_matching", "minibatch_discrimination", "historical_averaging", "label_smoothing", "virtual_bn"],
}
MODEL = ["model=gan_mlp", "model.z_dim=16", "model.generator.hidden=[128,128]", "model.generator.batch_norm=true",
         "model.discriminator.hidden=[128,128]", "model.discriminator.maxout_pieces=1",
         "model.discriminator.input_dropout=0", "model.discriminator.dropout=0",
         "optim.g.lr=1e-3", "optim.d.lr=1e-3", "data.batch_size=100", "logger=none", "trainer.accelerator=cpu",
         "trainer.enable_progress_bar=false", "samples.every_n_steps=0", "checkpoint.every_n_steps=0"]
STD = {"ring8": 0.01, "grid25": 0.05}
PUBLISHED = {  # modes covered / % high quality, GAN without tricks
    "ring8": "VEEGAN Table 1: GAN 1 / 99.3%; PacGAN Table 1: GAN 6.3 / 98.2%",
    "grid25": "VEEGAN Table 1: GAN 3.3 / 0.5%; PacGAN Table 1: GAN 17.3 / 94.8%",
}


def one_run(data: str, tricks: list[str], seed: int, steps: int, samples: int) -> dict:
    overrides = [*MODEL, f"data={data}", f"seed={seed}", f"trainer.max_steps={steps}"]
    if tricks:
        overrides.append(f"trick=[{','.join(tricks)}]")
    if "minibatch_discrimination" in tricks:  # 20 kernels for a 128-feature toy D (CIFAR code: 100)
        overrides.append("tricks.minibatch_discrimination.num_kernels=20")
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(compose_cfg(overrides, run_dir=Path(tmp), fast=False))
        run.trainer.fit(run.module, datamodule=run.datamodule)
        torch.manual_seed(10_000 + seed)
        points = run.module.generate(n=samples)
    return mode_metrics(points, mixture_means(data), STD[data])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="row names (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table, started = {}, time.perf_counter()
    for data in args.data:
        for row in args.rows:
            results = [one_run(data, ROWS[row], seed, args.steps, args.samples) for seed in args.seeds]
            modes = [r["modes_covered"] for r in results]
            quality = [100 * r["high_quality_fraction"] for r in results]
            table[(data, row)] = (statistics.mean(modes), statistics.mean(quality), results)
            print(f"{data:7s} {row:26s} modes {statistics.mean(modes):5.1f}  high quality {statistics.mean(quality):5.1f}%  {modes}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{len(args.seeds)} seeds x {args.steps} iterations, {args.samples} samples, {minutes:.1f} min\n")
    for data in args.data:
        print(f"| {data} | modes (of {len(mixture_means(data))}) | % high quality |\n|---|---|---|")
        for row in args.rows:
            m, q, _ = table[(data, row)]
            print(f"| {row} | {m:.1f} | {q:.1f} |")
        print(f"| published ({PUBLISHED[data]}) | | |\n")
    if args.out:
        args.out.write_text(json.dumps({f"{d}/{r}": v[2] for (d, r), v in table.items()}, indent=2))


if __name__ == "__main__":
    main()

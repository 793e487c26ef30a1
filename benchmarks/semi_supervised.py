"""Test errors of the semi-supervised GAN (Improved-GAN §5) vs the supervised baseline on mnist5k.

Both presets share the D, the labelled subset (10 per class, drawn with the run's seed), the
optimizer and the number of iterations; only the objective differs (``experiment=ssgan_mnist``:
L_sup + L_unsup and a feature-matching G; ``experiment=ssgan_mnist_supervised``: L_sup only).
Each run is the real ``gan_lab.runner.run`` (CSV logger, no checkpoints, no sample grids);
errors are counted on mnist5k's 1,000 held-out digits with D's EMA (the original code's
protocol) and with D itself.

    OMP_NUM_THREADS=1 python benchmarks/semi_supervised.py                 # 3 seeds, 6000 steps (the preset)
    python benchmarks/semi_supervised.py --seeds 0 1 2 3 4 --steps 6000 --out table.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402
from gan_lab.cli import compose  # noqa: E402
from gan_lab.runner import run  # noqa: E402

PRESETS = {"semi-supervised GAN": "ssgan_mnist", "supervised baseline": "ssgan_mnist_supervised"}


def one_run(preset: str, seed: int, steps: int) -> dict:
    overrides = [
        f"experiment={preset}", f"seed={seed}", f"trainer.max_steps={steps}", "logger=csv",
        "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=100",
        "samples.every_n_steps=null", "checkpoint.every_n_steps=0", "metrics=none",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        summary = run(compose(overrides, run_dir=Path(tmp)))
    m = summary["metrics"]
    return {"seed": seed, "errors": m["metrics/test_errors"], "error_raw": m["metrics/test_error_raw"], "seconds": summary["wall_seconds"]}


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=6000, help="iterations of batch 100 (40 per mnist5k epoch)")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/semi_supervised_<date>.json)")
    args = parser.parse_args()
    started = time.perf_counter()
    results = {name: [one_run(preset, seed, args.steps) for seed in args.seeds] for name, preset in PRESETS.items()}
    total = time.perf_counter() - started

    print(f"\nmnist5k: 4,000 training digits (100 labelled: 10 per class), 1,000 test digits; "
          f"{args.steps} iterations of batch 100; seeds {args.seeds}; CPU, torch threads {torch.get_num_threads()}")
    print("| method | test errors / 1,000 (EMA of D) | test error % (D itself) | seconds per run |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        print(f"| {name} | {mean_std([r['errors'] for r in rows])} | {mean_std([100 * r['error_raw'] for r in rows])} "
              f"| {statistics.mean(r['seconds'] for r in rows):.0f} |")
    ratio = statistics.mean(r["errors"] for r in results["supervised baseline"]) / max(1.0, statistics.mean(r["errors"] for r in results["semi-supervised GAN"]))
    print(f"baseline errors / GAN errors: {ratio:.2f}x; whole benchmark {total / 60:.1f} min")
    write_result("semi_supervised", {"steps": args.steps, "seeds": args.seeds, "results": results, "minutes": total / 60,
                                     "baseline_over_gan": ratio}, out=args.out)


if __name__ == "__main__":
    main()

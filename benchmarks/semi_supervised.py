"""Test errors of the semi-supervised GAN (Improved-GAN §5) vs the supervised baseline on mnist5k, with
every recipe choice made on a validation split and the test split used only to report.

Both presets share the D, the labelled subset (10 per class, drawn with the run's seed), the optimizer
and the schedule (``experiment=ssgan_mnist``: L_sup + L_unsup and a feature-matching G;
``experiment=ssgan_mnist_supervised``: L_sup only). ``task.validation_examples`` (500) training digits
that are not labelled are held out as the validation split, the same for every seed; their labels are
used for nothing but choosing. Each run is the real ``gan_lab.runner.run`` (CSV logger, no checkpoints,
no grids), one torch thread, ``--jobs`` runs at a time.

1. Choose, on validation (seed 0): the GAN's length (the original code's recipe, whose learning rate
   ramps down over the last third of ``trainer.max_steps``: ``--gan-steps``), and the baseline's
   learning rate and length (``--baseline-lrs`` x ``--baseline-steps``; each run's validation errors
   after every epoch, its learning curve, go to the result file).
2. Report, on test: ``--seeds`` runs of each chosen recipe; test errors of D's EMA (the original code's
   protocol) and of D itself, mean ± standard error.

    python benchmarks/semi_supervised.py                      # seeds 0-4, 2 jobs
    python benchmarks/semi_supervised.py --seeds 0 --gan-steps 3000 --baseline-lrs 0.003 --baseline-steps 1500

Writes ``benchmarks/results/semi_supervised_<date>.json`` (``--out``).
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402

PRESETS = {"semi-supervised GAN": "ssgan_mnist", "supervised baseline": "ssgan_mnist_supervised"}
ITERATIONS_PER_EPOCH = 40  # mnist5k's 4,000 training digits at batch 100


def one_run(preset: str, seed: int, steps: int, lr: float | None, validation: int) -> dict:
    """One training run in this process (one torch thread): final test / validation errors, and the
    validation errors after every epoch."""
    import torch

    from gan_lab.cli import compose
    from gan_lab.runner import run

    torch.set_num_threads(1)
    overrides = [
        f"experiment={preset}", f"seed={seed}", f"trainer.max_steps={steps}", "logger=csv", "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=100", "samples.every_n_steps=null",
        "checkpoint.every_n_steps=0", "metrics=none", f"task.validation_examples={validation}",
    ]
    if lr is not None:
        overrides += [f"optim.d.lr={lr}", f"optim.g.lr={lr}"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run(compose(overrides, run_dir=Path(tmp)))
        with open(Path(tmp) / "csv" / "metrics.csv") as f:
            curve = [(int(row["step"]), float(row["metrics/val_errors"])) for row in csv.DictReader(f)
                     if row.get("metrics/val_errors")]
    m = summary["metrics"]
    return {"preset": preset, "seed": seed, "steps": steps, "lr": lr, "test_errors": m["metrics/test_errors"],
            "test_error_raw": m["metrics/test_error_raw"], "val_errors": m["metrics/val_errors"],
            "val_error_raw": m["metrics/val_error_raw"], "val_curve": curve, "seconds": time.perf_counter() - started}


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.mean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="the test runs' seeds")
    parser.add_argument("--gan-steps", type=int, nargs="+", default=[3000, 6000], help="the GAN's lengths to choose from")
    parser.add_argument("--baseline-lrs", type=float, nargs="+", default=[0.001, 0.003], help="the baseline's learning rates")
    parser.add_argument("--baseline-steps", type=int, nargs="+", default=[1500, 3000, 6000], help="the baseline's lengths")
    parser.add_argument("--validation", type=int, default=500, help="task.validation_examples")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/semi_supervised_<date>.json)")
    args = parser.parse_args()
    gan, baseline = PRESETS["semi-supervised GAN"], PRESETS["supervised baseline"]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        # 1. choices on the validation split (seed 0)
        candidates = [(gan, 0, steps, None) for steps in args.gan_steps]
        candidates += [(baseline, 0, steps, lr) for lr in args.baseline_lrs for steps in args.baseline_steps]
        chosen_runs = list(pool.map(one_run, *zip(*candidates), [args.validation] * len(candidates)))
        for r in chosen_runs:
            print(f"validation: {r['preset']} steps={r['steps']} lr={r['lr']}: {r['val_errors']:.0f} / {args.validation} "
                  f"({r['seconds'] / 60:.1f} min)", flush=True)
        best_gan = min((r for r in chosen_runs if r["preset"] == gan), key=lambda r: (r["val_errors"], r["steps"]))
        best_base = min((r for r in chosen_runs if r["preset"] == baseline), key=lambda r: (r["val_errors"], r["steps"]))
        # 2. the chosen recipes on the test split, every seed
        finals = [(gan, s, best_gan["steps"], None) for s in args.seeds]
        finals += [(baseline, s, best_base["steps"], best_base["lr"]) for s in args.seeds]
        final_runs = list(pool.map(one_run, *zip(*finals), [args.validation] * len(finals)))
    minutes = (time.perf_counter() - started) / 60

    results = {}
    for name, preset in PRESETS.items():
        rows = [r for r in final_runs if r["preset"] == preset]
        results[name] = {"runs": rows, "test_errors": mean_se([r["test_errors"] for r in rows]),
                         "test_error_raw_percent": mean_se([100 * r["test_error_raw"] for r in rows]),
                         "val_errors": mean_se([r["val_errors"] for r in rows])}
    ratio = results["supervised baseline"]["test_errors"][0] / max(1.0, results["semi-supervised GAN"]["test_errors"][0])
    print(f"\nmnist5k: 100 labels, {args.validation} validation digits, 1,000 test digits; seeds {args.seeds}; "
          f"GAN {best_gan['steps']} iterations; baseline lr {best_base['lr']}, {best_base['steps']} iterations")
    for name, r in results.items():
        print(f"{name}: test errors {r['test_errors'][0]:.1f} ± {r['test_errors'][1]:.1f} / 1,000 (EMA of D), "
              f"D itself {r['test_error_raw_percent'][0]:.1f} ± {r['test_error_raw_percent'][1]:.1f} %")
    print(f"baseline errors / GAN errors: {ratio:.2f}x (goal >= 2); {minutes:.1f} min")
    write_result("semi_supervised", {
        "validation_examples": args.validation, "seeds": args.seeds, "iterations_per_epoch": ITERATIONS_PER_EPOCH,
        "candidates": chosen_runs, "chosen": {"gan_steps": best_gan["steps"], "baseline_lr": best_base["lr"],
                                             "baseline_steps": best_base["steps"]},
        "results": results, "baseline_over_gan": ratio, "minutes": minutes, "jobs": args.jobs,
    }, out=args.out)


if __name__ == "__main__":
    main()

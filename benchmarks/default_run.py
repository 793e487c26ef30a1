"""Time the default run as a new user gets it: ``python train.py``, cold cache, W&B offline.

    python benchmarks/default_run.py              # 3 runs, one after another
    python benchmarks/default_run.py --runs 1 trainer.max_steps=2000   # extra overrides for every run
    python benchmarks/default_run.py --runs 1 task=conditional         # the default run, class-conditional
    python benchmarks/default_run.py --seeds loss=rpgan trainer.max_steps=6000   # a candidate, seeds 0, 1, 2

Each run is the real CLI in a subprocess (``python train.py`` plus ``hydra.run.dir``), with an empty
``GAN_LAB_CACHE`` so that the digit classifier is fitted and the real statistics are computed again, as
on a fresh machine. The wall time counts everything the user waits for: Python start-up, imports, the
classifier fit, training, the evaluations, the memorization check, the last checkpoint. The quality
figures are read from each run's ``summary.json``.

The goal of the default run (issue 12): ``metrics/clf_fid5k`` <= 10 with 10/10 classes in <= 5 min on a
machine whose plain loop (``benchmarks/throughput.py``) does 1,000 img/s, i.e. 300 s x 1,000 / (this
machine's plain-loop img/s of the day): measure the reference first, the result file records it.
Writes ``benchmarks/results/default_run_<date>.json`` (``--out``) and, beside it, the first run's last
sample grid (``..._grid.png``: G's EMA on the fixed z), which docs/results.md shows.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import ROOT, write_result  # noqa: E402

#: what summary.json holds at the end of the default run, and the name each gets in the result file
METRICS = {
    "clf_fid5k": "metrics/clf_fid5k",
    "classes_covered": "metrics/clf_classes_covered5k",
    "precision": "metrics/clf_precision5k",
    "recall": "metrics/clf_recall5k",
    "density": "metrics/clf_density5k",
    "coverage": "metrics/clf_coverage5k",
    "is": "metrics/clf_is5k",
    "class_match": "metrics/clf_class_match5k",  # task=conditional only (None otherwise)
    "confident": "metrics/clf_confident5k",  # the share of samples labelled with p > 0.9
}


def one_run(index: int, overrides: list[str], work: Path) -> dict:
    run_dir = work / f"run_{index}"
    cache = work / f"cache_{index}"
    env = {**os.environ, "GAN_LAB_CACHE": str(cache), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={run_dir}", *overrides],
                          cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run {index} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = summary["metrics"]
    row = {"wall_s": wall, "training_s": summary["wall_seconds"], "steps": summary["steps"],
           "images_per_sec": summary["images_per_sec"]}
    row.update({name: metrics.get(key) for name, key in METRICS.items()})
    protocol = metrics.get("metrics/protocol") or {}
    floor = protocol.get("real_data_floor") if isinstance(protocol, dict) else None
    row["real_data_floor"] = floor.get("clf_fid") if isinstance(floor, dict) else floor
    row["real_confident"] = floor.get("clf_confident") if isinstance(floor, dict) else None  # the same share, held-out digits
    row["clf_fid5k_by_step"] = {h["step"]: h.get(METRICS["clf_fid5k"]) for h in metrics.get("metrics/history", [])}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeds", action="store_true", help="run i with seed=i (a candidate's seeds); default: seed 0 each time")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/default_run_<date>.json)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (none: the default run itself)")
    args = parser.parse_args()
    rows, grid = [], None
    with tempfile.TemporaryDirectory(prefix="default_run_") as tmp:
        for index in range(args.runs):
            overrides = [*args.overrides, f"seed={index}"] if args.seeds else args.overrides
            rows.append(one_run(index, overrides, Path(tmp)))
            grids = sorted((Path(tmp) / f"run_{index}" / "samples").glob("step_*.png"))
            if index == 0 and grids:
                grid = grids[-1].read_bytes()
            row = rows[-1]
            print(f"run {index + 1}: {row['wall_s']:.0f} s wall, clf_fid5k {row['clf_fid5k']}, classes {row['classes_covered']}, "
                  f"precision {row['precision']}, recall {row['recall']}", flush=True)
    figures = {"overrides": args.overrides, "seeds": list(range(args.runs)) if args.seeds else [0] * args.runs, "runs": rows,
               "mean_wall_s": statistics.mean(r["wall_s"] for r in rows),
               "mean_clf_fid5k": statistics.mean(r["clf_fid5k"] for r in rows),
               "goal": {"clf_fid5k": 10, "classes_covered": 10, "wall_s_at_1000_img_s": 300}}
    path = write_result("default_run", figures, out=args.out)
    if grid is not None:
        path.with_name(path.stem + "_grid.png").write_bytes(grid)
    reference = json.loads(path.read_text())["reference"]
    if reference:
        goal = 300 * 1000 / reference["plain_loop_img_s"]
        print(f"mean wall {figures['mean_wall_s']:.0f} s against the goal of {goal:.0f} s on this machine "
              f"(plain loop {reference['plain_loop_img_s']:.1f} img/s)")


if __name__ == "__main__":
    main()

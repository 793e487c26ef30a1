"""Mode collapse on the 2-D mixtures (ring8, grid25), measured through ``train.py``: modes covered and % of
high-quality samples, per row of the table (PacGAN, Lin et al. 2018, Table 1; Salimans et al. 2016 §3).

A row is a set of overrides of ``experiment=mode_collapse_<protocol>`` (``conf/experiment/``); a cell of the
table is one ``python train.py`` run of a row on one dataset, its seeds trained as one ensemble
(``ensemble.seeds``); this script runs the cells (``--jobs`` at a time, the costliest first), reads each run's
``summary.json`` (its ``members``: the final metrics of every seed) and writes the table to a result file.

    python benchmarks/mode_collapse.py --rows all --jobs 2            # the whole CPU-protocol table, 5 seeds
    python benchmarks/mode_collapse.py                                # the GAN row on both mixtures
    python benchmarks/mode_collapse.py --rows PacGAN2 "label smoothing" --data ring8
    python benchmarks/mode_collapse.py --rows "historical averaging" --set tricks.historical_averaging.weight=0.1
    python benchmarks/mode_collapse.py --rows all --quick             # 2 seeds x 1,500 iterations: a smoke run, not numbers
    python benchmarks/mode_collapse.py --rows all --print             # the cells' train.py commands, nothing run
    python benchmarks/mode_collapse.py --protocol pacgan --rows GAN PacGAN2 PacGAN3 PacGAN4 --device cuda

Metric (VEEGAN §5, PacGAN §5.1; ``gan_lab.metrics.modes.mode_metrics``, gan-lab's ``metrics=classifier`` on
2-D data): 2,500 samples of the final G; a sample is high quality within 3 std of its nearest mode; a mode is
covered when it has at least one high-quality sample. Mean ± standard error over seeds.

The protocols, what each keeps of PacGAN's code and why the CPU one changes what it changes, are the
preset files: ``conf/experiment/mode_collapse_cpu.yaml`` and ``mode_collapse_pacgan.yaml``. What changed
when the table moved from this script's own batched nets (until 2026-12-05) to ``train.py``: each dataset is
one set of 100,000 points shared by a cell's seeds (the old nets drew one per seed); packed slots are
consecutive examples of a shuffled epoch (PacGAN and the old nets resample each slot with replacement);
minibatch discrimination computes o(x) within the real and the fake batch in both (unchanged).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import ROOT, write_result  # noqa: E402

DATASETS = ("ring8", "grid25")
IMPROVED_GAN = "feature_matching,minibatch_discrimination,historical_averaging,label_smoothing,virtual_bn"
BATCH = 100  # the protocols' batch: 100 examples, or 100 packs of m (PacGAN draws m x 100 points per batch)


def packing(m: int) -> list[str]:
    return ["trick=packing", f"tricks.packing.m={m}", f"data.batch_size={m * BATCH}"]


#: the rows: overrides of the protocol's preset. PacGAN's rows (GAN, PacGAN2/3/4) and the Improved-GAN
#: tricks alone and together (Salimans et al. 2016 §3.1-3.5), each with its conf/trick defaults; the rows with
#: minibatch discrimination compute o(x) by compiled kernels (the same values up to float rounding; on a CPU gan-lab's own)
ROWS: dict[str, list[str]] = {
    "GAN": [],
    "feature matching": ["trick=feature_matching"],
    "minibatch discrimination": ["trick=minibatch_discrimination", "tricks.minibatch_discrimination.compile=true"],
    "historical averaging": ["trick=historical_averaging"],
    "label smoothing": ["trick=label_smoothing"],
    "virtual BN": ["trick=virtual_bn"],
    "all five": [f"trick=[{IMPROVED_GAN}]", "tricks.minibatch_discrimination.compile=true"],
    "PacGAN2": packing(2),
    "PacGAN3": packing(3),
    "PacGAN4": packing(4),
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


def cost(overrides: list[str], steps: int) -> float:
    """Relative cost of a cell (a GAN iteration = 1), to start the longest cells first: minibatch
    discrimination compares every pair of a batch in each of 100 kernels (~2x, compiled), packing m ~1 + 0.3 (m - 1)."""
    text = " ".join(overrides)
    m = re.search(r"tricks\.packing\.m=(\d+)", text)
    return steps * (2.0 if "minibatch_discrimination" in text else 1.0 + 0.3 * (int(m.group(1)) - 1 if m else 0))


def cell_command(protocol: str, data: str, row: list[str], run_dir: Path, args) -> list[str]:
    """One cell: the row's seeds on one dataset, one ``train.py`` run (its seeds as one ensemble)."""
    seeds = [f"ensemble.seeds={args.seeds}"] if args.seeds else []
    steps = [f"trainer.max_steps={args.steps}"] if args.steps else []
    device = [f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}"]
    return [sys.executable, "train.py", f"experiment=mode_collapse_{protocol}", f"data={data}", *row, *seeds, *steps, *device,
            "logger=csv", "callbacks.progress_bar=null", *args.set, f"hydra.run.dir={run_dir}"]


def run_cell(command: list[str], run_dir: Path, threads: int) -> tuple[dict, float]:
    """Run one cell; its ``summary.json`` and the process's wall seconds. A failed run raises with its log's tail."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "offline"}
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(run_dir / "stdout.log", "w") as log:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "".join((run_dir / "stdout.log").read_text().splitlines(True)[-15:])
        raise RuntimeError(f"cell failed (exit {done.returncode}): {shlex.join(command)}\n{tail}")
    return json.loads((run_dir / "summary.json").read_text()), seconds


def run_cells(cells: dict, jobs: int, threads: int):
    """Run ``{key: (command, run_dir)}``, ``jobs`` at a time in the given order; yields ``(key, summary, seconds)``
    as each finishes (:func:`run_cell`)."""
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {pool.submit(run_cell, command, run_dir, threads): key for key, (command, run_dir) in cells.items()}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], *future.result()


def member_metrics(summary: dict, prefixes: dict[str, str]) -> list[dict]:
    """Every seed's seed and final metrics, from a run's ``summary.json`` (one member for a single run): for
    each ``name: prefix``, the value of the metric whose key starts with the prefix (its sample-count tag varies)."""
    members = summary.get("members") or [{"seed": summary["seed"], "metrics": summary["metrics"]}]
    return [{"seed": member["seed"], **{name: next(v for k, v in member["metrics"].items() if k.startswith(prefix))
                                        for name, prefix in prefixes.items()}} for member in members]


def member_results(summary: dict, data: str) -> list[dict]:
    """Every seed's final modes covered and high-quality fraction on ``data``."""
    return [{"data": data, **r} for r in member_metrics(
        summary, {"modes_covered": "metrics/modes_covered", "high_quality_fraction": "metrics/high_quality_fraction"})]


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.mean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan"))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=["cpu", "pacgan"], default="cpu", help="experiment=mode_collapse_<protocol>")
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--rows", nargs="+", default=["GAN"], help=f"row names or 'all': {list(ROWS)}")
    parser.add_argument("--seeds", type=int, help="ensemble.seeds (the protocol's: 5 for cpu, 10 for pacgan)")
    parser.add_argument("--steps", type=int, help="trainer.max_steps of every cell (the protocol's: by dataset)")
    parser.add_argument("--quick", action="store_true", help="2 seeds x 1,500 iterations: a smoke run, not the numbers")
    parser.add_argument("--jobs", type=int, default=1, help="cells at a time (2 = one per core)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per cell (OMP_NUM_THREADS)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides for every cell, e.g. tricks.historical_averaging.weight=0.1 (rows are named after them)")
    parser.add_argument("--runs", type=Path, default=None, help="the cells' run folders (default outputs/mode_collapse/<date-time>)")
    parser.add_argument("--print", action="store_true", help="print each cell's train.py command and stop")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/mode_collapse_...)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps = args.seeds or 2, args.steps or 1500
    names = list(ROWS) if args.rows == ["all"] else args.rows
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}: choose from {list(ROWS)} or 'all' (quote names with spaces)")
    suffix = f" ({', '.join(args.set)})" if args.set else ""
    rows = {name + suffix: ROWS[name] for name in names}
    runs = args.runs or ROOT / "outputs" / "mode_collapse" / time.strftime("%Y-%m-%d_%H-%M-%S")

    from gan_lab.cli import compose  # the protocol's lengths, as train.py composes them
    steps = {d: args.steps or compose([f"experiment=mode_collapse_{args.protocol}", f"data={d}"]).trainer.max_steps for d in args.data}
    cells = sorted(((name, d) for name in rows for d in args.data), key=lambda c: -cost(rows[c[0]], steps[c[1]]))
    commands = {(name, d): cell_command(args.protocol, d, rows[name], runs / slug(name) / d, args) for name, d in cells}
    if args.print:
        for command in commands.values():
            print(shlex.join(["python", *command[1:]]))
        return

    print(f"# {len(cells)} cell(s), {args.jobs} at a time, {args.threads} thread(s) each; run folders under {runs}", flush=True)
    started = time.perf_counter()
    results: dict[tuple[str, str], tuple[list[dict], float, float, str]] = {}
    for (name, d), summary, seconds in run_cells({c: (commands[c], runs / slug(c[0]) / c[1]) for c in cells}, args.jobs, args.threads):
        per_seed = member_results(summary, d)
        results[name, d] = per_seed, seconds, summary["wall_seconds"], summary["run_dir"]
        modes, hq = mean_se([r["modes_covered"] for r in per_seed]), mean_se([100 * r["high_quality_fraction"] for r in per_seed])
        print(f"{name:24s} {d:7s} modes {modes[0]:.1f} ± {modes[1]:.1f}  HQ {hq[0]:.1f} ± {hq[1]:.1f}%  per seed "
              f"{[(r['modes_covered'], round(100 * r['high_quality_fraction'], 1)) for r in per_seed]}  ({steps[d]} iterations, "
              f"{seconds / 60:.1f} min; {(time.perf_counter() - started) / 60:.1f} min since start)", flush=True)
    wall = time.perf_counter() - started
    figures = {
        "protocol": args.protocol, "experiment": f"experiment=mode_collapse_{args.protocol}", "iterations": steps,
        "seeds": sorted({r["seed"] for per_seed, *_ in results.values() for r in per_seed}),
        "jobs": args.jobs, "threads": args.threads, "device": args.device, "overrides": args.set, "wall_seconds": wall,
        "runs": {name: {"overrides": rows[name],
                        "commands": {d: shlex.join(["python", *commands[name, d][1:]]) for d in args.data},
                        "results": [r for d in args.data for r in results[name, d][0]],
                        "seconds": {d: results[name, d][1] for d in args.data},
                        "training_seconds": {d: results[name, d][2] for d in args.data},
                        "run_dirs": {d: results[name, d][3] for d in args.data}} for name in rows},
        "published": PUBLISHED,
    }
    print(f"\nwall time {wall / 60:.1f} min")
    tag = f"{args.protocol}_{'all' if args.rows == ['all'] else slug('_'.join(names))}{'_quick' if args.quick else ''}"
    write_result("mode_collapse", figures, out=args.out, tag=tag, device=args.device)


if __name__ == "__main__":
    main()

"""Mode collapse on Stacked MNIST (1,000 modes; VEEGAN §5.2, PacGAN §5.2 / Table 2), measured through ``train.py``:
modes covered and KL(mode histogram || uniform) of 26,000 samples of each seed's final G, mean ± s.e. over seeds.

A row is a set of overrides of ``experiment=stacked_mnist_<protocol>`` (``conf/experiment/``); each row is one
``python train.py`` run, its seeds trained as one ensemble (``ensemble.seeds``); this script runs the rows, reads
each run's ``summary.json`` (its ``members``) and writes the table to a result file (rendered in docs/results.md).

    python benchmarks/stacked_mnist.py --rows all --jobs 2         # the CPU protocol's table, 3 seeds a row, 2 rows at a time
    python benchmarks/stacked_mnist.py --rows DCGAN PacGAN2
    python benchmarks/stacked_mnist.py --rows all --quick          # 2 seeds x 200 iterations, 2,000 samples: a smoke run
    python benchmarks/stacked_mnist.py --rows all --print          # the rows' train.py commands, nothing run
    python benchmarks/stacked_mnist.py --protocol paper --device cuda   # PacGAN's length (100,000 iterations, 10 seeds)

The metric is ``gan_lab.metrics.stacked`` (``metrics=classifier`` on ``data=stacked_mnist``); the held-out real
stacks' modes and KL are in every run's protocol and in the result file.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.mode_collapse import mean_se, member_metrics, run_cells, slug  # noqa: E402
from benchmarks.record import ROOT, write_result  # noqa: E402

BATCH = 64  # PacGAN's: 64 examples, or 64 packs of m (PacGAN's D sees m stacks in 3m channels)

#: the rows: overrides of the protocol's preset (PacGAN Table 2's DCGAN and PacDCGAN2, R3GAN, Improved-GAN tricks)
ROWS: dict[str, list[str]] = {
    "DCGAN": [],
    "PacGAN2": ["trick=packing", "tricks.packing.m=2", f"data.batch_size={2 * BATCH}"],
    "R3GAN": ["model=r3gan", "loss=rpgan", "optim=r3gan"],
    "label smoothing": ["trick=label_smoothing"],
    "minibatch discrimination": ["trick=minibatch_discrimination", "tricks.minibatch_discrimination.compile=true"],
}

#: ms per iteration of each row's 3-seed ensemble at 2 threads (100-iteration runs, 2026-12-06, plain loop 856.3 img/s):
#: the order in which --jobs starts them, costliest first (minibatch discrimination's: an estimate)
COST = {"DCGAN": 345, "PacGAN2": 487, "R3GAN": 421, "label smoothing": 345, "minibatch discrimination": 400}

#: published rows, (modes, KL): (mean, s.e.) pairs where the paper gives an s.e., else bare means. Read from PacGAN
#: Table 2 (github.com/fjxmlzn/PacGAN stacked_MNIST_experiments/results/Table2.png: "reverse KL divergence over the
#: generated mode distribution"; PacGAN's own rows over 10 trials, the others as VEEGAN reported them).
PUBLISHED = {
    "PacGAN (Lin et al. 2018) Table 2, 10 trials, mean ± s.e.": {
        "DCGAN": ((78.9, 6.46), (4.50, 0.127)),
        "PacDCGAN2": ((1000.0, 0.0), (0.06, 0.003)),
        "PacDCGAN3": ((1000.0, 0.0), (0.06, 0.003)),
        "PacDCGAN4": ((1000.0, 0.0), (0.07, 0.005)),
    },
    "VEEGAN (Srivastava et al. 2017) as PacGAN Table 2 quotes it, means": {
        "DCGAN": (99.0, 3.40),
        "ALI": (16.0, 5.40),
        "Unrolled GAN": (48.7, 4.32),
        "VEEGAN": (150.0, 2.95),
    },
}


def member_results(summary: dict) -> list[dict]:
    """Every seed's final modes covered and KL, from a run's ``summary.json``."""
    return member_metrics(summary, {"modes_covered": "metrics/stacked_modes_covered", "kl": "metrics/stacked_kl"})


def row_command(protocol: str, row: list[str], run_dir: Path, args) -> list[str]:
    extra = [f"ensemble.seeds={args.seeds}"] if args.seeds else []
    extra += [f"trainer.max_steps={args.steps}"] if args.steps else []
    extra += [f"metrics.num_samples={args.samples}"] if args.samples else []
    device = [f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}"]
    return [sys.executable, "train.py", f"experiment=stacked_mnist_{protocol}", *row, *extra, *device, "logger=csv",
            "callbacks.progress_bar=null", *args.set, f"hydra.run.dir={run_dir}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=["cpu", "paper"], default="cpu", help="experiment=stacked_mnist_<protocol>")
    parser.add_argument("--rows", nargs="+", default=["DCGAN"], help=f"row names or 'all': {list(ROWS)}")
    parser.add_argument("--seeds", type=int, help="ensemble.seeds (the protocol's: 3 for cpu, 10 for paper)")
    parser.add_argument("--steps", type=int, help="trainer.max_steps (the protocol's)")
    parser.add_argument("--samples", type=int, help="metrics.num_samples (the protocol's: 26,000)")
    parser.add_argument("--quick", action="store_true", help="2 seeds x 200 iterations, 2,000 samples: a smoke run, not numbers")
    parser.add_argument("--jobs", type=int, default=1, help="rows at a time (2 = one per core, with --threads 1)")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: 2 // jobs, at least 1)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for every row")
    parser.add_argument("--runs", type=Path, default=None, help="the rows' run folders (default outputs/stacked_mnist/<date-time>)")
    parser.add_argument("--print", action="store_true", help="print each row's train.py command and stop")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/stacked_mnist_...)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.samples = args.seeds or 2, args.steps or 200, args.samples or 2000
        args.set = [*args.set, "data.num_train=10000"]
    names = list(ROWS) if args.rows == ["all"] else args.rows
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}: choose from {list(ROWS)} or 'all' (quote names with spaces)")
    runs = args.runs or ROOT / "outputs" / "stacked_mnist" / time.strftime("%Y-%m-%d_%H-%M-%S")
    commands = {name: row_command(args.protocol, ROWS[name], runs / slug(name), args) for name in names}
    if args.print:
        for command in commands.values():
            print(shlex.join(["python", *command[1:]]))
        return

    threads = args.threads or max(1, 2 // args.jobs)
    order = sorted(names, key=lambda name: -COST[name])  # the costliest first, so that --jobs ends together
    print(f"# {len(names)} row(s), {args.jobs} at a time, {threads} thread(s) each; run folders under {runs}", flush=True)
    started, results = time.perf_counter(), {}
    for name, summary, seconds in run_cells({name: (commands[name], runs / slug(name)) for name in order}, args.jobs, threads):
        per_seed = member_results(summary)
        protocol = summary["metrics"]["metrics/protocol"]
        results[name] = {"overrides": ROWS[name], "command": shlex.join(["python", *commands[name][1:]]), "results": per_seed,
                         "seconds": seconds, "training_seconds": summary["wall_seconds"], "steps": summary["steps"],
                         "run_dir": summary["run_dir"], "held_out_real": protocol.get("held_out_real")}
        modes, kl = mean_se([r["modes_covered"] for r in per_seed]), mean_se([r["kl"] for r in per_seed])
        print(f"{name:24s} modes {modes[0]:.1f} ± {modes[1]:.1f}  KL {kl[0]:.2f} ± {kl[1]:.2f}  per seed "
              f"{[(r['modes_covered'], round(r['kl'], 2)) for r in per_seed]}  ({summary['steps']} iterations, {seconds / 60:.1f} min; "
              f"{(time.perf_counter() - started) / 60:.1f} min since start)", flush=True)
    results = {name: results[name] for name in names}  # the table in the rows' order
    wall = time.perf_counter() - started
    figures = {"protocol": args.protocol, "experiment": f"experiment=stacked_mnist_{args.protocol}", "jobs": args.jobs, "threads": threads,
               "device": args.device, "overrides": args.set, "wall_seconds": wall, "runs": results, "published": PUBLISHED}
    print(f"\nwall time {wall / 60:.1f} min")
    tag = f"{args.protocol}_{'all' if args.rows == ['all'] else slug('_'.join(names))}{'_quick' if args.quick else ''}"
    write_result("stacked_mnist", figures, out=args.out, tag=tag, device=args.device)


if __name__ == "__main__":
    main()

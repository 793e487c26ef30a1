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
    python benchmarks/stacked_mnist.py --protocol unrolled_cpu --rows all --jobs 2   # PacGAN Table 3's setup (D 1/4 of G), a run per seed

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

#: the rows of the Unrolled GAN setup (experiment=stacked_mnist_unrolled*: PacGAN Table 3's "D is 1/4 size of G"), where
#: a plain DCGAN collapses: its DCGAN and PacDCGAN2 rows, R3GAN's loss on the setup's nets (R3GAN's own nets would
#: replace the small D the setup is about), and the D at 1/2 size (Table 3's other column)
UNROLLED_ROWS: dict[str, list[str]] = {
    "DCGAN": [],
    "PacGAN2": ["trick=packing", "tricks.packing.m=2", "data.batch_size=256"],
    "RpGAN + R1 + R2": ["loss=rpgan"],
    "DCGAN, D 1/2 size": ["model.discriminator.width=4"],
    "PacGAN2, D 1/2 size": ["model.discriminator.width=4", "trick=packing", "tricks.packing.m=2", "data.batch_size=256"],
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

#: PacGAN Table 3 (github.com/fjxmlzn/PacGAN stacked_MNIST_experiments/results/Table3.png): the Unrolled GAN setup,
#: "D is 1/4 size of G" and "D is 1/2 size of G"; PacGAN's rows over 50 trials (mean ± s.e.), the others as Unrolled GAN
#: (Metz et al. 2017) reported them
PUBLISHED_UNROLLED = {
    "PacGAN (Lin et al. 2018) Table 3, D 1/4 size of G, mean ± s.e.": {
        "DCGAN (Metz et al.)": ((30.6, 20.73), (5.99, 0.42)),
        "Unrolled GAN, 10 steps (Metz et al.)": ((327.2, 74.67), (4.66, 0.46)),
        "DCGAN (PacGAN's, 50 trials)": ((78.5, 17.56), (5.21, 0.19)),
        "PacDCGAN2": ((484.5, 32.99), (2.61, 0.22)),
        "PacDCGAN4": ((667.4, 29.00), (1.81, 0.15)),
    },
    "PacGAN (Lin et al. 2018) Table 3, D 1/2 size of G, mean ± s.e.": {
        "DCGAN (Metz et al.)": ((628.0, 140.9), (2.58, 0.75)),
        "DCGAN (PacGAN's, 50 trials)": ((487.7, 34.59), (2.24, 0.15)),
        "PacDCGAN2": ((840.7, 15.92), (1.00, 0.05)),
    },
}

#: each protocol's rows, the published rows beside them, and whether a row's seeds run as separate train.py runs (one
#: per seed, --jobs at a time) instead of one ensemble: the small nets of the Unrolled setup run slower under vmap than
#: one at a time on a CPU (grouped convolutions of 3-8 channels; 3 seeds as one ensemble: 165-180 ms an iteration at 2
#: threads, one seed 43 ms, 2026-12-06)
PROTOCOLS = {
    "cpu": (ROWS, PUBLISHED, False),
    "paper": (ROWS, PUBLISHED, False),
    "unrolled_cpu": (UNROLLED_ROWS, PUBLISHED_UNROLLED, True),
    "unrolled": (UNROLLED_ROWS, PUBLISHED_UNROLLED, False),
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
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="cpu", help="experiment=stacked_mnist_<protocol>")
    parser.add_argument("--rows", nargs="+", default=["DCGAN"], help=f"row names or 'all': {list(ROWS)}; unrolled*: {list(UNROLLED_ROWS)}")
    parser.add_argument("--seeds", type=int, help="seeds a row (the protocol's: 3 for cpu and unrolled_cpu, 10 for paper and unrolled)")
    parser.add_argument("--steps", type=int, help="trainer.max_steps (the protocol's)")
    parser.add_argument("--samples", type=int, help="metrics.num_samples (the protocol's: 26,000; unrolled*: 25,600)")
    parser.add_argument("--quick", action="store_true", help="2 seeds x 200 iterations, 2,000 samples: a smoke run, not numbers")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (2 = one per core, with --threads 1)")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: 2 // jobs, at least 1)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for every row")
    parser.add_argument("--runs", type=Path, default=None, help="the rows' run folders (default outputs/stacked_mnist/<date-time>)")
    parser.add_argument("--print", action="store_true", help="print each run's train.py command and stop")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/stacked_mnist_...)")
    args = parser.parse_args()
    rows, published, separate = PROTOCOLS[args.protocol]
    if args.quick:
        args.seeds, args.steps, args.samples = args.seeds or 2, args.steps or 200, args.samples or 2000
        args.set = [*args.set, "data.num_train=10000"]
    names = list(rows) if args.rows == ["all"] else args.rows
    unknown = [name for name in names if name not in rows]
    if unknown:
        parser.error(f"unknown row(s) {unknown} of --protocol {args.protocol}: choose from {list(rows)} or 'all' (quote names with spaces)")
    runs = args.runs or ROOT / "outputs" / "stacked_mnist" / time.strftime("%Y-%m-%d_%H-%M-%S")
    # a cell is one train.py run: a row's seeds as one ensemble, or (separate) one seed of a row
    seeds = list(range(args.seeds or 3)) if separate else [None]
    ensemble_args = argparse.Namespace(**{**vars(args), "seeds": None}) if separate else args
    cells = {}
    for name in names:
        for seed in seeds:
            run_dir = runs / slug(name) / (f"seed_{seed}" if separate else "")
            per_seed = [f"seed={seed}", "ensemble.seeds=1"] if separate else []
            cells[(name, seed)] = (row_command(args.protocol, [*rows[name], *per_seed], run_dir, ensemble_args), run_dir)
    if args.print:
        for command, _ in cells.values():
            print(shlex.join(["python", *command[1:]]))
        return

    threads = args.threads or max(1, 2 // args.jobs)
    order = sorted(cells, key=lambda key: -COST.get(key[0], 0))  # the costliest first, so that --jobs ends together
    print(f"# {len(cells)} run(s) of {len(names)} row(s), {args.jobs} at a time, {threads} thread(s) each; run folders under {runs}", flush=True)
    started, done = time.perf_counter(), {name: [] for name in names}
    results = {}
    for (name, seed), summary, seconds in run_cells({key: cells[key] for key in order}, args.jobs, threads):
        done[name].append((seed, summary, seconds))
        if len(done[name]) < len(seeds):
            continue
        parts = sorted(done[name], key=lambda part: part[1]["seed"])
        per_seed = [r for _, summary_, _ in parts for r in member_results(summary_)]
        first = parts[0][1]
        results[name] = {"overrides": rows[name], "command": shlex.join(["python", *cells[(name, parts[0][0])][0][1:]]), "results": per_seed,
                         "seconds": sum(part[2] for part in parts), "training_seconds": sum(part[1]["wall_seconds"] for part in parts),
                         "steps": first["steps"], "run_dir": str(Path(first["run_dir"]).parent) if separate else first["run_dir"],
                         "runs": len(parts), "held_out_real": first["metrics"]["metrics/protocol"].get("held_out_real")}
        modes, kl = mean_se([r["modes_covered"] for r in per_seed]), mean_se([r["kl"] for r in per_seed])
        print(f"{name:24s} modes {modes[0]:.1f} ± {modes[1]:.1f}  KL {kl[0]:.2f} ± {kl[1]:.2f}  per seed "
              f"{[(r['modes_covered'], round(r['kl'], 2)) for r in per_seed]}  ({first['steps']} iterations, "
              f"{results[name]['seconds'] / 60:.1f} min of runs; {(time.perf_counter() - started) / 60:.1f} min since start)", flush=True)
    results = {name: results[name] for name in names}  # the table in the rows' order
    wall = time.perf_counter() - started
    figures = {"protocol": args.protocol, "experiment": f"experiment=stacked_mnist_{args.protocol}", "jobs": args.jobs, "threads": threads,
               "separate_seeds": separate, "device": args.device, "overrides": args.set, "wall_seconds": wall, "runs": results,
               "published": published}
    print(f"\nwall time {wall / 60:.1f} min")
    tag = f"{args.protocol}_{'all' if args.rows == ['all'] else slug('_'.join(names))}{'_quick' if args.quick else ''}"
    write_result("stacked_mnist", figures, out=args.out, tag=tag, device=args.device)


if __name__ == "__main__":
    main()

"""Images/s of an ensemble of seeds (``ensemble.seeds=M``, one process, one batched model) against the
same setting trained one seed per run (M runs one after another): both are gan-lab's own training loop
(the real Trainer, default callbacks, a CSV logger), timed by throughput.py's Stopwatch over the same
iterations, alternated round by round so that machine noise hits both alike.

    python benchmarks/ensemble.py                       # gan_mlp on ring8 at the 2-D protocol's widths, M = 10
    python benchmarks/ensemble.py --members 5 --rounds 3
    python benchmarks/ensemble.py --model dcgan --data mnist5k --batch-size 64 --members 4
    python benchmarks/ensemble.py --device cuda         # a GPU

An ensemble's images/s counts every member's images (M x batch per iteration); the separate runs' is
one run's images/s (M runs in sequence take M times as long for M times the images). ``speedup`` is
their ratio: how much faster M seeds finish in one ensemble than in M runs on this machine.
The result file (``benchmarks/results/ensemble_<date>_<setting>.json``) holds every round.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402
from benchmarks.throughput import gan_lab_round  # noqa: E402

#: the 2-D mode-collapse protocol's nets (benchmarks/mode_collapse.py, protocol cpu): G 3 x 128 with BN, D 2 x 128 maxout 2
PROTOCOL_NETS = ["model.generator.hidden=[128,128,128]", "model.generator.batch_norm=true", "model.discriminator.hidden=[128,128]",
                 "model.discriminator.maxout_pieces=2", "model.discriminator.input_dropout=0", "model.discriminator.dropout=0",
                 "model.z_dim=2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gan_mlp")
    parser.add_argument("--data", default="ring8")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="timed iterations per round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for both, e.g. model.discriminator.hidden=[64,64]")
    args = parser.parse_args()

    nets = PROTOCOL_NETS if args.model == "gan_mlp" and args.data in ("ring8", "grid25") else []
    common = ["experiment=dcgan", f"model={args.model}", f"data={args.data}", f"data.batch_size={args.batch_size}", *nets,
              "logger=csv", "metrics=none", "samples.every_n_steps=0", "checkpoint.every_n_steps=0",
              "trainer.log_every_n_steps=50", "trainer.enable_progress_bar=false",
              f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", *args.overrides]
    single, ensemble = [], []
    for r in range(args.rounds):
        single.append(gan_lab_round(common, args.steps, args.warmup)[0])
        ensemble.append(gan_lab_round([*common, f"ensemble.seeds={args.members}"], args.steps, args.warmup)[0] * args.members)
        print(f"round {r + 1}: one seed per run {single[-1]:,.0f} img/s, ensemble of {args.members} {ensemble[-1]:,.0f} img/s "
              f"({ensemble[-1] / single[-1]:.2f}x)", flush=True)
    figures = {
        "model": args.model, "data": args.data, "batch_size": args.batch_size, "members": args.members,
        "steps": args.steps, "warmup": args.warmup, "overrides": common[4:],
        "threads": torch.get_num_threads(),
        "separate_runs_img_s": single, "ensemble_img_s": ensemble,
        "separate_runs_img_s_median": statistics.median(single), "ensemble_img_s_median": statistics.median(ensemble),
        "speedup": statistics.median(e / s for e, s in zip(ensemble, single)),
    }
    print(f"median: separate runs {figures['separate_runs_img_s_median']:,.0f} img/s, ensemble "
          f"{figures['ensemble_img_s_median']:,.0f} img/s: {figures['speedup']:.2f}x")
    write_result("ensemble", figures, out=args.out, tag=f"{args.model}_{args.data}_m{args.members}", device=args.device)


if __name__ == "__main__":
    main()

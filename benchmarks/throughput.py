"""Images/s of gan-lab's training step vs a plain PyTorch loop (same nets, batch, optimizers).

Both run in this process, alternated round by round so that machine noise hits both alike.
gan-lab runs the real Trainer + GAN module with its default callbacks and a CSV logger
(logging every 50 iterations); the plain loop does the same D/G arithmetic by hand.

    python benchmarks/throughput.py                 # DCGAN on mnist5k, batch 64, 5 rounds (the machine's reference)
    python benchmarks/throughput.py --default-run   # the default run's recipe (dcgan_sn, batch 32, Adam 6e-4, EMA)
    python benchmarks/throughput.py --model gan_mlp --steps 300 --rounds 3
    python benchmarks/throughput.py --compile          # model.compile=true in both loops
    python benchmarks/throughput.py --channels-last    # model.channels_last=true in both loops
    python benchmarks/throughput.py --device cuda --precision bf16-mixed [--compile]   # a GPU

Each run writes a result file, ``benchmarks/results/throughput_<date>_<setting>.json`` (``--out``), with
every round, the medians, the command, commit, machine and date. The reference setting (the first line
above: DCGAN, batch 64, mnist5k, CPU, fp32, no options) is the machine's reference: its plain-loop
images/s is quoted beside every wall-clock figure of the same day (``benchmarks/record.py``).

``--compile`` / ``--channels-last`` set ``model.compile`` / ``model.channels_last`` for gan-lab, and the
plain loop gets the same nets through the same code (``GAN.configure_model``) with NHWC batches. Each
round prints the seconds of its first iteration (with ``--compile``: compiling G and D; the first
round compiles from scratch into a fresh inductor cache, later rounds re-trace and hit that cache).
``--device cuda`` runs gan-lab with ``trainer.accelerator=gpu`` and the plain loop with its nets, data
and z on the GPU; ``--precision`` is ``trainer.precision`` there and a bf16 ``torch.autocast``
around the plain loop's forward passes. The clocks are read after a device synchronisation.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: the caller's inductor cache, read before importing gan-lab (an import sets the variable to the default)
CALLER_INDUCTOR_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402
from gan_lab.cli import compose  # noqa: E402
from gan_lab.runner import build_run  # noqa: E402


class Stopwatch(L.Callback):
    """From the start of iteration ``warmup`` to the end of the last iteration: the training steps
    only, not the end-of-run work of other callbacks (final metrics, memorization check)."""

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup, self.last, self.start, self.end = warmup, last, None, None
        self.first_start, self.first = None, None  # the first iteration (compilation under --compile)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == 0:
            self.first_start = _clock()
        if trainer.global_step == self.warmup:
            self.start = _clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == 1:
            self.first = _clock() - self.first_start
        if trainer.global_step == self.last:
            self.end = _clock()


def _clock() -> float:
    """perf_counter after the GPU's queued work (if any) has run."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


def gan_lab_round(overrides: list[str], steps: int, warmup: int) -> tuple[float, float]:
    """(images/s, seconds of the first iteration)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(compose([*overrides, f"trainer.max_steps={steps + warmup}"], run_dir=Path(tmp)))
        watch = Stopwatch(warmup, steps + warmup)
        # first, so that the last iteration's end is taken before the evaluation callback's (at max_steps,
        # since the best-checkpoint monitor): the window holds the other callbacks' per-iteration work only
        run.trainer.callbacks.insert(0, watch)
        run.trainer.fit(run.module, datamodule=run.datamodule)
        return steps * run.datamodule.batch_size / (watch.end - watch.start), watch.first


def plain_round(overrides: list[str], steps: int, warmup: int, device: str = "cpu",
                precision: str = "32-true") -> tuple[float, float]:
    """The same iteration written by hand: D step on real + G(z).detach(), then G step, then the EMA of
    G when the config has one (``ema=``: the same ``GeneratorEMA.update`` arithmetic). (images/s,
    seconds of the first iteration)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(compose(overrides, run_dir=Path(tmp)))
    run.module.configure_model()  # model.channels_last / model.compile: the nets gan-lab's loop gets
    channels_last = run.module.channels_last
    run.module.to(device)
    G, D = run.module.generator, run.module.discriminator
    ema, G_ema = run.module.ema, run.module.generator_ema
    if precision not in ("32-true", "32", "bf16-mixed"):
        raise SystemExit(f"the plain loop runs --precision 32-true or bf16-mixed, not {precision}")
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    g_opt = run.module.g_optimizer_factory(G.parameters())
    d_opt = run.module.d_optimizer_factory(D.parameters())
    data, batch = run.datamodule.prepare().train_x.to(device), run.datamodule.batch_size
    generator = torch.Generator(device).manual_seed(0)
    start, first = None, None
    first_start = _clock()
    for step in range(steps + warmup):
        if step == 1:
            first = _clock() - first_start
        if step == warmup:
            start = _clock()
        real = data.index_select(0, torch.randint(len(data), (batch,), generator=generator, device=device))
        if channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        with autocast:
            fake = G(torch.randn(batch, G.z_dim, device=device))
            real_logits, _ = D(real)
            fake_logits, _ = D(fake.detach())
            d_loss = F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        for p in D.parameters():
            p.requires_grad_(False)
        with autocast:
            g_loss = F.softplus(-D(fake)[0].float()).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        for p in D.parameters():
            p.requires_grad_(True)
        if G_ema is not None:
            ema.update(G_ema, G, cur_nimg=step * batch, images=batch)
    return steps * batch / (_clock() - start), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="timed iterations per round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="model.compile=true (torch.compile of G and D) in both loops")
    parser.add_argument("--channels-last", action="store_true", help="model.channels_last=true in both loops")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: trainer.accelerator=gpu, plain loop on the GPU")
    parser.add_argument("--precision", default="32-true", help="trainer.precision (the plain loop: 32-true or bf16-mixed autocast)")
    parser.add_argument("--default-run", action="store_true",
                        help="the default run's recipe (model, batch, optimiser, EMA: conf/train.yaml's defaults) instead of "
                             "the reference DCGAN at batch 64; --model / --batch-size are then ignored")
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/throughput_<date>_<setting>.json)")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for both loops, e.g. model.discriminator.spectral_norm=true")
    args = parser.parse_args()
    # the machine's reference (the figure quoted beside every wall time): the groups' DCGAN at batch 64,
    # experiment=dcgan; --default-run: the default run's recipe (conf/train.yaml's defaults) as it is
    nets = [] if args.default_run else ["experiment=dcgan", f"model={args.model}", f"data.batch_size={args.batch_size}"]
    overrides = [*nets, f"data={args.data}", "logger=csv",
                 "trainer.enable_progress_bar=false", "samples.every_n_steps=0", "checkpoint.every_n_steps=0",
                 f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", "trainer.devices=1",
                 f"trainer.precision={args.precision}", f"model.compile={str(args.compile).lower()}",
                 f"model.channels_last={str(args.channels_last).lower()}", *args.overrides]
    cache = None
    if args.compile and CALLER_INDUCTOR_CACHE is None:  # round 1 compiles from scratch
        cache = tempfile.TemporaryDirectory(prefix="inductor_")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name
    ours, plain = [], []
    for r in range(args.rounds):
        # the order alternates, so that whatever the first loop of a round leaves behind (allocator state,
        # a machine busier at one moment) hits both alike
        order = ((gan_lab_round, ours), (plain_round, plain))
        for loop, results in order if r % 2 == 0 else order[::-1]:
            torch._dynamo.reset()  # each loop compiles its own nets (no recompile limit reached across rounds)
            extra = {"device": args.device, "precision": args.precision} if loop is plain_round else {}
            results.append(loop(overrides, args.steps, args.warmup, **extra))
        print(f"round {r + 1}: gan-lab {ours[-1][0]:8.1f} img/s   plain loop {plain[-1][0]:8.1f} img/s   "
              f"ratio {ours[-1][0] / plain[-1][0]:.3f}   "
              f"first iteration: gan-lab {ours[-1][1]:6.2f} s, plain {plain[-1][1]:6.2f} s", flush=True)
    med_ours, med_plain = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in plain)
    # the ratio of each round's pair (measured back to back, under the same machine load), then their median:
    # on a shared machine whose speed drifts by 10-20 % over minutes it is steadier than the ratio of medians
    med_ratio = statistics.median(o[0] / p[0] for o, p in zip(ours, plain))
    what = "the default run's recipe" if args.default_run else f"model={args.model} batch={args.batch_size}"
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, threads={torch.get_num_threads()}"
    print(f"\n{what} data={args.data} device={device} precision={args.precision} "
          f"compile={args.compile} channels_last={args.channels_last}")
    print(f"median images/s: gan-lab {med_ours:.1f}, plain PyTorch {med_plain:.1f}, ratio {med_ours / med_plain:.3f}; "
          f"median of the rounds' ratios {med_ratio:.3f}")
    print(f"first iteration: gan-lab {ours[0][1]:.1f} s in round 1, median {statistics.median(r[1] for r in ours[1:] or ours):.1f} s "
          "in later rounds")
    if cache is not None:
        cache.cleanup()
    reference_setting = (not args.default_run and args.model == "dcgan" and args.batch_size == 64 and args.data == "mnist5k"
                         and args.device == "cpu" and args.precision in ("32", "32-true") and not args.compile
                         and not args.channels_last and not args.overrides)
    setting = "default_run" if args.default_run else f"{args.model}_b{args.batch_size}_{args.data}"
    setting += f"_{args.device}" + ("" if args.precision in ("32", "32-true") else f"_{args.precision}")
    setting += "_compile" * args.compile + "_channels_last" * args.channels_last + "_overrides" * bool(args.overrides)
    figures = {
        "setting": setting, "reference_setting": reference_setting, "what": what, "data": args.data,
        "device": device, "precision": args.precision, "compile": args.compile, "channels_last": args.channels_last,
        "overrides": args.overrides, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
        "gan_lab_img_s": med_ours, "plain_img_s": med_plain, "ratio_of_medians": med_ours / med_plain,
        "median_ratio": med_ratio,
        "per_round": [{"gan_lab_img_s": o[0], "plain_img_s": p[0], "gan_lab_first_s": o[1], "plain_first_s": p[1]}
                      for o, p in zip(ours, plain)],
    }
    reference = {"plain_loop_img_s": med_plain, "file": "(this file)", "measured_at": "(this run)"} if reference_setting else None
    write_result("throughput", figures, out=args.out, tag=setting, device=args.device, reference=reference)


if __name__ == "__main__":
    main()

#!/bin/bash
# The GPU figures of issue 24 in one go, sized for one device call (600 s; about 7-8 min of work on an H100):
# the machine's CPU reference; throughput against the plain loop, fp32 and bf16-mixed, eager and compiled;
# a 10-seed ensemble against 10 runs; the cost per iteration of the paper protocols (mode collapse on ring8,
# PacGAN's nets, 10 seeds; Stacked MNIST, 10 seeds), from short runs whose result files record their seconds.
# Run from the repository root on a machine with a GPU and gan-lab installed:
#     OUT=/some/dir bash benchmarks/gpu_suite.sh
# The log goes to ${OUT:-.}/gpu.log; every result file written (benchmarks/results/) is copied to ${OUT:-.}.
# Each step runs even if one before it failed (its error is in the log). STEPS=quick runs the same commands with
# tiny lengths on the CPU (a check of the script, not figures: run it in a scratch clone, its result files are noise).
export PYTHONUNBUFFERED=1 GAN_LAB_CACHE=${GAN_LAB_CACHE:-/tmp/gan_lab_gpu_cache} WANDB_MODE=disabled
OUT=${OUT:-.}
exec > >(tee -a "$OUT/gpu.log") 2>&1
t0=$(date +%s); START=$(mktemp); touch "$START"
stamp() { echo "### $(( $(date +%s) - t0 )) s: $*"; }
if [ "${STEPS:-}" = quick ]; then
  S=20; R=1; MC=50; SM=20; SAMPLES=200; DEV=${DEV:-cpu}
else
  S=300; R=3; MC=3000; SM=1000; SAMPLES=2600; DEV=${DEV:-cuda}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"
stamp "the machine's reference (CPU, DCGAN b64)"; python3 benchmarks/throughput.py --rounds "$R" --steps "$S"
T="python3 benchmarks/throughput.py --device $DEV --rounds $R --steps $S --warmup 30"
stamp "throughput fp32, DCGAN b64 (goal >= 0.95x the plain loop)"; $T metrics=none
stamp "throughput bf16-mixed"; $T --precision bf16-mixed metrics=none
stamp "throughput fp32, compiled"; $T --compile metrics=none
stamp "throughput bf16-mixed, compiled"; $T --precision bf16-mixed --compile metrics=none
stamp "gan_mlp ring8 (launch-bound)"; $T --model gan_mlp --data ring8 metrics=none
stamp "10-seed ensemble vs 10 runs, ring8"; python3 benchmarks/ensemble.py --device "$DEV" --members 10 --rounds "$R" --steps "$S"
stamp "mode collapse, PacGAN's protocol, GAN and PacGAN4 on ring8, 10 seeds, $MC iterations"
python3 benchmarks/mode_collapse.py --protocol pacgan --device "$DEV" --rows GAN PacGAN4 --data ring8 --steps "$MC"
stamp "Stacked MNIST, the paper protocol, DCGAN, 10 seeds, $SM iterations"
python3 benchmarks/stacked_mnist.py --protocol paper --device "$DEV" --rows DCGAN --seeds 10 --steps "$SM" --samples "$SAMPLES"
find benchmarks/results -name '*.json' -newer "$START" -exec cp {} "$OUT/" \;
rm -f "$START"
stamp done

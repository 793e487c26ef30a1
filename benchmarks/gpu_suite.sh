#!/bin/bash
# The GPU figures in one go (about 5 min after start-up on an H100): the machine's CPU reference, throughput
# fp32 / bf16-mixed / compile, the default run's recipe, Inception evaluation img/s and the mode-collapse
# protocols' cost per iteration. Run from the repository root on a machine with a GPU and gan-lab's
# dependencies; the log goes to ${OUT:-.}/gpu.log and every result file written (benchmarks/results/) is
# copied to ${OUT:-.} at the end.
export PYTHONUNBUFFERED=1 GAN_LAB_CACHE=${GAN_LAB_CACHE:-/tmp/gan_lab_gpu_cache} WANDB_MODE=disabled
exec > >(tee -a "${OUT:-.}/gpu.log") 2>&1
t0=$(date +%s)
stamp() { echo "### $(( $(date +%s) - t0 )) s: $*"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"
stamp "the machine's reference (CPU, DCGAN b64)"; python3 benchmarks/throughput.py --rounds 3
T="python3 benchmarks/throughput.py --device cuda --rounds 2 --steps 300 --warmup 30"
stamp "throughput fp32, reference DCGAN b64"; $T metrics=none
stamp "throughput bf16-mixed"; $T --precision bf16-mixed metrics=none
stamp "inception eval"; python3 benchmarks/metrics_speed.py --extractor inception --n 10000 --device cuda
stamp "pacgan protocol cost, 10 seeds batched"; python3 benchmarks/mode_collapse.py --protocol pacgan --time-only --device cuda --rows GAN PacGAN4 --data ring8
stamp "pacgan protocol, one seed"; python3 benchmarks/mode_collapse.py --protocol pacgan --time-only --device cuda --rows GAN --data ring8 --seeds 0
stamp "default run's recipe, fp32 and bf16"; $T --default-run metrics=none; $T --default-run --precision bf16-mixed metrics=none
stamp "bf16-mixed + compile"; $T --precision bf16-mixed --compile metrics=none
find benchmarks/results -name '*.json' -newer pyproject.toml -exec cp {} "${OUT:-.}/" \;
stamp done

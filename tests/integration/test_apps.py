"""python -m gan_lab.sample and python -m gan_lab.evaluate are Hydra apps on the same conf/ tree."""
import json
import subprocess
import sys

import pytest

from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN


def app(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from tests.conftest import compose_cfg

    root = tmp_path_factory.mktemp("apps")
    paths = []
    for seed in (0, 1):
        summary = run(compose_cfg([f"seed={seed}", "checkpoint.every_n_steps=2", "trick=virtual_bn", *SMALL_DCGAN], run_dir=root / f"run{seed}"))
        paths.append(summary["last_checkpoint"])
    return paths


def test_sample_keeps_its_spellings_and_hydra_run_dir(checkpoints, tmp_path):
    result = app("gan_lab.sample", f"ckpt_path={checkpoints[0]}", "n=10", f"out={tmp_path / 'gen'}", "individual=true",
                 f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "gen" / "grid.png").is_file() and len(list((tmp_path / "gen").glob("sample_*.png"))) == 10
    assert (tmp_path / "job" / ".hydra" / "config.yaml").is_file()  # Hydra's record of the job


def test_sample_multirun_over_checkpoints_writes_next_to_each_run(checkpoints, tmp_path):
    result = app("gan_lab.sample", "-m", f"ckpt_path={','.join(checkpoints)}", "n=4", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    from pathlib import Path

    for ckpt in checkpoints:
        assert (Path(ckpt).parent.parent / "generated" / "grid.png").is_file()


def test_sample_cfg_job_and_unknown_option(tmp_path):
    shown = app("gan_lab.sample", "--cfg", "job", "ckpt_path=a.ckpt", cwd=tmp_path)
    assert shown.returncode == 0 and "ckpt_path: a.ckpt" in shown.stdout and "'n': 64" in shown.stdout
    bad = app("gan_lab.sample", "ckpt_path=a.ckpt", "num=3", cwd=tmp_path)
    assert bad.returncode != 0 and "num" in bad.stderr
    missing = app("gan_lab.sample", "ckpt_path=/nonexistent.ckpt", f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "gan-lab: error: ckpt_path=/nonexistent.ckpt: no such checkpoint file (checkpoints are in outputs/<date>/<time>/checkpoints/)"


def test_evaluate_a_checkpoint_and_a_folder(checkpoints, tmp_path, gan_lab_cache):
    env_out = tmp_path / "scores.json"
    result = app("gan_lab.evaluate", f"ckpt_path={checkpoints[0]}", "num_samples=200", f"out={env_out}",
                 f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(env_out.read_text())
    assert scores["metrics/protocol"]["num_samples"] == 200 and "metrics/clf_fid200" in scores
    gen = tmp_path / "gen"
    assert app("gan_lab.sample", f"ckpt_path={checkpoints[0]}", "n=70", f"out={gen}", "individual=true",
               f"hydra.run.dir={tmp_path / 'job2'}", cwd=tmp_path).returncode == 0
    (gen / "grid.png").unlink()
    folder = app("gan_lab.evaluate", f"folder={gen}", "data=mnist5k", f"hydra.run.dir={tmp_path / 'job3'}", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr[-2000:]
    assert json.loads(folder.stdout)["metrics/protocol"]["num_samples"] == 70
    no_data = app("gan_lab.evaluate", f"folder={gen}", f"hydra.run.dir={tmp_path / 'job4'}", cwd=tmp_path)
    assert no_data.returncode == 1 and "folder= needs data=NAME" in no_data.stderr
    neither = app("gan_lab.evaluate", "num_samples=100", f"hydra.run.dir={tmp_path / 'job5'}", cwd=tmp_path)
    assert neither.returncode == 1 and "gan-lab: error: give exactly one of ckpt_path= or folder=" in neither.stderr
    bogus = app("gan_lab.evaluate", f"ckpt_path={checkpoints[0]}", "bogus=1", cwd=tmp_path)
    assert bogus.returncode != 0 and "bogus" in bogus.stderr and "Traceback" not in bogus.stderr

"""The latent tools of python -m gan_lab.sample, through the real CLI: interpolation grid and GIF,
one sample per seed, truncation, and the one-line errors of bad options."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN


def sample_app(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_lab.sample", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tests.conftest import compose_cfg

    root = tmp_path_factory.mktemp("latent")
    return run(compose_cfg(["seed=0", "checkpoint.every_n_steps=2", *SMALL_DCGAN], run_dir=root / "run"))["last_checkpoint"]


@pytest.mark.slow
def test_interpolation_writes_the_grid_and_a_looping_gif_through_all_seeds(checkpoint, tmp_path):
    out = tmp_path / "latent"
    result = sample_app(f"ckpt_path={checkpoint}", "interpolate=slerp", "seeds=[1,2,3]", "steps=8", f"out={out}",
                        f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {out / 'interpolation.png'}" in result.stdout and f"wrote {out / 'interpolation.gif'}" in result.stdout
    grid = Image.open(out / "interpolation.png")
    assert grid.size == (8 * 30 + 2, 2 * 30 + 2)  # 8 columns, one row per consecutive pair; 28-pixel digits, 2-pixel padding
    gif = Image.open(out / "interpolation.gif")
    assert gif.n_frames == 3 * (8 - 1)  # 1 -> 2 -> 3 -> 1, each code once
    assert gif.info["loop"] == 0 and gif.size == (140, 140)  # loops forever; 28 pixels enlarged 5 times


@pytest.mark.slow
def test_lerp_with_truncation_and_two_seeds(checkpoint, tmp_path):
    out = tmp_path / "latent"
    result = sample_app(f"ckpt_path={checkpoint}", "interpolate=lerp", "seeds=[4,5]", "steps=3", "truncation=0.7", f"out={out}",
                        f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(out / "interpolation.gif").n_frames == 2 * (3 - 1)  # 4 -> 5 -> 4


@pytest.mark.slow
def test_adding_a_seed_changes_no_other_sample(checkpoint, tmp_path):
    pixels = {}
    for seeds in ("[1,2]", "[1,2,3]"):
        out = tmp_path / f"seeds{len(seeds)}"
        result = sample_app(f"ckpt_path={checkpoint}", f"seeds={seeds}", "individual=true", "truncation=0.7", f"out={out}",
                            f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert (out / "grid.png").is_file()
        pixels[seeds] = [np.asarray(Image.open(out / f"seed_{s}.png")) for s in (1, 2)]
    assert not np.array_equal(*pixels["[1,2]"])
    for few, more in zip(pixels["[1,2]"], pixels["[1,2,3]"]):
        assert np.array_equal(few, more)


@pytest.mark.parametrize(("options", "message"), [
    (["truncation=0"], "truncation=0: the threshold must be a positive number (e.g. truncation=0.7; truncation=null turns it off)"),
    (["interpolate=cubic", "seeds=[1,2]"], "interpolate=cubic: use interpolate=slerp"),
    (["interpolate=slerp"], "interpolate=slerp goes from seed to seed: give two or more, e.g. 'seeds=[1,2,3]'"),
    (["interpolate=lerp", "seeds=[1,2]", "steps=1"], "steps=1: an interpolation needs at least its two ends (e.g. steps=8)"),
    (["seeds=7"], "seeds=7: give a list of non-negative integers"),
    (["seeds=[1,2]", "n=10"], "n=10 and seeds=: seeds= makes one sample per seed"),
])
def test_bad_latent_options_are_one_line(options, message, tmp_path):
    result = sample_app("ckpt_path=a.ckpt", *options, f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(f"gan-lab: error: {message}")


def test_two_d_interpolation_plots_the_paths(tmp_path):
    from gan_lab.nets import MLPGenerator
    from gan_lab.sample import write_interpolation

    points_g = MLPGenerator(image_size=None, channels=None, z_dim=4, hidden=[8]).eval()
    paths = write_interpolation(points_g, [1, 2, 3], 5, "slerp", tmp_path)
    assert paths == [tmp_path / "interpolation.png"] and Image.open(paths[0]).size == (400, 400)

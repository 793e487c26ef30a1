"""task=conditional end to end: a short run on mnist5k logs metrics/clf_class_match and the per-class /
intra-FID, gan_lab.evaluate scores the checkpoint the same way, draws class-by-row
training grids, and python -m gan_lab.sample draws one class (class=3) or a row per class (class=all);
class= on an unconditional checkpoint, or out of range, is refused in one line."""
import subprocess
import sys

import pytest
from PIL import Image

from gan_lab.errors import ConfigError
from gan_lab.runner import run
from gan_lab.sample import sample
from tests.conftest import SMALL_DCGAN, compose_cfg

STEPS = 20


@pytest.fixture(scope="module")
def runs(tmp_path_factory, gan_lab_cache):
    root = tmp_path_factory.mktemp("conditional")
    conditional = run(compose_cfg(["task=conditional", "data.batch_size=16", f"trainer.max_steps={STEPS}", "metrics=classifier",
                                   "metrics.num_samples=500", "metrics.memorization_samples=0", "metrics.every_n_steps=0",
                                   "samples.every_n_steps=10", f"checkpoint.every_n_steps={STEPS}", *SMALL_DCGAN], run_dir=root / "conditional"))
    plain = run(compose_cfg(["checkpoint.every_n_steps=4", *SMALL_DCGAN], run_dir=root / "plain"))
    return conditional, plain


def sample_app(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_lab.sample", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_conditional_run_logs_the_class_match_and_draws_a_row_per_class(runs):
    summary = runs[0]
    assert summary["steps"] == STEPS and summary["task"] == "conditional"
    match = summary["metrics"]["metrics/clf_class_match500"]
    assert 0.0 <= match <= 1.0
    per_class = [summary["metrics"][f"metrics/clf_fid500_class_{k}"] for k in range(10)]
    assert all(fid > 0 for fid in per_class)
    assert summary["metrics"]["metrics/clf_intra_fid500"] == pytest.approx(sum(per_class) / 10)
    grid = Image.open(f"{summary['run_dir']}/samples/step_{STEPS:07d}.png")
    assert grid.size == (8 * 30 + 2, 10 * 30 + 2)  # 8 fixed codes (of 64) per row, a row per class; 28-pixel digits


@pytest.mark.slow
def test_sample_draws_one_class_or_a_row_per_class(runs, tmp_path):
    ckpt = runs[0]["last_checkpoint"]
    for option, size in (("class=3", (4 * 30 + 2, 4 * 30 + 2)), ("class=all", (2 * 30 + 2, 10 * 30 + 2))):
        out = tmp_path / option.replace("=", "_")
        result = sample_app(f"ckpt_path={ckpt}", option, "n=20" if option == "class=all" else "n=16", f"out={out}",
                            f"hydra.run.dir={tmp_path / 'job'}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert Image.open(out / "grid.png").size == size  # class=all: n // K = 2 codes per row, a row per class


def test_class_is_refused_on_an_unconditional_checkpoint_and_out_of_range(runs, tmp_path):
    with pytest.raises(ConfigError, match="not class-conditional") as err:
        sample(runs[1]["last_checkpoint"], n=4, out=str(tmp_path), label=3)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"has 10 classes; use class=0 \.\. class=9") as err:
        sample(runs[0]["last_checkpoint"], n=4, out=str(tmp_path), label=10)
    assert "\n" not in str(err.value)


def test_evaluate_scores_a_conditional_checkpoint_for_its_classes(runs):
    from hydra import compose, initialize_config_dir

    from gan_lab.evaluate import evaluate
    from tests.conftest import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt_path={runs[0]['last_checkpoint']}", "num_samples=500"])
    result = evaluate(cfg)
    assert 0.0 <= result["metrics/clf_class_match500"] <= 1.0
    per_class = [result[f"metrics/clf_fid500_class_{k}"] for k in range(10)]
    assert result["metrics/clf_intra_fid500"] == pytest.approx(sum(per_class) / 10)

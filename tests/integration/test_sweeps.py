"""Sweeps that survive a failed job and sum up by setting (issue 13, item 2); the best-evaluation
checkpoint and the value returned to a sweeper (item 1)."""
import csv
import json
import math

import pytest
import torch

from gan_lab.checks import check_config
from gan_lab.errors import ConfigError
from gan_lab.metrics.goals import goal
from gan_lab.runner import run
from tests.conftest import SMALL_MLP

RING = ["model=gan_mlp", "data=ring8", *SMALL_MLP, "data.batch_size=16", "metrics=classifier", "metrics.num_samples=200",
        "metrics.memorization_samples=0"]


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_failed_job_is_recorded_and_the_sweep_summarises_the_others_by_setting(cli, tmp_path):
    # data.batch_size=100000 is larger than ring8's training set: those two jobs fail at build time
    result = cli("-m", "model=gan_mlp", "data=ring8", *SMALL_MLP, "data.batch_size=16,100000", "seed=0,1", "logger=csv",
                 "trainer.enable_progress_bar=false", "trainer.max_steps=4", "trainer.log_every_n_steps=2",
                 "samples.every_n_steps=4", "checkpoint.every_n_steps=0", "metrics=classifier", "metrics.num_samples=200",
                 "metrics.every_n_steps=2", "metrics.memorization_samples=0")
    sweep = tmp_path / "multirun"
    assert result.returncode == 1, result.stderr[-3000:]  # the sweep ran to its end, then reports the failures
    assert "2 of 4 jobs failed" in result.stdout + result.stderr
    rows = _csv(sweep / "sweep_summary.csv")
    assert [r["status"] for r in rows] == ["done", "done", "failed", "failed"]
    for row in rows[2:]:
        assert "data.batch_size=100000 is larger than" in row["error"]
        assert (sweep / row["job"] / "error.txt").read_text().startswith("data.batch_size=100000")
    # the two seeds of the working setting: mean and sample std of their summary.json values, by hand
    key = "metrics/high_quality_fraction200"
    values = [json.loads((sweep / str(job) / "summary.json").read_text())["metrics"][key] for job in (0, 1)]
    settings = {r["setting"]: r for r in _csv(sweep / "sweep_settings.csv")}
    good, bad = settings["data.batch_size=16"], settings["data.batch_size=100000"]
    assert (good["seeds_done"], good["seeds_failed"], bad["seeds_done"], bad["seeds_failed"]) == ("2", "0", "0", "2")
    mean = (values[0] + values[1]) / 2
    assert float(good[f"{key}_mean"]) == pytest.approx(mean)
    assert float(good[f"{key}_std"]) == pytest.approx(math.sqrt((values[0] - mean) ** 2 + (values[1] - mean) ** 2))
    report = (sweep / "sweep_summary.md").read_text()
    assert "## Failed jobs" in report and "| `data.batch_size=16` | 2 |" in report and "0/samples/step_0000004.png" in report
    assert (sweep / "sweep_summary.png").is_file() and (sweep / "sweep_curves.png").is_file()


def test_a_missing_optimized_metric_is_one_line_listing_the_values_there_are(cli, tmp_path):
    result = cli("model=gan_mlp", "data=ring8", *SMALL_MLP, "logger=csv", "trainer.enable_progress_bar=false",
                 "trainer.max_steps=2", "trainer.log_every_n_steps=1", "samples.every_n_steps=0",
                 "checkpoint.every_n_steps=0", "metrics=none", "optimized_metric=metrics/clf_fid")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("gan-lab: error: optimized_metric=metrics/clf_fid: this run's summary has no such value; it has ")
    assert "train/d_loss" in line


@pytest.mark.parametrize("key", ["optimized_metric", "checkpoint.monitor"])
def test_a_metric_key_that_is_no_summary_value_fails_before_training(cfg_factory, key):
    with pytest.raises(ConfigError, match=f"{key}=clf_fid5k: name a metric of the run's summary, e.g. {key}=metrics/clf_fid5k"):
        check_config(cfg_factory(f"{key}=clf_fid5k"))
    with pytest.raises(ConfigError, match="checkpoint.mode=lowest: must be min or max"):
        check_config(cfg_factory("checkpoint.mode=lowest"))


def test_metric_goals():
    assert [goal(k) for k in ("metrics/clf_fid5k", "metrics/fid", "metrics/kid_mean", "metrics/test_error")] == ["min"] * 4
    assert [goal(k) for k in ("metrics/clf_is5k", "metrics/is_mean", "metrics/clf_recall5k", "metrics/modes_covered2500",
                              "metrics/high_quality_fraction2500", "metrics/clf_classes_covered5k")] == ["max"] * 6
    assert goal("metrics/nn_l1_ratio") is None


def test_best_checkpoint_keeps_the_best_evaluation_and_the_metrics_reach_callback_metrics(cfg_factory, tmp_path):
    key = "metrics/high_quality_fraction200"
    summary = run(cfg_factory(*RING, "trainer.max_steps=9", "metrics.every_n_steps=2", "checkpoint.every_n_steps=3",
                              f"checkpoint.monitor={key}"))
    history = [(h["step"], h[key]) for h in summary["metrics"]["metrics/history"]]
    assert [s for s, _ in history] == [2, 4, 6, 8, 9]  # every 2 iterations and the last one
    best_step = max(history, key=lambda p: (p[1], -p[0]))[0]  # ties: the first (strict improvement)
    best = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=False)
    assert summary["best_checkpoint"].endswith("checkpoints/best.ckpt")
    assert best["global_step"] == best_step
    assert summary["metrics"][key] == history[-1][1]  # the summary holds the last evaluation


@pytest.mark.slow
def test_optuna_search_preset_optimises_the_metric_the_runs_return(cli, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                        reason="search=optuna needs hydra-optuna-sweeper: pip install -e '.[optuna]' (in dev)")
    key = "metrics/high_quality_fraction200"
    result = cli("search=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.direction=maximize", f"optimized_metric={key}",
                 *RING, "logger=csv", "trainer.enable_progress_bar=false", "trainer.max_steps=6", "samples.every_n_steps=0",
                 "checkpoint.every_n_steps=0", "metrics.every_n_steps=0")
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "multirun"
    from omegaconf import OmegaConf

    found = OmegaConf.load(sweep / "optimization_results.yaml")
    values = [json.loads(p.read_text())["metrics"][key] for p in sorted(sweep.glob("*/summary.json"))]
    assert len(values) == 3 and found.best_value == max(values)
    assert set(found.best_params) == {"optim.g.lr", "optim.d.lr", "optim.d_steps_per_g_step"}
    assert (sweep / "sweep_summary.md").is_file()


def test_best_checkpoint_alone_without_periodic_checkpoints(cfg_factory):
    key = "metrics/high_quality_fraction200"
    summary = run(cfg_factory(*RING, "trainer.max_steps=4", "metrics.every_n_steps=2", "checkpoint.every_n_steps=0",
                              f"checkpoint.monitor={key}"))
    assert summary["best_checkpoint"].endswith("checkpoints/best.ckpt") and not summary["last_checkpoint"]

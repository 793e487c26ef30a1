"""Loggers: CSV / TensorBoard / none in process; W&B offline runs in a multirun, one per job."""
import pytest

from gan_lab.loggers import wandb_offline
from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN, SMALL_MLP
from tests.wandb_offline import config, history, metric_goals, records, run_record, summary


@pytest.mark.parametrize("logger, files", [("csv", "csv/metrics.csv"), ("tensorboard", "tensorboard/events.out.tfevents.*"), ("none", None)])
def test_file_loggers_write_where_the_run_is(cfg_factory, tmp_path, logger, files):
    summary = run(cfg_factory(f"logger={logger}", "samples.every_n_steps=2", *SMALL_DCGAN))
    assert summary["steps"] == 4
    if files:
        assert list((tmp_path / "run").glob(files)), f"{logger} wrote nothing"
    if logger == "csv":
        text = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
        assert "train/d_loss" in text and "train/g_loss" in text


def test_wandb_goes_online_only_when_logged_in_or_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    assert wandb_offline("auto") is True
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_offline("auto") is False
    assert wandb_offline(True) is True
    monkeypatch.setenv("WANDB_MODE", "offline")  # the environment always wins
    assert wandb_offline(False) is True


@pytest.mark.slow
def test_multirun_logs_each_job_to_its_own_offline_wandb_run_in_one_group(cli, tmp_path):
    result = cli("-m", "seed=1,2", "name=ablation", "trainer.max_steps=4", "trainer.log_every_n_steps=2",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=0", "trainer.enable_progress_bar=false",
                 "model.generator.width=8", "model.discriminator.width=8", "metrics=none", env={"WANDB_MODE": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted((tmp_path / "multirun").glob("*/wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2 and runs[0].name != runs[1].name
    for path in runs:
        run_records = [r.run for r in records(path) if r.WhichOneof("record_type") == "run"]
        assert run_records and run_records[0].run_group == "ablation" and run_records[0].project == "gan-lab"
        assert [row["trainer/global_step"] for row in history(path) if "train/d_loss" in row] == [1, 3]


@pytest.mark.slow
def test_wandb_runs_carry_the_config_are_named_after_their_overrides_and_grouped_without_the_seed(cli, tmp_path):
    result = cli("-m", "trick=label_smoothing,feature_matching", "seed=1,2", "trainer.max_steps=2", "trainer.log_every_n_steps=1",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=0", "trainer.enable_progress_bar=false",
                 "model.generator.width=8", "model.discriminator.width=8", "metrics=none", "logger=[wandb,csv]", env={"WANDB_MODE": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    groups: dict[str, list[str]] = {}
    for job in sorted((tmp_path / "multirun").glob("[0-9]")):
        path = next(job.glob("wandb/offline-run-*/run-*.wandb"))
        record, values = run_record(path), config(path)
        groups.setdefault(record.run_group, []).append(record.display_name)
        # the default run's recipe (conf/train.yaml's defaults) under the CLI's trick list
        assert values["run"]["model"] == "dcgan_sn" and values["run"]["loss"] == "nonsaturating" and values["run"]["task"] == "unconditional"
        assert values["run"]["tricks"] in record.display_name and f"seed={values['run']['seed']}" in record.display_name
        assert values["optim"]["g"]["lr"] == 6e-4 and values["model"]["generator"]["width"] == 8  # the whole config too
        assert (job / "csv" / "hparams.yaml").is_file()  # both loggers of logger=[wandb,csv]
    assert sorted(groups) == ["trick=feature_matching", "trick=label_smoothing"]  # the seeds of a setting: one group
    assert sorted(groups["trick=label_smoothing"]) == ["seed=1 trick=label_smoothing", "seed=2 trick=label_smoothing"]


def test_wandb_summary_keeps_the_best_evaluation_not_the_last(cfg_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    result = run(cfg_factory("logger=wandb", "model=gan_mlp", "data=ring8", *SMALL_MLP, "data.batch_size=16", "metrics=classifier",
                             "metrics.num_samples=200", "metrics.every_n_steps=2", "metrics.memorization_samples=0",
                             "trainer.max_steps=8"))
    path = next((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))
    key = "metrics/high_quality_fraction200"
    assert metric_goals(path)[key] == "max" and metric_goals(path)["metrics/modes_covered200"] == "max"
    best = max(h[key] for h in result["metrics"]["metrics/history"])
    assert summary(path)[key] == {"max": best}
    assert [row[key] for row in history(path) if key in row] == [h[key] for h in result["metrics"]["metrics/history"]]

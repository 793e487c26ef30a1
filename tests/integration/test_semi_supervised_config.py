"""The task group: task.labels_per_class, task.labelled_seed, and the data a task can learn from."""
import json

import pytest

from gan_lab.errors import ConfigError
from gan_lab.runner import run

SMALL = ["model.generator.hidden=[16,16]", "model.discriminator.hidden=[32,16]", "data.batch_size=20", "trainer.max_steps=2"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data=mnist5k", "model=ssgan_mnist", "task.labels_per_class=null"], r"task=semi_supervised needs task.labels_per_class .*set e.g. task.labels_per_class=10"),
        (["data=ring8", "model=gan_mlp"], r"task=semi_supervised: data=ring8 has no class labels to learn from: use data=mnist5k"),
        (["data=grid25", "model=gan_mlp"], r"task=semi_supervised: data=grid25 has no class labels"),
    ],
    ids=["labels_per_class_null", "ring8", "grid25"],
)
def test_semi_supervised_without_labels_fails_before_training(cfg_factory, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        run(cfg_factory("task=semi_supervised", *overrides))
    assert not (tmp_path / "run" / "labelled_subset.json").exists()  # failed before the data was split


def test_supervised_with_labels_per_class_null_uses_every_label(cfg_factory):
    summary = run(cfg_factory("data=digits", "model=ssgan_mnist", "task=supervised", "task.labels_per_class=null", *SMALL))
    assert summary["metrics"]["metrics/labelled_examples"] == 1438  # digits: 1,797 minus a stratified 20% (round(0.2 n) per class) = 1,438


@pytest.mark.slow
def test_cli_semi_supervised_task_options_without_plus(cli, tmp_path):
    args = ["data=mnist5k", "task=semi_supervised", "model=ssgan_mnist", "logger=none", "metrics=none",
            "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "samples.every_n_steps=0", "checkpoint.every_n_steps=0", *SMALL]
    result = cli(*args, "task.labels_per_class=3", "task.labelled_seed=7")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]["metrics/labelled_examples"] == 30
    subset = json.loads((tmp_path / "run" / "labelled_subset.json").read_text())
    assert subset["seed"] == 7 and sorted(subset["labels"]) == sorted(list(range(10)) * 3)
    bad = cli(*args, "task.labels_per_class=null")
    assert bad.returncode != 0
    assert "gan-lab: error: task=semi_supervised needs task.labels_per_class" in bad.stderr

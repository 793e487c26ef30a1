"""The default run's recipe (conf/train.yaml's defaults list): what `python train.py` composes, what a
choice on the command line replaces, and the real default through the CLI. The recipe's quality and
time are measured by benchmarks/default_run.py (minutes, not a test) and rendered in docs/results.md."""
import json
from pathlib import Path

import pytest
import torch
import yaml

from gan_lab.runner import build_run
from tests.conftest import CONF, compose_cfg

RECIPE_STEPS, RECIPE_LR, RECIPE_BATCH = 12000, 6e-4, 32


def _default(*overrides: str):
    return compose_cfg(list(overrides), fast=False)  # no FAST: exactly what `python train.py ...` composes


def test_python_train_py_composes_the_measured_recipe():
    cfg = _default()
    assert cfg.model.name == "dcgan_sn" and cfg.model.generator.width == cfg.model.discriminator.width == 32
    assert cfg.model.discriminator.spectral_norm is True
    assert cfg.loss._target_ == "gan_lab.losses.NonSaturating"  # probabilistic: trick=label_smoothing composes with it
    assert cfg.optim.g.lr == cfg.optim.d.lr == RECIPE_LR and list(cfg.optim.d.betas) == list(cfg.optim.g.betas) == [0.0, 0.99]
    assert cfg.data.batch_size == RECIPE_BATCH
    assert cfg.ema.half_life_kimg == 10 and cfg.trainer.max_steps == RECIPE_STEPS
    assert cfg.tricks == {} and "_target_" not in (cfg.augment or {})  # neither tricks nor augmentation


def test_a_trick_on_the_command_line_keeps_the_recipe():
    """The CLI contract: trick= replaces the trick list, and the recipe is not in that list."""
    cfg = _default("trick=label_smoothing")
    assert list(cfg.tricks) == ["label_smoothing"]
    assert cfg.model.name == "dcgan_sn" and cfg.ema.half_life_kimg == 10 and cfg.optim.g.lr == RECIPE_LR


def test_a_group_on_the_command_line_replaces_only_its_part():
    paper_nets = _default("model=dcgan")
    assert paper_nets.model.generator.width == 64 and paper_nets.model.discriminator.spectral_norm is False
    # a model from a paper brings its paper's optimiser (Radford et al. 2015 §4: Adam, lr 2e-4, beta1 0.5) ...
    assert paper_nets.optim.g.lr == paper_nets.optim.d.lr == 2e-4 and list(paper_nets.optim.g.betas) == [0.5, 0.999]
    assert paper_nets.ema.half_life_kimg == 10 and paper_nets.data.batch_size == RECIPE_BATCH  # the rest of the recipe stays
    assert _default("model=dcgan_upsample").optim.g.lr == 2e-4
    # ... and optim= on the command line still wins, before or after model=
    for overrides in (("model=dcgan", "optim=adam_b0"), ("optim=adam_b0", "model=dcgan")):
        assert _default(*overrides).optim.g.lr == RECIPE_LR
    assert _default("model=dcgan_sn").optim.g.lr == RECIPE_LR  # the default run's nets keep the default run's optimiser
    raw_g = _default("ema=none")
    assert raw_g.ema.half_life_kimg == 0 and raw_g.model.name == "dcgan_sn"
    mlp = _default("model=gan_mlp", "data=ring8")  # a model without widths: the recipe sets none of its keys
    assert "width" not in mlp.model.generator and mlp.model.generator.hidden == [1200, 1200]


def test_train_yaml_defaults_list_is_what_python_train_py_runs():
    """Every group of conf/train.yaml's defaults list composes as its file says (no preset changes it
    behind the list's back): each plain value of conf/GROUP/OPTION.yaml is the composed config's."""
    defaults = yaml.safe_load(Path(CONF, "train.yaml").read_text())["defaults"]
    cfg = _default()
    assert {"experiment": None} in defaults
    checked = 0
    for entry in defaults:
        if not isinstance(entry, dict):
            continue
        ((group, option),) = entry.items()
        if not isinstance(option, str) or group in ("experiment", "search") or "/" in group:
            continue
        node = yaml.safe_load(Path(CONF, group, f"{option}.yaml").read_text()) or {}
        for key, value in node.items():
            if key == "defaults" or isinstance(value, (dict, list)) or (isinstance(value, str) and "${" in value):
                continue
            assert cfg[group][key] == value, f"{group}={option}: {group}.{key} is {cfg[group][key]}, the file says {value}"
            checked += 1
    assert checked >= 20


def test_experiment_dcgan_is_the_papers_setup():
    cfg = _default("experiment=dcgan")
    assert cfg.model.name == "dcgan" and cfg.model.generator.width == 64 and cfg.model.discriminator.spectral_norm is False
    assert cfg.optim.g.lr == cfg.optim.d.lr == 2e-4 and list(cfg.optim.g.betas) == [0.5, 0.999]
    assert cfg.ema.half_life_kimg == 0 and cfg.trainer.max_steps == 3000 and cfg.data.batch_size == 64


@pytest.mark.parametrize("preset", sorted(p.stem for p in Path(CONF, "experiment").glob("*.yaml")
                                          if p.stem != "ssgan_mnist_common"))
def test_every_paper_preset_replaces_the_recipe(preset):
    cfg = _default(f"experiment={preset}")
    assert cfg.model.name != "dcgan_sn" and cfg.ema.half_life_kimg == 0, preset


def test_the_recipe_builds_for_another_model_and_data(tmp_path):
    cfg = _default("model=gan_mlp", "data=ring8", "logger=csv", "metrics=none", "model.generator.hidden=[16]",
                   "model.discriminator.hidden=[8]")
    cfg.run_dir = str(tmp_path)
    run = build_run(cfg)
    assert run.module.generator_ema is not None and run.trainer.max_steps == RECIPE_STEPS


@pytest.mark.slow
def test_the_real_default_trains_and_reports_its_recipe(cli, tmp_path):
    quick = ["trainer.max_steps=4", "metrics=none", "logger=csv", "samples.every_n_steps=2",
             "checkpoint.every_n_steps=4", "trainer.enable_progress_bar=false"]
    shown = cli("--cfg=job", *quick)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "spectral_norm: true" in shown.stdout and "half_life_kimg: 10" in shown.stdout
    result = cli(*quick)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == "dcgan_sn" and summary["steps"] == 4 and summary["tricks"] == []
    assert summary["ema"]["half_life_kimg"] == 10 and summary["augment"] is None
    weights = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert any(k.startswith("generator_ema.") for k in weights)  # the average is saved with the run
    assert any("parametrizations.weight.original" in k for k in weights if k.startswith("discriminator."))  # SN

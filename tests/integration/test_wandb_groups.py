"""W&B groups are settings: a sweep's runs are grouped by the overrides it varies without the seed,
whatever ``name`` a preset or the command line sets; ``name`` is the run's job type and a tag. And the
keys of the online recipe (docs/workflows.md#logging-online) reach the WandbLogger. W&B runs offline here and
the runs are read back from their files (tests/wandb_offline.py)."""
import json

import pytest
from omegaconf import open_dict

from gan_lab import runner
from gan_lab.instantiate import instantiate
from tests.conftest import FAST, SMALL_DCGAN, compose_cfg
from tests.wandb_offline import run_record

OFFLINE = {"WANDB_MODE": "offline", "WANDB_API_KEY": ""}  # never online, even where a key is set


@pytest.mark.slow
@pytest.mark.parametrize("name", [None, "foo"])
def test_a_loss_sweep_over_two_seeds_makes_two_groups_of_two_runs_whatever_the_name(cli, tmp_path, name):
    extra = [f"name={name}", "tags=[mnist,quick]", "logger.wandb.entity=my-team"] if name else []
    result = cli("-m", "loss=minimax,nonsaturating", "seed=1,2", *FAST, *SMALL_DCGAN, "logger=wandb",
                 "trainer.max_steps=2", *extra, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-3000:]
    groups: dict[str, list[str]] = {}
    jobs = sorted((tmp_path / "multirun").glob("[0-9]"))
    assert len(jobs) == 4
    for job in jobs:
        record = run_record(next(job.glob("wandb/offline-run-*/run-*.wandb")))
        groups.setdefault(record.run_group, []).append(record.display_name)
        assert record.project == "gan-lab"
        summary = json.loads((job / "summary.json").read_text())
        if name:
            assert record.job_type == "foo" and list(record.tags) == ["mnist", "quick", "foo"]
            assert record.entity == "my-team"
            assert summary["tags"] == ["mnist", "quick"]
        else:
            assert record.job_type == "quickstart" and list(record.tags) == ["quickstart"] and summary["tags"] == []
    assert groups == {"loss=minimax": ["loss=minimax seed=1", "loss=minimax seed=2"],
                      "loss=nonsaturating": ["loss=nonsaturating seed=1", "loss=nonsaturating seed=2"]}


def test_the_rows_of_a_preset_ablation_are_groups_of_their_own_though_the_preset_sets_a_name(monkeypatch):
    cfg = compose_cfg(["experiment=improved_gan_ablation"], fast=False)
    assert cfg.name == "improved_gan_ablation"
    rows = ["trick=[minibatch_discrimination,label_smoothing]", "trick=[]"]
    labels = []
    for row in rows:  # what the sweep's multirun.yaml says varies: the preset's hydra.sweeper.params (trick), and seed=
        for seed in (1, 2):
            monkeypatch.setattr(runner, "_task_overrides", lambda row=row, seed=seed: (
                sorted([row, f"seed={seed}", "experiment=improved_gan_ablation"]), {"trick", "seed"}))
            labels.append(runner.run_labels(cfg))
    assert [group for _, group in labels] == [rows[0], rows[0], rows[1], rows[1]]
    assert labels[0][0] == f"seed=1 {rows[0]}"


def test_a_sweep_over_seeds_alone_is_grouped_by_its_name(monkeypatch):
    monkeypatch.setattr(runner, "_task_overrides", lambda: (["seed=3"], {"seed"}))
    assert runner.run_labels(compose_cfg(["name=baseline"])) == ("seed=3", "baseline")
    assert runner.run_labels(compose_cfg([])) == ("seed=3", "quickstart")  # the default run's recipe


def test_the_online_recipe_keys_reach_the_wandb_logger(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")  # the environment wins: nothing goes online from a test
    cfg = compose_cfg(["logger=wandb", "logger.wandb.offline=false", "logger.wandb.project=my-project",
                       "logger.wandb.entity=my-team", "name=foo", "tags=[a,b]"], run_dir=tmp_path / "run")
    with open_dict(cfg):
        cfg.run_name, cfg.run_group = "loss=hinge seed=1", "loss=hinge"
    logger = instantiate(cfg.logger.wandb)
    init = logger._wandb_init  # what WandbLogger passes to wandb.init once the run starts
    assert (init["project"], init["entity"], init["group"], init["name"]) == ("my-project", "my-team", "loss=hinge", "loss=hinge seed=1")
    assert init["job_type"] == "foo" and init["tags"] == ["a", "b", "foo"]
    assert init["mode"] == "offline" and init["resume"] == "allow"
    assert (tmp_path / "run" / "wandb_id").read_text() == init["id"]

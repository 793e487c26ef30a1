"""Semi-supervised GAN training (Improved-GAN §5) and its supervised baseline, end to end."""
import json

import pytest
import torch

from gan_lab.errors import ConfigError
from gan_lab.runner import build_run, run

TINY = [
    "model.generator.hidden=[16,16]",
    "model.discriminator.hidden=[32,16]",
    "trainer.max_steps=3",
    "data.batch_size=20",
    "task.labels_per_class=2",
]


def _train(cfg):
    built = build_run(cfg)
    calls = []
    built.module.discriminator.register_forward_hook(lambda m, args, out: calls.append(args[0].detach().clone()))
    built.trainer.fit(built.module, datamodule=built.datamodule)
    return built, calls


def test_each_step_uses_a_labelled_an_unlabelled_and_a_fake_batch(cfg_factory):
    built, calls = _train(cfg_factory("experiment=ssgan_mnist", *TINY))
    module = built.module
    # per step: D(labelled), D(unlabelled), D(fake); G step: D([unlabelled; fake]); at the end: D(test set)
    assert len(calls) == 3 * 4 + 1 and torch.equal(calls[-1], built.datamodule.prepare().val_x)
    labelled = {tuple(row.flatten().tolist()) for row in module.objective.labelled_x}
    train = built.datamodule.prepare().train_x.flatten(1)

    def nearest(x):  # distance of each row of x to its nearest training digit
        return torch.cdist(x.flatten(1), train, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
    for step in range(3):
        lab, unl, fake_d, joint = calls[4 * step : 4 * step + 4]
        # G's phase: feature matching passes [unlabelled; fake] through the updated D in one forward
        assert torch.equal(joint[:20], unl)
        fake_g = joint[20:]
        assert {tuple(r.flatten().tolist()) for r in lab} <= labelled and len(lab) == 20
        assert len(lab.unique(dim=0)) == 20  # 20 labelled examples (2 per class): each once per batch
        assert nearest(unl).max() == 0  # real training digits
        assert len({tuple(r.flatten().tolist()) for r in unl} - labelled) > 0  # not the labelled batch
        assert torch.equal(fake_d, fake_g) and nearest(fake_d).min() > 1
    # EMA of D: theta_ema = theta_0 + (1 - decay) * sum of updates; differs from D and its start
    assert not torch.equal(module.objective.discriminator_ema.head[-1].bias, module.discriminator.head[-1].bias)


def test_the_preset_ramps_both_learning_rates_down_to_zero_at_max_steps(cfg_factory):
    built, _ = _train(cfg_factory("experiment=ssgan_mnist", *TINY, "trainer.max_steps=6"))
    # constant for 2/3 of the 6 steps, then linearly to 0 (the original code's schedule)
    for opt in built.module.optimizers():
        assert opt.param_groups[0]["initial_lr"] == 0.003 and opt.param_groups[0]["lr"] == 0.0


def test_ema_update_is_lerp_towards_d(cfg_factory):
    module = build_run(cfg_factory("experiment=ssgan_mnist", *TINY, "task.ema_decay=0.9")).module
    with torch.no_grad():
        module.discriminator.head[-1].bias.fill_(1.0)
        module.objective.discriminator_ema.head[-1].bias.fill_(3.0)
    module.objective.update_ema(module.discriminator)
    assert torch.allclose(module.objective.discriminator_ema.head[-1].bias, torch.full((10,), 3.0 + 0.1 * (1.0 - 3.0)))


def test_summary_has_test_errors_and_the_labelled_subset_is_saved(cfg_factory, tmp_path):
    summary = run(cfg_factory("experiment=ssgan_mnist", *TINY))
    metrics = summary["metrics"]
    assert metrics["metrics/test_examples"] == 1000 and metrics["metrics/labelled_examples"] == 20
    assert metrics["metrics/test_errors"] == round(metrics["metrics/test_error"] * 1000)
    assert 0 <= metrics["metrics/test_error_raw"] <= 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"] == metrics
    subset = json.loads((tmp_path / "run" / "labelled_subset.json").read_text())
    assert subset["seed"] == 0 and sorted(subset["labels"]) == sorted(list(range(10)) * 2)


def test_supervised_baseline_trains_d_on_the_same_subset_and_leaves_g_alone(cfg_factory, tmp_path):
    built, calls = _train(cfg_factory("experiment=ssgan_mnist_supervised", *TINY))
    assert built.module.objective.task == "supervised" and len(calls) == 3 + 1  # labelled batches only, then the test set
    g_opt = built.trainer.optimizers[1]
    assert len(g_opt.state) == 0  # G never stepped
    subset = json.loads((tmp_path / "run" / "labelled_subset.json").read_text())
    semi = build_run(cfg_factory("experiment=ssgan_mnist", *TINY))
    assert torch.equal(semi.module.objective.labelled_y, built.module.objective.labelled_y)
    assert subset["labels"] == built.module.objective.labelled_y.tolist()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss=hinge"], r"task=semi_supervised reads D\(x\) = sigmoid\(logsumexp\(l\)\) as a probability, and loss=hinge does not"),
        (["task=supervised", "trick=[feature_matching]"], r"task=supervised trains D as a plain classifier .*drop trick=\[feature_matching\]"),
        (["task.labels_per_class=0"], r"task.labels_per_class=0: must be a positive integer"),
    ],
    ids=["hinge", "supervised_with_a_trick", "zero_labels"],
)
def test_bad_semi_supervised_options_say_what_to_type(cfg_factory, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_run(cfg_factory("experiment=ssgan_mnist", *TINY, *overrides))


def test_an_unknown_task_lists_the_tasks(cfg_factory):
    with pytest.raises(Exception, match=r"(?s)Could not find 'task/contrastive'.*conditional.*semi_supervised.*supervised.*unconditional"):
        cfg_factory("task=contrastive")


def test_label_smoothing_and_minibatch_discrimination_compose_with_the_semi_supervised_objective(cfg_factory):
    """Loss-only and architecture tricks go through the same trick objects under every task."""
    built = build_run(cfg_factory("experiment=ssgan_mnist", *TINY, "trick=[feature_matching,label_smoothing,minibatch_discrimination]"))
    assert built.module.objective.real_target == 0.9
    assert type(built.module.discriminator.head).__name__ == "MinibatchDiscriminationHead"
    assert built.module.discriminator(torch.zeros(4, 1, 28, 28))[0].shape == (4, 10)  # still K logits
    built.trainer.fit(built.module, datamodule=built.datamodule)
    assert built.trainer.global_step == 3


def test_any_k_logit_discriminator_works_dcgan(cfg_factory):
    """model=dcgan gets one logit per class of the data under task=semi_supervised (the objective sets out_dim)."""
    built = build_run(cfg_factory("data=mnist5k", "model=dcgan", "task=semi_supervised",
                                  "task.labels_per_class=2", "data.batch_size=20", "trainer.max_steps=2"))
    assert built.module.discriminator(torch.zeros(3, 1, 28, 28))[0].shape == (3, 10)
    built.trainer.fit(built.module, datamodule=built.datamodule)
    assert built.trainer.global_step == 2


@pytest.mark.slow
def test_cli_trains_the_preset_and_reports_a_bad_option_in_one_line(cli, tmp_path):
    result = cli("experiment=ssgan_mnist", "logger=csv", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", *TINY)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "metrics/test_error" in json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    bad = cli("experiment=ssgan_mnist", "logger=csv", "task.labels_per_class=0", *TINY[:-1])
    assert bad.returncode != 0
    assert "gan-lab: error: task.labels_per_class=0: must be a positive integer" in bad.stderr


def test_a_validation_split_is_held_out_for_choosing_a_recipe(cfg_factory, tmp_path):
    """task.validation_examples: training digits held out first (the same for every seed), the labelled subset
    drawn from the others, the split scored every epoch (metrics/val_errors) beside the test split; with 0
    (the default) the labelled subset is the original code's draw from the whole training set, as before."""
    from gan_lab.objectives.labelled import balanced_subset

    common = ["experiment=ssgan_mnist", *TINY, "data.batch_size=800", "trainer.max_steps=6"]  # 5 batches an epoch
    with_val = build_run(cfg_factory(*common, "task.validation_examples=50"))
    with_val.trainer.fit(with_val.module, datamodule=with_val.datamodule)
    objective = with_val.module.objective
    assert objective.val_x.shape == (50, 1, 28, 28) and objective.val_y.shape == (50,)
    labelled = {tuple(row.flatten().tolist()) for row in objective.labelled_x}
    assert not labelled & {tuple(row.flatten().tolist()) for row in objective.val_x}  # never a labelled digit
    metrics = with_val.trainer.callback_metrics
    assert metrics["metrics/val_errors"] == round(float(metrics["metrics/val_error"]) * 50)
    # the same split for another seed, another labelled subset
    cfg = cfg_factory(*common, "task.validation_examples=50", "seed=1")
    cfg.run_dir = str(tmp_path / "seed1")
    other = build_run(cfg)
    assert torch.equal(other.module.objective.val_x, objective.val_x)
    assert not torch.equal(other.module.objective.labelled_x, objective.labelled_x)
    # without a split: the labelled subset of the original code's draw, no validation metric
    cfg = cfg_factory(*common)
    cfg.run_dir = str(tmp_path / "plain")
    plain = build_run(cfg)
    data = plain.datamodule.prepare()
    assert torch.equal(plain.module.objective.labelled_x, data.train_x[balanced_subset(data.train_y, 2, 0, 10)])
    assert plain.module.objective.val_x is None
    with pytest.raises(ConfigError, match=r"task.validation_examples=-1: the number of training examples held out"):
        build_run(cfg_factory(*common, "task.validation_examples=-1"))

"""Bad input: one readable error before training, and nothing already written is lost."""
import pytest
import torch

from gan_lab.errors import ConfigError, DataError, GanLabError, TrainingDiverged
from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["data.image_size=50"], ConfigError, r"data.image_size=50: dcgan makes 28, 32 or 64 pixel images \(set data.image_size=64\)"),
        (["optim.g.lr=0"], ConfigError, r"optim.g.lr=0: must be a positive number"),
        (["optim.d.lr=-1e-4"], ConfigError, r"optim.d.lr=-0.0001: must be a positive number"),
        (["data.batch_size=0"], ConfigError, r"data.batch_size=0: must be a positive number"),
        (["data.batch_size=4001"], DataError, r"data.batch_size=4001 is larger than the 4000 training examples of data=mnist5k"),
        (["optim.d_steps_per_g_step=0"], ConfigError, r"optim.d_steps_per_g_step=0: must be an integer >= 1"),
        (["trainer.max_steps=0"], ConfigError, r"trainer.max_steps=0: the number of training iterations must be a positive integer"),
        (["+data.image_sise=32"], ConfigError, r"data.image_sise is not an option of gan_lab.data.embedded.MNIST5k: its options are val_fraction, split_seed, name, .*image_size"),
        (["optim.d._target_=torch.optim.SGD"], ConfigError, r"optim.d: torch.optim.SGD takes no option betas \(its options: lr, momentum, .*\)"),
        (["loss=wgan_gp", "trick=minibatch_discrimination"], ConfigError, r"trick=minibatch_discrimination makes D's output for one example depend on the rest of its batch"),
        (["task=semi_supervised", "loss=hinge"], ConfigError, r"task=semi_supervised reads D\(x\) = sigmoid\(logsumexp\(l\)\) as a probability, and loss=hinge does not: use loss=nonsaturating"),
        (["data=ring8"], ConfigError, r"model=dcgan makes images and data=ring8 is 2-D points: use model=gan_mlp"),
        (["loss=wasserstein", "trick=label_smoothing"], ConfigError, r"trick=label_smoothing needs a loss that reads D\(x\) as a probability"),
        (["loss=wgan_gp", "model.discriminator.norm=batch"], ConfigError, r"set model.discriminator.norm=layer"),
        (["ckpt_path=/nonexistent/last.ckpt"], ConfigError, r"ckpt_path=/nonexistent/last.ckpt: no such checkpoint file"),
        (["+callbacks.nope=1"], ConfigError, r"callbacks.nope=1: a callback is a class and its options.*callbacks.nope=null turns one off"),
        (["callbacks.progress_bar.mode=tty", "trainer.enable_progress_bar=true"], ConfigError,
         r"progress bar mode='tty' does not exist: choose one of auto, bar, lines, off \(e.g. callbacks.progress_bar.mode=lines\)"),
    ],
)
def test_impossible_values_fail_before_training(cfg_factory, tmp_path, overrides, error, message):
    cfg = cfg_factory(*overrides)
    with pytest.raises(error, match=message):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_dataset_root_without_download(cfg_factory, tmp_path):
    with pytest.raises(DataError, match=r"data=mnist: no dataset found under data.root=.*Pass data.download=true"):
        run(cfg_factory("data=mnist", f"data.root={tmp_path}/none", *SMALL_DCGAN))


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(cfg_factory, tmp_path):
    # the learning rate jumps by 1e30 after 4 iterations (a real MultiStepLR schedule): step 5
    # sends D's weights to inf, so G's loss in that same iteration is not finite
    jump = "{_target_: torch.optim.lr_scheduler.MultiStepLR, _partial_: true, milestones: [4], gamma: 1.0e30}"
    cfg = cfg_factory(
        "trainer.max_steps=20", "checkpoint.every_n_steps=2", "trainer.log_every_n_steps=2",
        f"optim.d_scheduler={jump}", f"optim.g_scheduler={jump}", *SMALL_DCGAN,
    )
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite at step 5; training stopped and the last good checkpoint is kept at .*last.ckpt"):
        run(cfg)
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["last.ckpt", "step_0000002.ckpt", "step_0000004.ckpt"]
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_cli_prints_one_line_for_our_errors_and_hydra_lists_unknown_options(cli):
    bad = cli("data.image_size=50", "logger=none")
    assert bad.returncode == 1
    assert "gan-lab: error: data.image_size=50: dcgan makes 28, 32 or 64 pixel images (set data.image_size=64)" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = cli("model=stylegan9")
    assert unknown.returncode != 0
    assert "Could not find 'model/stylegan9'" in unknown.stderr and "dcgan_upsample" in unknown.stderr  # lists the options
    typo = cli("trainer.max_step=5")
    assert typo.returncode != 0 and "max_step" in typo.stderr


def test_errors_are_gan_lab_errors():
    assert issubclass(TrainingDiverged, GanLabError) and issubclass(ConfigError, GanLabError)


def test_callbacks_are_switched_off_by_name_and_debug_fast_is_the_quick_look(cfg_factory):
    """callbacks.NAME=null removes one callback of conf/callbacks/; the others stay, the progress bar last."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from gan_lab.callbacks.progress_bar import GanProgressBar
    from gan_lab.callbacks.samples import SampleGrid
    from gan_lab.runner import build_run

    def kinds(*overrides):
        run = build_run(cfg_factory(*overrides, *SMALL_DCGAN))
        # no bar callback, no bar: not Lightning's default one either (callbacks.progress_bar=null shows none)
        assert (run.trainer.progress_bar_callback is None) == (not any(isinstance(c, GanProgressBar) for c in run.callbacks))
        return [type(cb).__name__ for cb in run.callbacks]

    full = kinds("trainer.enable_progress_bar=true", "checkpoint.every_n_steps=2", "checkpoint.monitor=metrics/clf_fid5k",
                 "samples.every_n_steps=2")
    assert full[-1] == GanProgressBar.__name__ and full.count(ModelCheckpoint.__name__) == 2 and SampleGrid.__name__ in full
    assert {"TrainingProgress", "PreemptionCheckpoint", "FiniteLossCheck", "RankConsistency"} <= set(full)
    fewer = kinds("trainer.enable_progress_bar=true", "callbacks.progress_bar=null", "callbacks.sample_grid=null",
                  "samples.every_n_steps=2")
    assert GanProgressBar.__name__ not in fewer and SampleGrid.__name__ not in fewer and "FiniteLossCheck" in fewer
    # debug=fast (tests' FAST uses it): 4 iterations, no metrics, CSV, no checkpoints but at the end
    cfg = cfg_factory()
    assert cfg.trainer.max_steps == 4 and cfg.metrics.get("callback") is None and list(cfg.logger) == ["csv"]
    assert cfg.checkpoint.every_n_steps == 0 and ModelCheckpoint.__name__ not in kinds()


def test_whole_number_options_refuse_yaml_booleans_and_floats():
    """``m=true`` is the int 1 to Python; every whole-number option reads it as the mistake it is."""
    from gan_lab.errors import is_whole_number
    from gan_lab.tricks.packing import Packing

    assert [is_whole_number(v) for v in (1, 7, 0, -1, True, False, 2.0, "3", None)] == [True, True] + [False] * 7
    assert is_whole_number(0, 0) and not is_whole_number(-1, 0) and not is_whole_number(1, 2)
    with pytest.raises(ConfigError, match=r"tricks.packing.m=True: the pack size must be a positive integer"):
        Packing(m=True)

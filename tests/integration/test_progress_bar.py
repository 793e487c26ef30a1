"""GanProgressBar: one bar over max_steps (not per epoch), log lines when stdout is not a terminal,
a resumed run starting at its checkpoint's step. Real Trainer over a tiny GAN on ring8 (256 points,
batch 64: 4 batches an epoch, so a 40-step run spans 10 epochs)."""
import io
import logging
import re
import sys

import pytest

from gan_lab.callbacks.progress_bar import GanProgressBar, format_duration, line_interval
from gan_lab.errors import ConfigError
from gan_lab.runner import build_run
from tests.conftest import SMALL_MLP, compose_cfg

BAR = "callbacks.progress_bar.mode=auto"  # the default display (conf/callbacks/progress_bar.yaml)
RING = ["data=ring8", "data.num_train=256", "data.batch_size=64"]
TINY = ["model=gan_mlp", *SMALL_MLP, "trainer.log_every_n_steps=2", "trainer.enable_progress_bar=true", BAR]
LINE = re.compile(r"^step (\d+)/40 \((\d+)%\) d_loss=\S+ g_loss=\S+ \d+ img/s (eta \S+|done in \S+)$")


def fit(run_dir, *overrides, data=RING):
    built = build_run(compose_cfg([*TINY, *data, *overrides], run_dir=run_dir))
    built.trainer.fit(built.module, datamodule=built.datamodule, ckpt_path=built.ckpt_path)
    bar = built.trainer.progress_bar_callback
    assert isinstance(bar, GanProgressBar)  # the callbacks: entry replaced Lightning's default bar
    return built.trainer, bar


def test_line_interval_and_durations_by_hand():
    assert line_interval(3000, 50, 20) == 150  # 3000 // 20 = 150, a multiple of 50
    assert line_interval(1000, 30, 20) == 60  # 1000 // 20 = 50 -> rounded up to 2 x 30
    assert line_interval(1000, 50, 20) == 50
    assert line_interval(10, 50, 20) == 50  # shorter than one logging interval: the final line only
    assert (format_duration(35), format_duration(250), format_duration(3720)) == ("35s", "4m10s", "1h02m")


def test_not_a_terminal_writes_log_lines_not_tqdm(tmp_path, monkeypatch, caplog):
    stdout = io.StringIO()  # not a TTY, like a SLURM log
    monkeypatch.setattr(sys, "stdout", stdout)
    with caplog.at_level(logging.INFO, logger="gan_lab"):
        trainer, bar = fit(tmp_path / "run", "trainer.max_steps=40", "callbacks.progress_bar.lines=5")
    assert bar.active_mode == "lines" and "\r" not in stdout.getvalue() and "it/s" not in stdout.getvalue()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    # every max(2, 40 // 5) = 8 iterations: 8, 16, 24, 32, then the final line at 40
    assert [int(LINE.match(line).group(1)) for line in lines] == [8, 16, 24, 32, 40], lines
    assert [int(LINE.match(line).group(2)) for line in lines] == [20, 40, 60, 80, 100]
    assert "eta" in lines[0] and "done in" in lines[-1]
    assert trainer.global_step == 40 and trainer.current_epoch >= 9  # 4 batches an epoch: many epochs


def test_bar_counts_iterations_over_max_steps_across_epochs(tmp_path, capsys):
    trainer, bar = fit(tmp_path / "run", "trainer.max_steps=40", "callbacks.progress_bar.mode=bar")
    tqdm_bar = bar.train_progress_bar
    assert bar.active_mode == "bar" and trainer.current_epoch >= 9
    assert (tqdm_bar.total, tqdm_bar.initial, tqdm_bar.n) == (40, 0, 40)  # never reset to an epoch's 4 batches
    postfix = tqdm_bar.postfix
    assert re.fullmatch(r"d=\S+ g=\S+ \d+ img/s", postfix), postfix
    assert bar.values["train/d_loss"] == pytest.approx(float(trainer.callback_metrics["train/d_loss"]))
    out = capsys.readouterr().out
    assert "40/40" in out and "v_num" not in out and "Epoch" not in out
    assert "Sanity" not in out and "Validation" not in out  # no empty validation bars


def test_resumed_run_starts_at_the_checkpoint_step(tmp_path):
    first, _ = fit(tmp_path / "first", "trainer.max_steps=12", "checkpoint.every_n_steps=12", "callbacks.progress_bar.mode=bar")
    ckpt = first.checkpoint_callback.last_model_path
    trainer, bar = fit(tmp_path / "second", "trainer.max_steps=20", "checkpoint.every_n_steps=12", f"ckpt_path={ckpt}",
                      "callbacks.progress_bar.mode=bar")
    tqdm_bar = bar.train_progress_bar
    assert (tqdm_bar.total, tqdm_bar.initial, tqdm_bar.n) == (20, 12, 20)


def test_lines_show_the_evaluation_callbacks_last_fid(tmp_path, caplog, gan_lab_cache):
    # digits (1,437 training images, batch 256: 5 batches an epoch); FID of 200 samples every 8 steps
    with caplog.at_level(logging.INFO, logger="gan_lab"):
        trainer, bar = fit(tmp_path / "run", "trainer.max_steps=16", "metrics=classifier", "metrics.num_samples=200",
                           "metrics.every_n_steps=8", "metrics.memorization_samples=0", "callbacks.progress_bar.mode=lines",
                           "callbacks.progress_bar.lines=4",
                           data=["data=digits", "data.image_size=8", "data.batch_size=256"])
    evaluation = next(cb for cb in trainer.callbacks if type(cb).__name__ == "EvaluateDuringTraining")
    fids = {step["step"]: step["metrics/clf_fid200"] for step in evaluation.history}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ") and "/16" in r.getMessage()]
    assert [line.split()[1] for line in lines] == ["4/16", "8/16", "12/16", "16/16"]
    assert "fid" not in lines[0]  # no evaluation before step 8
    assert f"clf_fid200={fids[8]:.4g} " in lines[1] and f"clf_fid200={fids[8]:.4g} " in lines[2]
    assert f"clf_fid200={fids[16]:.4g} done in" in lines[3]


@pytest.mark.ddp
@pytest.mark.slow
def test_cli_under_ddp_writes_lines_on_rank_zero_only(cli, tmp_path):
    result = cli("trainer=ddp_cpu", *TINY, *RING[:2], "data.batch_size=32", "trainer.max_steps=40", "logger=csv",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=0", "metrics=none", "callbacks.progress_bar.lines=5")
    assert result.returncode == 0, result.stderr[-3000:]
    steps = re.findall(r"\] - step (\d+)/40 ", result.stdout)
    assert steps == ["8", "16", "24", "32", "40"] and "\r" not in result.stdout + result.stderr
    assert not re.search(r"step \d+/40", (tmp_path / "run" / "train_ddp_process_1.log").read_text())


def test_a_misspelt_mode_names_the_choices():
    with pytest.raises(ConfigError, match="mode='tty' does not exist: choose one of auto, bar, lines, off"):
        GanProgressBar(mode="tty")

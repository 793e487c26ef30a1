"""A damaged checkpoint (truncated by a full disk, a failed copy) never ends in a traceback:
resume=auto falls back to the newest checkpoint that loads; ckpt_path= names the file in one line."""
import logging

import pytest

from gan_lab.errors import ConfigError
from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN, compose_cfg

TRAIN = ["checkpoint.every_n_steps=4", *SMALL_DCGAN]


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def trained_run(tmp_path):
    run_dir = tmp_path / "run"
    summary = run(compose_cfg([*TRAIN, "trainer.max_steps=8"], run_dir=run_dir))
    assert summary["steps"] == 8
    (run_dir / "summary.json").unlink()  # as if the run had been stopped before its end
    return run_dir


def test_resume_auto_skips_a_truncated_last_ckpt_and_resumes_from_the_newest_good_one(trained_run, caplog):
    checkpoints = trained_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt", "step_0000004.ckpt", "step_0000008.ckpt"]
    truncate(checkpoints / "last.ckpt")
    with caplog.at_level(logging.WARNING, logger="gan_lab"):
        summary = run(compose_cfg([*TRAIN, "trainer.max_steps=12", "resume=auto"], run_dir=trained_run))
    assert summary["steps"] == 12
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("skipping" in w and "last.ckpt" in w and "damaged" in w for w in warnings), warnings
    assert any("resuming from" in w and "step_0000008.ckpt" in w for w in warnings), warnings


def test_resume_auto_fails_in_one_line_when_no_checkpoint_loads(trained_run):
    for path in (trained_run / "checkpoints").glob("*.ckpt"):
        truncate(path, keep=0.3)
    with pytest.raises(ConfigError) as err:
        run(compose_cfg([*TRAIN, "trainer.max_steps=12", "resume=auto"], run_dir=trained_run))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"resume=auto: no checkpoint of {trained_run / 'checkpoints'} loads (last.ckpt, step_0000008.ckpt, step_0000004.ckpt damaged)")
    assert "start afresh without resume=auto" in message


def test_a_damaged_ckpt_path_is_one_line_naming_the_file(trained_run, cli):
    damaged = trained_run / "checkpoints" / "step_0000004.ckpt"
    truncate(damaged)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={damaged} is damaged or not a gan-lab checkpoint \(RuntimeError: PytorchStreamReader"):
        run(compose_cfg([*TRAIN, f"ckpt_path={damaged}"], run_dir=trained_run.parent / "other"))
    result = cli(f"ckpt_path={damaged}", "logger=none", "metrics=none", *SMALL_DCGAN)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"gan-lab: error: ckpt_path={damaged} is damaged")
    assert "Traceback" not in result.stderr

"""``ema=`` through the real CLI: its own config group, so a trick list does not replace it."""
import json
import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import FAST, SMALL_DCGAN


@pytest.mark.slow
def test_ema_survives_a_trick_override_and_its_checkpoint_samples(cli, tmp_path):
    fast = [o for o in FAST if not o.startswith("checkpoint.")]
    result = cli(*fast, *SMALL_DCGAN, "ema=default", "ema.half_life_kimg=2", "trick=[label_smoothing]",
                 "checkpoint.every_n_steps=4")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert config["ema"]["half_life_kimg"] == 2 and list(config["tricks"]) == ["label_smoothing"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tricks"] == ["label_smoothing"] and summary["steps"] == 4
    assert summary["ema"] == {"half_life_kimg": 2.0, "rampup": 0.05, "stat_batches": 8, "stat_batch_size": 64}
    ckpt = run / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(k.startswith("generator_ema.") for k in state)

    for option, folder in (([], "ema"), (["use_ema=false"], "raw")):
        sampled = subprocess.run([sys.executable, "-m", "gan_lab.sample", f"ckpt_path={ckpt}", "n=8",
                                  f"out={tmp_path / folder}", *option], capture_output=True, text=True)
        assert sampled.returncode == 0, sampled.stderr[-3000:]
        assert (tmp_path / folder / "grid.png").stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "gan_lab.sample", f"ckpt_path={ckpt}", "use_ema=maybe"], capture_output=True, text=True)
    assert bad.returncode != 0 and "use_ema=maybe: use use_ema=true" in bad.stderr + bad.stdout

"""``ema=`` through the real CLI: its own config group, so a trick list does not replace it."""
import hashlib
import json
import subprocess
import sys

import lightning as L
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


class AverageDigests(L.Callback):
    """At the end, every rank's digest of the averaged G (weights and recomputed statistics) to ``out``."""

    def __init__(self, out: str) -> None:
        self.out = out

    def on_train_end(self, trainer, module) -> None:
        module.generate(n=2)  # statistics recomputed on every rank
        digest = hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in module.generator_ema.state_dict().values()))
        digests = [None] * trainer.world_size
        torch.distributed.all_gather_object(digests, digest.hexdigest())
        if trainer.is_global_zero:
            with open(self.out, "w") as f:
                json.dump(digests, f)


@pytest.mark.ddp
@pytest.mark.slow
def test_the_average_is_identical_on_every_ddp_rank_without_a_sync(cli, tmp_path):
    out = tmp_path / "digests.json"
    result = cli("trainer=ddp_cpu", "trainer.max_steps=4", "logger=csv", "trainer.enable_progress_bar=false", "metrics=none",
                 "samples.every_n_steps=0", "checkpoint.every_n_steps=0", *SMALL_DCGAN, "data.batch_size=16", "ema=default",
                 "+callbacks.digests._target_=tests.integration.test_ema_cli.AverageDigests", f"+callbacks.digests.out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    digests = json.loads(out.read_text())
    assert len(digests) == 2 and digests[0] == digests[1]

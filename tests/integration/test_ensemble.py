"""An ensemble of seeds (``ensemble.seeds=M``): M GANs in one process as one batched model.

Its members start from the weights single runs of their seeds start from (bit for bit), see the same
data order and draw the same z (each member's own stream), so after N steps they match those single
runs up to floating-point summation order: vmap runs one batched kernel where a single run runs M
small ones (a grouped convolution, a batched matmul), which sums in another order (~1e-7 relative).
For nets whose gradients are all far from zero (an MLP on 2-D points) that stays ~1e-8 after 20 steps;
Adam divides each gradient by its own running magnitude, so an entry whose gradient is ~0 (DCGAN's
first layer) turns a rounding difference into a step of up to ~lr, hence the looser DCGAN tolerance.
Resuming an ensemble is exact (the same computation, the same state).
"""
from __future__ import annotations

import json

import pytest
import torch

from gan_lab.build import build_ensemble, build_players, ensemble_seeds, initialise
from gan_lab.data import GANDataModule
from gan_lab.errors import ConfigError, DataError
from gan_lab.instantiate import instantiate
from gan_lab.nets.ensemble import Ensemble, member_state
from gan_lab.runner import build_run, summarize
from tests.conftest import SMALL_DCGAN, SMALL_MLP, compose_cfg

import lightning as L

NO_DROPOUT = ["model.discriminator.input_dropout=0", "model.discriminator.dropout=0"]
MLP_RING = ["model=gan_mlp", "data=ring8", *SMALL_MLP, *NO_DROPOUT]
ALL_TRICKS = ["feature_matching", "minibatch_discrimination", "historical_averaging", "label_smoothing", "virtual_bn"]


def _train(tmp_path, name, overrides):
    run = build_run(compose_cfg(overrides, run_dir=tmp_path / name))
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=run.ckpt_path)
    return run


def _max_member_difference(ensemble_state, single_state, member):
    worst = 0.0
    for key, value in single_state.items():
        if key == "fixed_z":
            continue
        player, rest = key.split(".", 1)
        stacked = ensemble_state[f"{player}.net.{rest}"][member]
        if value.dtype.is_floating_point:
            worst = max(worst, (stacked - value).abs().max().item())
        else:
            assert torch.equal(stacked, value), key
    return worst


def test_members_start_from_the_weights_of_single_runs_of_their_seeds(tmp_path):
    cfg = compose_cfg(["model=dcgan", *SMALL_DCGAN, "trick=[minibatch_discrimination,virtual_bn]",
                       "tricks.minibatch_discrimination.num_kernels=8", "ensemble.seeds=[3,5]"], run_dir=tmp_path)
    data = instantiate(cfg.data).prepare()
    ensemble = build_ensemble(cfg, ensemble_seeds(cfg), data, tmp_path)
    assert isinstance(ensemble.generator, Ensemble) and ensemble.generator.members == 2
    for member, seed in enumerate([3, 5]):
        L.seed_everything(seed, verbose=False)
        single = initialise(build_players(compose_cfg(["model=dcgan", *SMALL_DCGAN, "trick=[minibatch_discrimination,virtual_bn]",
                                                       "tricks.minibatch_discrimination.num_kernels=8", f"seed={seed}"])),
                            data, seed, tmp_path)
        for player in ("generator", "discriminator"):
            expected = getattr(single, player).state_dict()
            actual = member_state(getattr(ensemble, player).state_dict(), member)
            assert expected.keys() == actual.keys()
            for key in expected:
                assert torch.equal(expected[key], actual[key]), (player, key)
            assert torch.equal(getattr(ensemble, player).member(member).state_dict()[next(iter(expected))], expected[next(iter(expected))])


@pytest.mark.parametrize("setting, tolerance", [
    (MLP_RING, 1e-6),
    ([*MLP_RING, "trick=[feature_matching,label_smoothing,historical_averaging,packing]"], 1e-6),
    # virtual BN on member layers: 2.9e-4 after 20 steps, and 4.5e-4 by vmap (the two paths round differently from the
    # single run's; Adam's early steps, ~lr * sign(g), magnify that on VBN's tiny gradients: 3e-5 after one step)
    ([*MLP_RING, "trick=virtual_bn", "model.generator.batch_norm=true", "tricks.virtual_bn.reference_size=16"], 1e-3),
    (["model=dcgan", *SMALL_DCGAN, "ema=default"], 2e-3),  # BatchNorm in both nets, G's average
], ids=["gan_mlp_ring8", "gan_mlp_four_tricks", "gan_mlp_virtual_bn", "dcgan_bn_ema"])
def test_members_match_single_runs_of_their_seeds(tmp_path, setting, tolerance):
    common = [*setting, "trainer.max_steps=20", "checkpoint.every_n_steps=20", "logger=none"]
    ensemble = _train(tmp_path, "ensemble", [*common, "ensemble.seeds=3", "seed=4"])
    state = ensemble.module.state_dict()
    for member, seed in enumerate([4, 5, 6]):
        single = _train(tmp_path, f"seed{seed}", [*common, f"seed={seed}"])
        assert _max_member_difference(state, single.module.state_dict(), member) < tolerance


def test_ensemble_resumes_exactly(tmp_path):
    common = ["model=dcgan", *SMALL_DCGAN, f"trick=[{','.join(ALL_TRICKS)}]", "tricks.virtual_bn.reference_size=16",
              "tricks.minibatch_discrimination.num_kernels=8", "ensemble.seeds=2", "data.batch_size=800",
              "checkpoint.every_n_steps=7", "trainer.log_every_n_steps=3", "ema=default"]
    full = _train(tmp_path, "full", [*common, "trainer.max_steps=12"])
    _train(tmp_path, "first_half", [*common, "trainer.max_steps=7"])
    resumed = _train(tmp_path, "resumed", [*common, "trainer.max_steps=12",
                                           f"ckpt_path={tmp_path / 'first_half' / 'checkpoints' / 'last.ckpt'}"])
    expected, actual = full.module.state_dict(), resumed.module.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def test_ensemble_summary_grids_and_member_sampling(tmp_path):
    from gan_lab.checkpoints import generator_from_checkpoint

    run = _train(tmp_path, "run", [*MLP_RING, "ensemble.seeds=3", "trainer.max_steps=400", "checkpoint.every_n_steps=400",
                                   "metrics=classifier", "metrics.every_n_steps=400", "metrics.num_samples=500",
                                   "samples.every_n_steps=400"])
    summarize(run.cfg, run.module, run.trainer, run.callbacks, run.run_dir, 1.0)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2]
    assert [m["seed"] for m in summary["members"]] == [0, 1, 2]
    name = "metrics/modes_covered500"
    per_member = [m["metrics"][name] for m in summary["members"]]
    mean = sum(per_member) / 3
    se = (sum((x - mean) ** 2 for x in per_member) / 2) ** 0.5 / 3 ** 0.5
    assert len(set(per_member)) > 1  # the members differ (their own seeds), so the s.e. is not trivially 0
    assert summary["metrics"][name] == pytest.approx(mean) and summary["metrics"][name + "_se"] == pytest.approx(se)
    for member in range(3):
        assert (tmp_path / "run" / "samples" / f"member_{member}" / "step_0000400.png").is_file()
        assert (tmp_path / "run" / "samples" / f"member_{member}" / "progress.gif").is_file()
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    generator, cfg = generator_from_checkpoint(ckpt, member=2)
    assert cfg.seed == 2
    expected = run.module.generator.member(2).eval()
    z = torch.randn(16, generator.z_dim)
    assert torch.equal(generator(z), expected(z))
    with pytest.raises(ConfigError, match=r"ensemble of 3 seeds \(0, 1, 2\): choose one with member=0 .. member=2"):
        generator_from_checkpoint(ckpt)


def test_ensemble_refuses_what_it_cannot_batch(tmp_path):
    with pytest.raises(ConfigError, match="ensemble.seeds with task=semi_supervised"):
        build_run(compose_cfg(["experiment=ssgan_mnist", "ensemble.seeds=2"], run_dir=tmp_path / "a"))
    with pytest.raises(ConfigError, match=r"ensemble.seeds=0: the number of seeds"):
        build_run(compose_cfg(["ensemble.seeds=0"], run_dir=tmp_path / "b"))
    with pytest.raises(ConfigError, match=r"distinct integer seeds"):
        build_run(compose_cfg(["ensemble.seeds=[1,1]"], run_dir=tmp_path / "c"))


def test_sample_and_evaluate_apps_take_a_member(tmp_path):
    import subprocess
    import sys

    _train(tmp_path, "run", ["model=dcgan", *SMALL_DCGAN, "ensemble.seeds=2", "trainer.max_steps=4", "checkpoint.every_n_steps=4"])
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ok = subprocess.run([sys.executable, "-m", "gan_lab.sample", f"ckpt_path={ckpt}", "member=1", "n=16", f"out={tmp_path / 'm1'}"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "m1" / "grid.png").is_file()
    missing = subprocess.run([sys.executable, "-m", "gan_lab.evaluate", f"ckpt_path={ckpt}", "num_samples=100", "num_real=100"],
                             capture_output=True, text=True)
    assert missing.returncode != 0
    errors = [line for line in missing.stderr.splitlines() if line.startswith("gan-lab: error:")]
    assert len(errors) == 1 and "choose one with member=0 .. member=1" in errors[0], missing.stderr
    scored = subprocess.run([sys.executable, "-m", "gan_lab.evaluate", f"ckpt_path={ckpt}", "member=0", "num_samples=200", "num_real=200"],
                            capture_output=True, text=True)
    assert scored.returncode == 0, scored.stderr
    assert "clf_fid" in scored.stdout

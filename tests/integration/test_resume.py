"""Resuming from a checkpoint continues exactly: N steps == N/2 steps + resume for N/2 (CPU)."""
import pytest
import torch

from gan_lab.runner import build_run
from tests.conftest import SMALL_DCGAN, SMALL_MLP, compose_cfg

ALL_TRICKS = ["feature_matching", "minibatch_discrimination", "historical_averaging", "label_smoothing", "virtual_bn"]


def _train(tmp_path, name, overrides):
    run = build_run(compose_cfg(overrides, run_dir=tmp_path / name))
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=run.ckpt_path)
    return run


@pytest.mark.parametrize(
    "model",
    [
        ["model=dcgan", *SMALL_DCGAN],  # BatchNorm running statistics
        ["model=gan_mlp", *SMALL_MLP, "optim.d_steps_per_g_step=2"],  # dropout draws from the RNG; k = 2
        ["model=dcgan", *SMALL_DCGAN, f"trick=[{','.join(ALL_TRICKS)}]",  # trick state: theta-bar, z_ref
         "tricks.virtual_bn.reference_size=16", "tricks.minibatch_discrimination.num_kernels=8"],
    ],
    ids=["dcgan", "gan_mlp_k2", "dcgan_all_tricks"],
)
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, model):
    # 800-example batches: 5 per epoch, so the run crosses epochs and resumes mid-epoch (step 7)
    common = [*model, "data.batch_size=800", "checkpoint.every_n_steps=7", "trainer.log_every_n_steps=3"]
    full = _train(tmp_path, "full", [*common, "trainer.max_steps=12"])
    _train(tmp_path, "first_half", [*common, "trainer.max_steps=7"])
    ckpt = tmp_path / "first_half" / "checkpoints" / "last.ckpt"
    resumed = _train(tmp_path, "resumed", [*common, "trainer.max_steps=12", f"ckpt_path={ckpt}"])

    assert resumed.trainer.global_step == full.trainer.global_step == 12
    expected, actual = full.module.state_dict(), resumed.module.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    for trick_full, trick_resumed in zip(full.module.tricks, resumed.module.tricks):
        for key, value in trick_full.state_dict().get("averages", {}).items():
            assert all(torch.equal(a, b) for a, b in zip(value, trick_resumed.state_dict()["averages"][key]))
    for opt_full, opt_resumed in zip(full.trainer.optimizers, resumed.trainer.optimizers):
        for s_full, s_res in zip(opt_full.state.values(), opt_resumed.state.values()):
            assert all(torch.equal(s_full[k], s_res[k]) for k in s_full)


def test_semi_supervised_resumes_exactly_mid_schedule(tmp_path):
    """The K+1 GAN: labelled / unlabelled / fake batches, Gaussian-noise RNG, D's EMA and the LR
    ramp-down (defined on trainer.max_steps, so the resumed run keeps max_steps) continue exactly."""
    common = ["experiment=ssgan_mnist", "model.generator.hidden=[16,16]", "model.discriminator.hidden=[32,16]",
              "task.labels_per_class=2", "data.batch_size=800", "checkpoint.every_n_steps=7", "trainer.max_steps=12",
              "trainer.log_every_n_steps=3", "samples.every_n_steps=0"]
    full = _train(tmp_path, "full", common)
    ckpt = tmp_path / "full" / "checkpoints" / "step_0000007.ckpt"
    assert ckpt.is_file()
    resumed = _train(tmp_path, "resumed", [*common, f"ckpt_path={ckpt}"])
    assert resumed.trainer.global_step == 12
    expected, actual = full.module.state_dict(), resumed.module.state_dict()
    assert any("discriminator_ema" in key for key in expected)
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert [o.param_groups[0]["lr"] for o in resumed.trainer.optimizers] == [o.param_groups[0]["lr"] for o in full.trainer.optimizers]

"""One build path: every run trains 4 steps, then its checkpoint samples and evaluates with the
nets it was trained with (tricks' architecture changes and the task's K logits included)."""
import contextlib
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gan_lab.checkpoints import generator_from_checkpoint
from gan_lab.evaluate import evaluate
from gan_lab.runner import build_run
from gan_lab.sample import sample
from tests.conftest import CONF, SMALL_DCGAN, SMALL_MLP

TRICKS = ["feature_matching", "historical_averaging", "label_smoothing", "minibatch_discrimination", "virtual_bn"]
SSGAN_SMALL = ["model.generator.hidden=[16,16]", "model.discriminator.hidden=[32,16]"]
CASES = {
    **{f"trick={t}": [f"trick={t}", *SMALL_DCGAN] for t in TRICKS},
    "all five tricks": [f"trick=[{','.join(TRICKS)}]", *SMALL_DCGAN],
    "model=dcgan": ["model=dcgan", *SMALL_DCGAN],
    "model=dcgan_upsample": ["model=dcgan_upsample", *SMALL_DCGAN],
    "model=gan_mlp": ["model=gan_mlp", *SMALL_MLP],
    "model=gan_mlp data=ring8": ["model=gan_mlp", "data=ring8", *SMALL_MLP, "model.generator.batch_norm=true", "trick=virtual_bn"],
    "model=ssgan_mnist": ["model=ssgan_mnist", *SSGAN_SMALL],
    "model=r3gan loss=rpgan": ["model=r3gan", "loss=rpgan"],
    "experiment=dcgan": ["experiment=dcgan", *SMALL_DCGAN],
    "experiment=wgan": ["experiment=wgan", *SMALL_DCGAN],
    "experiment=wgan_gp": ["experiment=wgan_gp", *SMALL_DCGAN],
    "experiment=improved_gan_cifar10": ["experiment=improved_gan_cifar10", "data=mnist5k", *SMALL_DCGAN, "model.discriminator.width2=8"],
    "experiment=improved_gan_ablation": ["experiment=improved_gan_ablation", "data=mnist5k", *SMALL_DCGAN, "model.discriminator.width2=8"],
    "experiment=ssgan_mnist": ["experiment=ssgan_mnist", *SSGAN_SMALL],
    "experiment=ssgan_mnist_supervised": ["experiment=ssgan_mnist_supervised", *SSGAN_SMALL],
    "experiment=mode_collapse_cpu": ["experiment=mode_collapse_cpu", "ensemble.seeds=1", "data.num_train=2000"],
    "experiment=mode_collapse_pacgan": ["experiment=mode_collapse_pacgan", "ensemble.seeds=1", "data.num_train=2000",
                                        "model.generator.hidden=[16,16]", "model.discriminator.hidden=[16,16]"],
    "experiment=stacked_mnist_cpu": ["experiment=stacked_mnist_cpu", "ensemble.seeds=1", "data.num_train=2000", "data.num_val=1000",
                                     *SMALL_DCGAN],
    "experiment=stacked_mnist_paper": ["experiment=stacked_mnist_paper", "ensemble.seeds=1", "data.num_train=2000",
                                       "data.num_val=1000", *SMALL_DCGAN],
    "experiment=stacked_mnist_unrolled": ["experiment=stacked_mnist_unrolled", "ensemble.seeds=1", "data.num_train=2000",
                                          "data.num_val=1000", "data.batch_size=32"],
    "experiment=stacked_mnist_unrolled_cpu": ["experiment=stacked_mnist_unrolled_cpu", "data.num_train=2000", "data.num_val=1000",
                                              "data.batch_size=32"],
    "data=stacked_mnist trick=packing": ["data=stacked_mnist", "data.num_train=2000", "data.num_val=1000", "trick=packing", *SMALL_DCGAN],
    "task=semi_supervised model=dcgan": ["task=semi_supervised", "trick=[feature_matching,minibatch_discrimination]", *SMALL_DCGAN],
    "task=supervised model=dcgan": ["task=supervised", "task.labels_per_class=2", *SMALL_DCGAN],
}


def test_every_preset_is_covered():
    # (the default run is conf/train.yaml's defaults list, tests/integration/test_default_run.py; ssgan_mnist_common
    # is a part of two presets)
    presets = {p.stem for p in Path(CONF, "experiment").glob("*.yaml")} - {"ssgan_mnist_common"}
    assert presets == {k.split("=")[1] for k in CASES if k.startswith("experiment=")}


@pytest.mark.parametrize("overrides", list(CASES.values()), ids=list(CASES))
def test_train_four_steps_then_sample_and_evaluate_the_checkpoint(cfg_factory, tmp_path, gan_lab_cache, overrides):
    cfg = cfg_factory(*overrides, "data.batch_size=16", "checkpoint.every_n_steps=4", "trainer.max_steps=4")
    built = build_run(cfg)
    built.trainer.fit(built.module, datamodule=built.datamodule)
    ckpt = built.trainer.checkpoint_callback.last_model_path
    assert built.trainer.global_step == 4 and Path(ckpt).is_file()

    # the checkpoint rebuilds exactly the trained G: same modules, same outputs for the same z
    generator, _ = generator_from_checkpoint(ckpt)
    trained = built.module.generator.eval()
    assert [type(m).__name__ for m in generator.modules()] == [type(m).__name__ for m in trained.modules()]
    z = trained.sample_z(6, generator=torch.Generator().manual_seed(3))
    compiled = trained._compiled_call_impl is not None  # model.compile=true (the 2-D protocol): the same G run eagerly
    with torch.no_grad(), torch.compiler.set_stance("force_eager") if compiled else contextlib.nullcontext():
        assert torch.equal(generator(z), trained(z))

    picture = sample(ckpt, n=8, out=str(tmp_path / "generated"))
    assert picture.is_file() and picture.stat().st_size > 0

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        eval_cfg = compose("evaluate", overrides=[f"ckpt_path={ckpt}", "num_samples=100"])
    result = evaluate(eval_cfg)
    assert result["ckpt_path"] == ckpt and result["metrics/protocol"]["num_samples"] == 100
    scores = [v for k, v in result.items() if k.startswith("metrics/") and isinstance(v, float)]
    assert scores and all(torch.isfinite(torch.tensor(scores)))

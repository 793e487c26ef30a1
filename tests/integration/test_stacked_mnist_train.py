"""`python train.py data=stacked_mnist trick=packing` end to end: a short run logs the papers' mode count
and KL (VEEGAN §5.2 / PacGAN §5.2) with the held-out real stacks in the protocol, and gan_lab.evaluate
scores its checkpoint the same way."""
import pytest
from hydra import compose, initialize_config_dir

from gan_lab.evaluate import evaluate
from gan_lab.runner import run
from tests.conftest import CONF, SMALL_DCGAN, compose_cfg

SMALL_STACKS = ["data.num_train=2000", "data.num_val=1000"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory, gan_lab_cache):
    return run(compose_cfg(["data=stacked_mnist", *SMALL_STACKS, "trick=packing", "trainer.max_steps=10", "metrics=classifier",
                            "metrics.num_samples=1000", "metrics.every_n_steps=0", "metrics.memorization_samples=0",
                            "checkpoint.every_n_steps=10", *SMALL_DCGAN], run_dir=tmp_path_factory.mktemp("stacked")))


def test_a_packed_run_on_stacked_mnist_logs_modes_and_kl(packed):
    metrics = packed["metrics"]
    modes, kl = metrics["metrics/stacked_modes_covered1k"], metrics["metrics/stacked_kl1k"]
    assert 1 <= modes <= 1000 and 0.0 <= kl <= 6.9078  # log 1000 = one mode
    real = metrics["metrics/protocol"]["held_out_real"]
    assert real["images"] == 1000 and real["modes_covered"] > 500  # 1,000 real stacks: ~630 distinct modes expected


def test_evaluate_scores_a_stacked_checkpoint_by_its_modes(packed):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt_path={packed['last_checkpoint']}", "num_samples=1000"])
    result = evaluate(cfg)
    assert 1 <= result["metrics/stacked_modes_covered1k"] <= 1000 and "stacked_kl1k" in " ".join(result)

"""Checkpoints written before the refactors of 2026-12-05 (the iteration's maths into the objective, trick
layers into nets/layers/, the EMA out of nets/, mixtures' modes into their configs) still sample and
evaluate: ``tests/data/main_2026-12-05_all_tricks.ckpt`` was written by main at 9432e1b (the default run's
recipe at width 8 with the five Improved-GAN tricks, 2 iterations)."""
from pathlib import Path

import torch
from PIL import Image

from gan_lab.checkpoints import current_config, generator_from_checkpoint
from gan_lab.sample import sample

OLD = Path(__file__).resolve().parents[1] / "data" / "main_2026-12-05_all_tricks.ckpt"


def test_a_checkpoint_of_main_before_the_refactor_samples(tmp_path):
    generator, cfg = generator_from_checkpoint(OLD)
    assert generator.averaged and cfg.ema._target_ == "gan_lab.ema.GeneratorEMA"  # the moved class, found
    assert sorted(cfg.tricks) == ["feature_matching", "historical_averaging", "label_smoothing", "minibatch_discrimination", "virtual_bn"]
    grid = sample(str(OLD), n=8, out=str(tmp_path / "generated"))
    assert Image.open(grid).size[0] > 28
    with torch.no_grad():
        images = generator(generator.sample_z(4))
    assert images.shape == (4, 1, 28, 28) and torch.isfinite(images).all()


def test_old_configs_get_todays_class_paths_and_the_mixtures_modes():
    old = {"ema": {"_target_": "gan_lab.nets.ema.GeneratorEMA"},
           "augment": {"_target_": "gan_lab.nets.diffaugment.DiffAugment", "policy": ["color"]},
           "data": {"_target_": "gan_lab.data.mixtures.GaussianMixture", "name": "ring8", "std": 0.01}}
    new = current_config(old)
    assert new["ema"]["_target_"] == "gan_lab.ema.GeneratorEMA"
    assert new["augment"] == {"_target_": "gan_lab.nets.layers.diffaugment.DiffAugment", "policy": ["color"]}
    assert len(new["data"]["means"]) == 8 and new["data"]["means"][0] == [1.0, 0.0]
    assert old["ema"]["_target_"] == "gan_lab.nets.ema.GeneratorEMA"  # the checkpoint's own dict is not changed

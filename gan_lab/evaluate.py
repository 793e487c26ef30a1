"""Score a checkpoint or a folder of images against a dataset, with the numbers training logs:
``python -m gan_lab.evaluate ckpt_path=...`` or ``folder=DIR data=NAME`` (a Hydra app over
``conf/evaluate.yaml``; ``data=`` and ``metrics=`` are the training config's groups).

A checkpoint's G is rebuilt through the one build path (``gan_lab.checkpoints``) and scored against
the dataset it was trained on (``data=`` changes that); a folder's images are read like
``data=folder`` (resized and centre-cropped to the dataset's resolution). The result is printed as
one JSON object (and written to ``out=`` if given).

``reference=stats.npz`` (``metrics=inception``): FID against the ``mu`` / ``sigma`` of a statistics
file (``python -m gan_lab.reference``, pytorch-fid, clean-fid) instead of the dataset's real images;
``folder=DIR reference=...`` then needs no ``data=`` (the images are read at their own size).

The Inception weights are ``metrics.inception_weights=FILE``, the key training uses. The old spelling
``inception_weights=FILE`` still works and prints one deprecation line: refusing it would break the
scripts and docs that use it for a rename, while the alias costs one line of code.

A class-conditional checkpoint (``task=conditional``) is asked for balanced classes (sample i of class
i mod K), and ``metrics=classifier`` adds the class match and the per-class / intra-FID that training logs.
"""
from __future__ import annotations

import json
import os

import hydra
from omegaconf import DictConfig

from gan_lab.cli import CONFIG_DIR, report_errors

USAGE = ("python -m gan_lab.evaluate (ckpt_path=PATH | folder=DIR data=NAME | folder=DIR reference=STATS.npz) [data.KEY=VALUE ...] "
         "[metrics=classifier|inception] [metrics.inception_weights=FILE] [reference=STATS.npz] [num_samples=N] [num_real=N] "
         "[batch_size=N] [seed=0] [use_ema=false] [member=I] [out=FILE]")
#: evaluate.yaml's keys that override the metrics group's scorer options, where the scorer has them
SCORER_OPTIONS = ("num_samples", "num_real", "batch_size", "is_splits", "reference")


def apply_deprecated_weights_key(cfg: DictConfig) -> None:
    """``inception_weights=FILE`` (the old spelling) -> ``metrics.inception_weights``, with one warning line."""
    import sys

    from omegaconf import open_dict

    from gan_lab.errors import ConfigError

    old = cfg.get("inception_weights")
    if old is None:
        return
    print("gan-lab: warning: inception_weights= is deprecated: use metrics.inception_weights=FILE (the key training uses)",
          file=sys.stderr, flush=True)
    if "inception_weights" not in cfg.metrics:
        return  # metrics=classifier: no Inception network to load (as before)
    new = cfg.metrics.get("inception_weights")
    if new is not None and str(new) != str(old):
        raise ConfigError(f"inception_weights={old} and metrics.inception_weights={new} disagree: give only metrics.inception_weights=FILE")
    with open_dict(cfg):
        cfg.metrics.inception_weights = old
        cfg.inception_weights = None


def check_options(cfg: DictConfig) -> None:
    from gan_lab.errors import ConfigError, is_whole_number

    if (cfg.ckpt_path is None) == (cfg.folder is None):
        raise ConfigError(f"give exactly one of ckpt_path= or folder=: {USAGE}")
    if "scorer" not in cfg.metrics:
        raise ConfigError(f"metrics={cfg.metrics.get('name')} scores nothing: use metrics=classifier or metrics=inception")
    if cfg.get("reference") is not None and "reference" not in cfg.metrics.scorer:
        raise ConfigError(f"reference={cfg.reference}: FID against a statistics file works with metrics=inception "
                          f"(metrics={cfg.metrics.get('name')} compares with its dataset's own statistics)")
    reference = reference_of(cfg)
    if reference is not None and not os.path.isfile(os.path.expanduser(str(reference))):
        key = "reference" if cfg.get("reference") is not None else "metrics.reference"
        raise ConfigError(f"{key}={reference} does not exist: make it with python -m gan_lab.reference data=NAME out=stats.npz")
    if cfg.folder is not None and cfg.get("data") is None and reference is None:
        raise ConfigError(f"folder= needs data=NAME, the dataset to compare with, or reference=STATS.npz: {USAGE}")
    for key in ("num_samples", "num_real", "batch_size"):
        value = cfg.get(key)
        if value is not None and not is_whole_number(value):
            raise ConfigError(f"{key}={value}: must be a positive integer")
    member = cfg.get("member")
    if member is not None and not is_whole_number(member, 0):
        raise ConfigError(f"member={member}: the member of an ensemble of seeds to score is an integer from 0 (e.g. member=0)")
    if cfg.get("use_ema") not in (None, True, False):
        raise ConfigError(f"use_ema={cfg.use_ema}: use use_ema=true (the averaged G), use_ema=false (G itself), "
                          "or leave it unset (the average when there is one)")


def reference_of(cfg: DictConfig):
    """The statistics file to compare with: ``reference=``, else ``metrics.reference`` (None: the dataset)."""
    if cfg.get("reference") is not None:
        return cfg.reference
    return cfg.metrics.get("reference")


def folder_images(folder: str, image_size: int, channels: int):
    """Every image below ``folder`` in [-1, 1], read like ``data=folder``."""
    from pathlib import Path

    import torch

    from gan_lab.data.datasets import ImageFiles, scan_image_folder

    files = ImageFiles(scan_image_folder(Path(folder).expanduser()), image_size, channels)
    return torch.stack([files[i] for i in range(len(files))])


def evaluate(cfg: DictConfig) -> dict:
    """The metrics of ``metrics=`` for the checkpoint's samples or the folder's images."""
    import torch

    from gan_lab.checkpoints import generator_from_checkpoint
    from gan_lab.instantiate import instantiate
    from gan_lab.nets.layers.conditional_batchnorm import ConditionalGenerator

    apply_deprecated_weights_key(cfg)  # here, not in main: tests and notebooks call evaluate(cfg) directly
    generator, data_cfg, source = None, cfg.get("data"), {}
    if cfg.ckpt_path is not None:
        generator, ckpt_cfg = generator_from_checkpoint(cfg.ckpt_path, ema=cfg.get("use_ema"), member=cfg.get("member"))
        data_cfg = data_cfg if data_cfg is not None else ckpt_cfg.data
        source = {"ckpt_path": str(cfg.ckpt_path), "ema": generator.averaged}
    else:
        source = {"folder": str(cfg.folder)}
    options = {k: cfg[k] for k in SCORER_OPTIONS if cfg.get(k) is not None and k in cfg.metrics.scorer}
    images = prepared = None
    if data_cfg is None:  # folder= against reference=: nothing real to load; images at their own size
        from gan_lab.metrics.statistics import folder_data

        stream = folder_data(cfg.folder).stream
        images = torch.stack([stream[i] for i in range(len(stream))])
        dataset_name = "folder"
    else:
        prepared = instantiate(data_cfg).prepare(for_training=False)
        dataset_name = str(data_cfg.name)
        if cfg.folder is not None:
            images = folder_images(cfg.folder, int(data_cfg.image_size), int(data_cfg.channels))
    if images is not None:
        options["num_samples"] = min(cfg.num_samples or len(images), len(images))
    if "skip_unsupported" in cfg.metrics.scorer:
        options["skip_unsupported"] = False  # evaluating is all this command does: refuse, don't skip
    if "num_classes" in cfg.metrics.scorer:  # the compared dataset's labels (the checkpoint's data, or data=)
        options["num_classes"] = data_cfg.get("num_classes")
    scorer = instantiate(cfg.metrics.scorer, dataset=dataset_name, **options)
    evaluator = scorer.build(prepared)
    gen = torch.Generator().manual_seed(cfg.seed)
    offset = 0

    conditional = isinstance(generator, ConditionalGenerator) and images is None and getattr(evaluator, "scores_classes", False)

    @torch.no_grad()
    def generate(n: int):
        nonlocal offset
        if images is not None:
            offset += n
            return images[offset - n: offset]
        z = generator.sample_z(n, generator=gen)
        if conditional:  # sample i of class i mod K (balanced), scored for class match and per-class FID
            labels = generator.default_labels(n, z.device)
            return generator(z, labels), labels
        return generator(z)

    return {**evaluator.evaluate(generate), "metrics/protocol": evaluator.protocol, **source}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    def body() -> None:
        check_options(cfg)
        text = json.dumps(evaluate(cfg), indent=2)
        print(text)
        if cfg.out:
            with open(cfg.out, "w") as f:
                f.write(text)

    report_errors(body)


if __name__ == "__main__":
    main()

"""Score a checkpoint or a folder of images against a dataset, with the numbers training logs.

    python -m gan_lab.evaluate ckpt_path=outputs/.../checkpoints/last.ckpt [num_samples=5000] [seed=0]
    python -m gan_lab.evaluate folder=my_samples/ data=mnist5k [metrics=inception inception_weights=FILE]
    python -m gan_lab.evaluate folder=a/ data=folder data.root=b/ data.image_size=32 metrics=inception

A checkpoint's G is rebuilt from the config stored in it and scored against the dataset it was
trained on (``data=`` and ``data.*`` change that); a folder's images are read like ``data=folder``
(resized and centre-cropped to the dataset's resolution). ``metrics=classifier`` (default) gives
the ``metrics=classifier`` numbers, ``metrics=inception`` FID / IS / KID; the result is printed as
one JSON object (and written to ``out=`` if given).
"""
from __future__ import annotations

import json
import sys

import torch

from gan_lab.errors import ConfigError, GanLabError

USAGE = ("python -m gan_lab.evaluate (ckpt_path=PATH | folder=DIR data=NAME) [data.KEY=VALUE ...] "
         "[metrics=classifier|inception] [inception_weights=FILE] [num_samples=5000] [num_real=N] "
         "[batch_size=N] [seed=0] [out=metrics.json]")
KEYS = {"ckpt_path", "folder", "data", "metrics", "inception_weights", "num_samples", "num_real", "batch_size", "seed", "out"}


def data_config(name: str, overrides: dict):
    """``conf/data/<name>.yaml`` with ``data.KEY=VALUE`` overrides, composed by Hydra like train.py does."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from gan_lab.cli import CONFIG_DIR

    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name="train", overrides=[f"data={name}", "metrics=none"] + [f"data.{k}={v}" for k, v in overrides.items()])
    except HydraException as err:
        raise ConfigError(f"data={name} {overrides or ''}: {err}") from None
    return cfg.data


def folder_images(folder: str, image_size: int, channels: int) -> torch.Tensor:
    """Every image below ``folder`` in [-1, 1], read like ``data=folder``."""
    from pathlib import Path

    from gan_lab.data.datasets import ImageFiles, scan_image_folder

    files = ImageFiles(scan_image_folder(Path(folder).expanduser()), image_size, channels)
    return torch.stack([files[i] for i in range(len(files))])


def evaluate(ckpt_path: str | None = None, folder: str | None = None, data: str | None = None, data_overrides: dict | None = None,
             metrics: str = "classifier", inception_weights: str | None = None, num_samples: int | None = None,
             num_real: int | None = None, batch_size: int | None = None, seed: int = 0, is_splits: int = 10) -> dict:
    from gan_lab.instantiate import instantiate
    from gan_lab.metrics.evaluation import SampleEvaluator

    if (ckpt_path is None) == (folder is None):
        raise ConfigError(f"give exactly one of ckpt_path= or folder=: {USAGE}")
    if metrics not in ("classifier", "inception"):
        raise ConfigError(f"metrics={metrics}: use metrics=classifier or metrics=inception")
    overrides = data_overrides or {}
    generator, source = None, {}
    if ckpt_path is not None:
        from gan_lab.checkpoint_io import generator_from_checkpoint

        generator, cfg = generator_from_checkpoint(ckpt_path)
        data_cfg = data_config(data, overrides) if data else cfg.data
        source = {"ckpt_path": str(ckpt_path)}
    else:
        if not data:
            raise ConfigError(f"folder= needs data=NAME, the dataset to compare with: {USAGE}")
        data_cfg = data_config(data, overrides)
        source = {"folder": str(folder)}
    datamodule = instantiate(data_cfg, _recursive_=False)
    prepared = datamodule.prepare(for_training=False)
    images = None
    if folder is not None:
        images = folder_images(folder, int(data_cfg.image_size), int(data_cfg.channels))
        num_samples = len(images) if num_samples is None else min(int(num_samples), len(images))
    num_samples = int(num_samples or (10_000 if metrics == "inception" else 5000))
    if metrics == "inception":
        from gan_lab.metrics.inception import InceptionEvaluator

        evaluator = InceptionEvaluator(str(data_cfg.name), prepared, num_samples, int(batch_size or 100),
                                       weights=inception_weights, num_real=num_real, seed=seed,
                                       is_splits=is_splits)
    else:
        evaluator = SampleEvaluator(str(data_cfg.name), prepared, num_samples, int(batch_size or 500),
                                    std=datamodule.options.get("std"))
    gen = torch.Generator().manual_seed(seed)
    offset = 0

    @torch.no_grad()
    def generate(n: int) -> torch.Tensor:
        nonlocal offset
        if images is not None:
            offset += n
            return images[offset - n: offset]
        return generator(generator.sample_z(n, generator=gen))

    return {**evaluator.evaluate(generate), "metrics/protocol": evaluator.protocol, **source}


def parse(argv: list[str]) -> tuple[dict, dict]:
    """``key=value`` arguments -> (plain arguments, ``data.KEY`` overrides)."""
    plain, data_overrides = {}, {}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq:
            raise ConfigError(f"argument {arg!r} is not key=value: {USAGE}")
        if key.startswith("data."):
            data_overrides[key[len("data."):]] = value
        elif key in KEYS:
            plain[key] = value
        else:
            raise ConfigError(f"unknown argument {key!r}: {USAGE}")
    return plain, data_overrides


def main(argv: list[str] | None = None) -> int:
    try:
        plain, data_overrides = parse(list(sys.argv[1:] if argv is None else argv))
        as_int = {k: int(plain[k]) for k in ("num_samples", "num_real", "batch_size", "seed") if k in plain}
        result = evaluate(
            plain.get("ckpt_path"), plain.get("folder"), plain.get("data"), data_overrides,
            plain.get("metrics", "classifier"), plain.get("inception_weights"),
            as_int.get("num_samples"), as_int.get("num_real"), as_int.get("batch_size"), as_int.get("seed", 0),
        )
    except ValueError as err:
        if isinstance(err, GanLabError):
            print(f"gan-lab: error: {err}", file=sys.stderr)
        else:
            print(f"gan-lab: error: {err}: numbers expected for num_samples, num_real, batch_size, seed", file=sys.stderr)
        return 2
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if plain.get("out"):
        with open(plain["out"], "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

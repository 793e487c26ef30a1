"""Score a checkpoint: ``python -m gan_lab.evaluate ckpt_path=.../last.ckpt [num_samples=5000] [seed=0]``.

Rebuilds G from the config stored in the checkpoint, reloads the dataset it was trained on, and
prints (and returns) the same metrics as ``metrics=classifier`` during training, as one JSON object.
"""
from __future__ import annotations

import json
import sys

import torch
from omegaconf import OmegaConf

from gan_lab.checkpoint_io import generator_from_checkpoint
from gan_lab.errors import ConfigError, GanLabError
from gan_lab.instantiate import instantiate
from gan_lab.metrics.evaluation import SampleEvaluator

USAGE = "python -m gan_lab.evaluate ckpt_path=PATH [num_samples=5000] [batch_size=500] [seed=0] [out=metrics.json]"
KEYS = {"ckpt_path", "num_samples", "batch_size", "seed", "out"}


def evaluate(ckpt_path: str, num_samples: int = 5000, batch_size: int = 500, seed: int = 0) -> dict:
    generator, cfg = generator_from_checkpoint(ckpt_path)
    datamodule = instantiate(cfg.data, _recursive_=False)
    evaluator = SampleEvaluator(str(cfg.data.name), datamodule.prepare(), num_samples, batch_size,
                                std=datamodule.options.get("std"))
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def generate(n: int) -> torch.Tensor:
        return generator(generator.sample_z(n, generator=gen))

    return {**evaluator.evaluate(generate), "metrics/protocol": evaluator.protocol, "ckpt_path": str(ckpt_path)}


def main(argv: list[str] | None = None) -> int:
    args = OmegaConf.from_dotlist(list(sys.argv[1:] if argv is None else argv))
    try:
        unknown = set(args.keys()) - KEYS
        if unknown or "ckpt_path" not in args:
            raise ConfigError(f"unknown or missing arguments {sorted(unknown) or ['ckpt_path']}: {USAGE}")
        result = evaluate(args.ckpt_path, int(args.get("num_samples", 5000)), int(args.get("batch_size", 500)), int(args.get("seed", 0)))
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.get("out"):
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

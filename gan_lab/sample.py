"""Generate from a checkpoint: ``python -m gan_lab.sample ckpt_path=... n=64``.

Options (key=value): ``n`` samples (64), ``out`` folder (default ``<run>/generated``), ``seed`` (0),
``individual=true`` to also write one PNG per sample. Images go into ``grid.png``; 2-D data is
drawn as a scatter plot.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gan_lab.callbacks.images import save_grid, save_scatter
from gan_lab.checkpoint_io import generator_from_checkpoint
from gan_lab.errors import ConfigError, GanLabError

DEFAULTS = {"ckpt_path": None, "n": 64, "out": None, "seed": 0, "individual": False, "batch_size": 256}


@torch.no_grad()
def sample(ckpt_path: str, n: int = 64, out: str | None = None, seed: int = 0, individual: bool = False, batch_size: int = 256) -> Path:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n={n}: the number of samples must be a positive integer (e.g. n=64)")
    generator, _ = generator_from_checkpoint(ckpt_path)
    out_dir = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    z = generator.sample_z(n, generator=torch.Generator().manual_seed(seed))
    samples = torch.cat([generator(chunk) for chunk in z.split(batch_size)])
    if len(generator.example_shape) == 1:
        return save_scatter(samples, out_dir / "scatter.png", title=f"{n} samples")
    if individual:
        for i, image in enumerate(samples):
            save_grid(image[None], out_dir / f"sample_{i:05d}.png", nrow=1)
    return save_grid(samples, out_dir / "grid.png")


def main(argv: list[str] | None = None) -> None:
    args = OmegaConf.merge(OmegaConf.create(DEFAULTS), OmegaConf.from_cli(sys.argv[1:] if argv is None else argv))
    unknown = set(args) - set(DEFAULTS)
    try:
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}: use {', '.join(DEFAULTS)}")
        if not args.ckpt_path:
            raise ConfigError("ckpt_path is missing: python -m gan_lab.sample ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt n=64")
        path = sample(args.ckpt_path, args.n, args.out, args.seed, args.individual, args.batch_size)
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

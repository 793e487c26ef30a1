"""Generate from a checkpoint: ``python -m gan_lab.sample ckpt_path=... n=64`` (a Hydra app over
``conf/sample.yaml``: ``--help``, ``--cfg job``, ``hydra.run.dir=`` and ``-m ckpt_path=a,b`` work as
in ``train.py``).

Images go into ``grid.png`` (and ``sample_XXXXX.png`` with ``individual=true``); 2-D data is drawn
as a scatter plot. The options are checked before torch is imported, so a usage error is fast.
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from gan_lab.cli import CONFIG_DIR, report_errors

USAGE = "python -m gan_lab.sample ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt [n=64] [out=DIR] [seed=0] [individual=true] [use_ema=false]"


def check_options(cfg: DictConfig) -> None:
    from gan_lab.errors import ConfigError

    if not cfg.ckpt_path:
        raise ConfigError(f"ckpt_path is missing: {USAGE}")
    if not isinstance(cfg.n, int) or isinstance(cfg.n, bool) or cfg.n < 1:
        raise ConfigError(f"n={cfg.n}: the number of samples must be a positive integer (e.g. n=64)")
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"batch_size={cfg.batch_size}: must be a positive integer (e.g. batch_size=256)")
    if cfg.get("use_ema") not in (None, True, False):
        raise ConfigError(f"use_ema={cfg.use_ema}: use use_ema=true (the averaged G), use_ema=false (G itself), "
                          "or leave it unset (the average when there is one)")


def sample(ckpt_path: str, n: int = 64, out: str | None = None, seed: int = 0, individual: bool = False, batch_size: int = 256,
           ema: bool | None = None) -> Path:
    """Write ``n`` samples of the checkpoint's G (its averaged G when it has one, unless ``ema=False``);
    returns the grid's (or scatter plot's) path."""
    import torch

    from gan_lab.callbacks.images import save_grid, save_scatter
    from gan_lab.checkpoints import generator_from_checkpoint

    generator, _ = generator_from_checkpoint(ckpt_path, ema=ema)
    out_dir = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    z = generator.sample_z(n, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        samples = torch.cat([generator(chunk) for chunk in z.split(batch_size)])
    if len(generator.example_shape) == 1:
        return save_scatter(samples, out_dir / "scatter.png", title=f"{n} samples")
    if individual:
        for i, image in enumerate(samples):
            save_grid(image[None], out_dir / f"sample_{i:05d}.png", nrow=1)
    return save_grid(samples, out_dir / "grid.png")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def main(cfg: DictConfig) -> None:
    def body() -> None:
        check_options(cfg)
        path = sample(str(cfg.ckpt_path), cfg.n, cfg.out, cfg.seed, cfg.individual, cfg.batch_size, cfg.get("use_ema"))
        print(f"wrote {path}")

    report_errors(body)


if __name__ == "__main__":
    main()

"""Writing pictures: sample grids, 2-D scatter plots, GIFs, and sending them to the loggers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Save a [N, C, H, W] batch in [-1, 1] as one PNG grid."""
    import torchvision.utils as vutils

    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or int(np.ceil(np.sqrt(len(images))))
    vutils.save_image(images.detach().float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1), padding=2, pad_value=0.5)
    return path


def save_scatter(points: torch.Tensor, path: Path, real: torch.Tensor | None = None, title: str = "") -> Path:
    """Save generated 2-D points (and real ones, lighter) as a PNG scatter plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if real is not None:
        r = real.detach().cpu().numpy()
        ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:gray", alpha=0.3, label="real")
    p = points.detach().float().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_gif(frames: list[Path], path: Path, duration_ms: int = 300) -> Path | None:
    """Animate PNG frames into a GIF (the last frame held longer)."""
    from PIL import Image

    if not frames:
        return None
    images = [Image.open(f).convert("RGB") for f in frames]
    durations = [duration_ms] * (len(images) - 1) + [duration_ms * 5]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def log_image(trainer, key: str, path: Path) -> None:
    """Send a PNG to every logger that takes images (W&B, TensorBoard)."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
        elif isinstance(logger, TensorBoardLogger):
            from PIL import Image

            array = np.asarray(Image.open(path).convert("RGB"))
            logger.experiment.add_image(key, array, trainer.global_step, dataformats="HWC")

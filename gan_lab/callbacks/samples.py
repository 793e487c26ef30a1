"""Fixed-z sample grids during training, and an animated GIF of them at the end."""
from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch

from gan_lab.callbacks.images import log_image, save_gif, save_grid, save_scatter
from gan_lab.nets.layers.conditional_batchnorm import ConditionalGenerator


class SampleGrid(L.Callback):
    """Every ``every_n_steps`` iterations (and at the end), G(fixed_z) in eval mode is written to
    ``<run>/samples/step_XXXXXX.png`` and sent to the logger; ``progress.gif`` animates them.
    G is the averaged G when ``ema=`` is on (``module.generate``: Karras et al. 2018 §4 show the average).
    For 2-D data the picture is a scatter plot of ``num_points`` samples over the real data.
    An ensemble of seeds (``ensemble.seeds``): one picture per member, ``samples/member_I/step_XXXXXX.png``
    (every member on the same fixed z), each with its own ``progress.gif``.
    A class-conditional G (``task=conditional``): row r is class r, every row the same first
    ceil(sqrt(samples.num_images)) fixed codes (:func:`class_rows`).
    """

    def __init__(self, out_dir: str | Path, every_n_steps: int = 500, gif: bool = True, num_points: int = 2000) -> None:
        self.out_dir = Path(out_dir)
        self.every_n_steps = every_n_steps
        self.gif = gif
        self.num_points = num_points
        self.frames: list[Path] = []
        self._last_written = -1

    def _write(self, trainer: L.Trainer, module) -> Path | None:
        step = trainer.global_step
        if step == self._last_written or not trainer.is_global_zero:
            return None
        self._last_written = step
        members = module.members
        folders = [self.out_dir] if members == 1 else [self.out_dir / f"member_{i}" for i in range(members)]
        paths = [folder / f"step_{step:07d}.png" for folder in folders]
        if len(module.generator.example_shape) == 1:  # 2-D points
            real = trainer.datamodule.real_examples("val")[: self.num_points] if trainer.datamodule is not None else None
            for i, path in enumerate(paths):
                points = module.generate(n=self.num_points, member=i if members > 1 else None)
                save_scatter(points, path, real=real, title=f"step {step}" + (f", member {i}" if members > 1 else ""))
        elif isinstance(module.generator, ConditionalGenerator):  # task=conditional (no ensembles)
            images, nrow = class_rows(module, module.fixed_z)
            save_grid(images, paths[0], nrow=nrow)
        else:
            images = module.generate(module.fixed_z)  # [M * n, ...] for an ensemble: member-major
            for path, member_images in zip(paths, images.chunk(members)):
                save_grid(member_images, path)
        self.frames.extend(paths)
        for i, path in enumerate(paths):
            log_image(trainer, "samples" if members == 1 else f"samples/member_{i}", path)
        return paths[0]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._write(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self._write(trainer, module)
        if self.gif and trainer.is_global_zero and self.frames:
            for folder in sorted({frame.parent for frame in self.frames}):
                save_gif([f for f in self.frames if f.parent == folder], folder / "progress.gif")

    def state_dict(self) -> dict:
        return {"frames": [str(f) for f in self.frames]}

    def load_state_dict(self, state: dict) -> None:
        self.frames = [Path(f) for f in state.get("frames", []) if Path(f).exists()]


def class_rows(module, fixed_z: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A conditional G's class-by-row grid and its row length: row r = class r, column c = code c of the first
    ceil(sqrt(N)) of ``fixed_z``. Drawn without labels in one chunk (``module.generate``), where sample i is of
    class i mod K (``ConditionalGenerator.default_labels``): so code c is repeated K times in a row, then the
    images are transposed from code-major to class-major."""
    k, cols = module.generator.num_classes, fixed_z[: math.ceil(math.sqrt(len(fixed_z)))]
    z = cols.repeat_interleave(k, dim=0)  # index c * K + r: code c, class r
    images = module.generate(z, batch_size=len(z))
    return images.view(len(cols), k, *images.shape[1:]).transpose(0, 1).flatten(0, 1), len(cols)


def sample_grid(out_dir: str | Path, every_n_steps: int | None = 500, gif: bool = True) -> SampleGrid | None:
    """The callbacks group's sample grid: None when ``samples.every_n_steps`` is null (no grids at all)."""
    return None if every_n_steps is None else SampleGrid(out_dir, every_n_steps=every_n_steps, gif=gif)

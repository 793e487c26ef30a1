"""Generate from a checkpoint: ``python -m gan_lab.sample ckpt_path=... n=64`` (a Hydra app over
``conf/sample.yaml``: ``--help``, ``--cfg job``, ``hydra.run.dir=`` and ``-m ckpt_path=a,b`` work as
in ``train.py``).

Images go into ``grid.png`` (and ``sample_XXXXX.png`` with ``individual=true``); 2-D data is drawn
as a scatter plot. The latent tools (the maths in :mod:`gan_lab.nets.latent`):

* ``'seeds=[3,17,42]'``: one sample per seed, sample i from seed i alone (``seed_42.png`` with
  ``individual=true``), so adding a seed never changes the others; without it, ``seed=`` seeds one
  generator for all ``n`` samples.
* ``truncation=0.7``: the truncation trick (Brock et al. 2019 §3.1), on either way of drawing z.
* ``interpolate=lerp|slerp 'seeds=[1,2,3]' steps=8``: ``interpolation.png``, one row per consecutive
  pair of seeds with ``steps`` columns from one code to the next, and ``interpolation.gif``, through all
  seeds and back to the first, looping forever; for 2-D data, ``interpolation.png`` is a scatter plot of
  the paths (no GIF).

A class-conditional checkpoint (``task=conditional``): ``class=3`` asks G for class 3 only (with any of the
above); ``class=all`` writes a class-by-row grid, row r = class r, every row the same codes (``n // K``
columns, or one per seed of ``seeds=``). Without ``class=`` sample i is of class i mod K.

The options are checked before torch is imported, so a usage error is fast.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig

from gan_lab.cli import CONFIG_DIR, report_errors

USAGE = ("python -m gan_lab.sample ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt [n=64] [out=DIR] [seed=0] "
         "[individual=true] [use_ema=false] [member=I] [class=3|all]")
SEEDS_EXAMPLE = "'seeds=[1,2,3]'"
INTERPOLATIONS = ("lerp", "slerp")
FRAME_MS = 100  # the GIF's time per frame
MIN_FRAME_SIDE = 128  # GIF frames are enlarged (nearest neighbour) to at least this many pixels a side


def check_options(cfg: DictConfig) -> None:
    from gan_lab.errors import ConfigError, is_whole_number

    if not cfg.ckpt_path:
        raise ConfigError(f"ckpt_path is missing: {USAGE}")
    if not is_whole_number(cfg.n):
        raise ConfigError(f"n={cfg.n}: the number of samples must be a positive integer (e.g. n=64)")
    if not is_whole_number(cfg.batch_size):
        raise ConfigError(f"batch_size={cfg.batch_size}: must be a positive integer (e.g. batch_size=256)")
    member = cfg.get("member")
    if member is not None and not is_whole_number(member, 0):
        raise ConfigError(f"member={member}: the member of an ensemble of seeds to sample is an integer from 0 (e.g. member=0)")
    if cfg.get("use_ema") not in (None, True, False):
        raise ConfigError(f"use_ema={cfg.use_ema}: use use_ema=true (the averaged G), use_ema=false (G itself), "
                          "or leave it unset (the average when there is one)")
    check_latent_options(cfg, _given_on_command_line())
    check_class_option(cfg)


def check_class_option(cfg: DictConfig) -> None:
    """``class``: null, a class number or ``all`` (its range is checked against the checkpoint, :func:`classes_of`)."""
    from gan_lab.errors import ConfigError, is_whole_number

    label = cfg.get("class")
    if label is None:
        return
    if label != "all" and not is_whole_number(label, 0):
        raise ConfigError(f"class={_show(label)}: give a class number of a task=conditional checkpoint (e.g. class=3), "
                          "class=all for a grid with a row per class, or leave it unset")
    if label == "all" and cfg.get("interpolate") is not None:
        raise ConfigError(f"class=all with interpolate={cfg.interpolate}: an interpolation is of one class; "
                          "give one, e.g. class=3, or drop class=")


def classes_of(generator, ckpt_path: str, label: int | str) -> int:
    """The number of classes K of a conditional G, after checking that ``class=label`` applies to it."""
    from gan_lab.errors import ConfigError
    from gan_lab.nets.layers.conditional_batchnorm import ConditionalGenerator

    if not isinstance(generator, ConditionalGenerator):
        raise ConfigError(f"class={label}: ckpt_path={ckpt_path} is not class-conditional (not trained with task=conditional); "
                          "drop class=, or pass a checkpoint of a task=conditional run")
    k = generator.num_classes
    if label != "all" and not 0 <= label < k:
        raise ConfigError(f"class={label}: ckpt_path={ckpt_path} has {k} classes; use class=0 .. class={k - 1}, "
                          "or class=all for a row per class")
    return k


def check_latent_options(cfg: DictConfig, given: Collection[str] = ()) -> None:
    """``seeds``, ``truncation``, ``interpolate`` and ``steps``; ``given``: the keys set on the command line
    (an option that the others make meaningless is refused rather than ignored)."""
    from gan_lab.errors import ConfigError, is_whole_number

    seeds, truncation = cfg.get("seeds"), cfg.get("truncation")
    interpolate, steps = cfg.get("interpolate"), cfg.get("steps")
    if seeds is not None:
        if not isinstance(seeds, (ListConfig, list)) or not seeds or not all(
                is_whole_number(s, 0) and s < 2**64 for s in seeds):
            raise ConfigError(f"seeds={_show(seeds)}: give a list of non-negative integers, in quotes for the shell, "
                              "e.g. 'seeds=[3,17,42]'")
        for key in ("n", "seed"):
            if key in given:
                raise ConfigError(f"{key}={cfg[key]} and seeds=: seeds= makes one sample per seed, each from its own seed; "
                                  f"drop {key}= (or drop seeds= for {cfg.n} samples from one seed=)")
    if truncation is not None and (not isinstance(truncation, (int, float)) or isinstance(truncation, bool) or not truncation > 0):
        raise ConfigError(f"truncation={_show(truncation)}: the threshold must be a positive number (e.g. truncation=0.7; "
                          "truncation=null turns it off)")
    if interpolate is None:
        if "steps" in given:
            raise ConfigError(f"steps={_show(steps)} is the length of an interpolation: add interpolate=slerp (or lerp) "
                              f"and {SEEDS_EXAMPLE}")
        return
    if interpolate not in INTERPOLATIONS:
        raise ConfigError(f"interpolate={_show(interpolate)}: use interpolate=slerp (spherical, for Gaussian z) or "
                          "interpolate=lerp (linear), or leave it unset")
    if seeds is None or len(seeds) < 2:
        raise ConfigError(f"interpolate={interpolate} goes from seed to seed: give two or more, e.g. {SEEDS_EXAMPLE}")
    if not is_whole_number(steps, 2):
        raise ConfigError(f"steps={_show(steps)}: an interpolation needs at least its two ends (e.g. steps=8)")
    for key in ("individual", "n"):
        if key in given:
            raise ConfigError(f"{key}={_show(cfg[key])}: interpolate= writes interpolation.png and interpolation.gif only; "
                              f"drop {key}= (or drop interpolate= for single samples)")


def _show(value) -> str:
    """A value as it was typed (lists without quotes or spaces, null for None)."""
    if value is None:
        return "null"
    if isinstance(value, (ListConfig, list)):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _given_on_command_line() -> set[str]:
    """The keys of this job's command-line overrides (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task}


def sample(ckpt_path: str, n: int = 64, out: str | None = None, seed: int = 0, individual: bool = False, batch_size: int = 256,
           ema: bool | None = None, seeds: Sequence[int] | None = None, truncation: float | None = None,
           member: int | None = None, label: int | str | None = None) -> Path:
    """Write ``n`` samples of the checkpoint's G (its averaged G when it has one, unless ``ema=False``), or
    one per seed of ``seeds``; returns the grid's (or scatter plot's) path. ``label``: a conditional G's
    class for every sample, or ``"all"``: a class-by-row grid, row r = class r, every row the same codes
    (``max(1, n // K)`` of them, or one per seed)."""
    import torch

    from gan_lab.callbacks.images import save_grid, save_scatter
    from gan_lab.nets.latent import resample_outside, z_for_seeds

    generator, out_dir = _generator_and_folder(ckpt_path, out, ema, member)
    k = classes_of(generator, ckpt_path, label) if label is not None else None
    if seeds is not None:
        z = z_for_seeds(generator, seeds, truncation)
    else:
        rng = torch.Generator().manual_seed(seed)
        z = generator.sample_z(max(1, n // k) if label == "all" else n, generator=rng)
        if truncation is not None:
            z = resample_outside(z, truncation, rng)
    names = [f"seed_{s}" for s in seeds] if seeds is not None else [f"sample_{i:05d}" for i in range(len(z))]
    labels, nrow = None, None
    if label == "all":  # row-major: row r = class r, column c = code c
        names = [f"class_{r}_{name}" for r in range(k) for name in names]
        z, labels, nrow = z.repeat(k, 1), torch.arange(k).repeat_interleave(len(z)), len(z)
    elif label is not None:
        labels = torch.full((len(z),), label, dtype=torch.long)
    samples = _generate(generator, z, batch_size, labels)
    if len(generator.example_shape) == 1:
        return save_scatter(samples, out_dir / "scatter.png", title=f"{len(samples)} samples")
    if individual:
        for name, image in zip(names, samples):
            save_grid(image[None], out_dir / f"{name}.png", nrow=1)
    return save_grid(samples, out_dir / "grid.png", nrow=nrow)


def interpolation(ckpt_path: str, seeds: Sequence[int], steps: int = 8, mode: str = "slerp", out: str | None = None,
                  truncation: float | None = None, batch_size: int = 256, ema: bool | None = None, member: int | None = None,
                  label: int | None = None) -> list[Path]:
    """Interpolate the checkpoint's G between the codes of ``seeds`` (:func:`write_interpolation`); ``label``:
    a conditional G's class for every frame."""
    generator, out_dir = _generator_and_folder(ckpt_path, out, ema, member)
    if label is not None:
        classes_of(generator, ckpt_path, label)
    return write_interpolation(generator, seeds, steps, mode, out_dir, truncation, batch_size, label)


def write_interpolation(generator, seeds: Sequence[int], steps: int, mode: str, out_dir: Path,
                        truncation: float | None = None, batch_size: int = 256, label: int | None = None) -> list[Path]:
    """``interpolation.png``: row i goes from the code of ``seeds[i]`` to that of ``seeds[i + 1]`` in ``steps``
    columns (both ends included); ``interpolation.gif``: frames from seed to seed through all of them and
    back to the first, ``len(seeds) * (steps - 1)`` frames (each code once: the loop closes on frame 0),
    looping forever. For 2-D data, ``interpolation.png`` plots the rows' paths instead and there is no GIF.
    ``mode``: ``slerp`` or ``lerp`` (:mod:`gan_lab.nets.latent`); codes from :func:`z_for_seeds`; ``label``: a
    conditional G's class for every frame."""
    import torch

    from gan_lab.callbacks.images import save_grid
    from gan_lab.nets.latent import lerp, slerp, z_for_seeds

    interpolate = {"lerp": lerp, "slerp": slerp}[mode]
    z = z_for_seeds(generator, seeds, truncation)  # [K, z_dim]
    t = torch.linspace(0, 1, steps)
    k = len(seeds)
    rows = torch.cat([interpolate(z[i], z[i + 1], t) for i in range(k - 1)])  # [(K - 1) * steps, z_dim]
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(generator.example_shape) == 1:
        points = _generate(generator, rows, batch_size, _same(label, len(rows))).view(k - 1, steps, -1)
        return [_save_paths(points, seeds, out_dir / "interpolation.png", f"{mode}, {steps} steps")]
    loop = torch.cat([interpolate(z[i], z[(i + 1) % k], t[:-1]) for i in range(k)])  # [K * (steps - 1), z_dim]
    images = _generate(generator, torch.cat([rows, loop]), batch_size, _same(label, len(rows) + len(loop)))
    grid = save_grid(images[:len(rows)], out_dir / "interpolation.png", nrow=steps)
    return [grid, _save_gif(images[len(rows):], out_dir / "interpolation.gif")]


def _generator_and_folder(ckpt_path: str, out: str | None, ema: bool | None, member: int | None = None):
    from gan_lab.checkpoints import generator_from_checkpoint

    generator, _ = generator_from_checkpoint(ckpt_path, ema=ema, member=member)
    out_dir = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    return generator, out_dir


def _generate(generator, z, batch_size: int, labels=None):
    """G(z) in chunks; a conditional G's G(z, labels) when ``labels`` (``[N]`` classes) are given."""
    import torch

    with torch.no_grad():
        if labels is None:
            return torch.cat([generator(chunk) for chunk in z.split(batch_size)])
        return torch.cat([generator(chunk, y) for chunk, y in zip(z.split(batch_size), labels.split(batch_size))])


def _same(label: int | None, n: int):
    """``n`` copies of one class (None: no labels)."""
    import torch

    return None if label is None else torch.full((n,), label, dtype=torch.long)


def _save_gif(images, path: Path) -> Path:
    """``[N, C, H, W]`` images in [-1, 1] as a looping GIF, enlarged to ``MIN_FRAME_SIDE`` pixels. A frame
    identical to the one before (a collapsed G) is merged into it by Pillow, its time added."""
    from PIL import Image

    scale = -(-MIN_FRAME_SIDE // images.shape[-1])
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()  # [N, H, W, C]
    frames = [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p).resize((p.shape[1] * scale, p.shape[0] * scale), Image.NEAREST)
              for p in pixels]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)
    return path


def _save_paths(points, seeds: Sequence[int], path: Path, title: str) -> Path:
    """2-D interpolation: ``points`` ``[K - 1, steps, 2]``, one path per consecutive pair of seeds, the
    seeds' own points labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    p = points.detach().float().cpu().numpy()
    for row in p:
        ax.plot(row[:, 0], row[:, 1], "-o", ms=2, lw=1, alpha=0.8)
    ends = [*p[:, 0], p[-1, -1]]  # the point of each seed
    for seed, (x, y) in zip(seeds, ends):
        ax.annotate(str(seed), (x, y), fontsize=7)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="sample")
def main(cfg: DictConfig) -> None:
    def body() -> None:
        check_options(cfg)
        seeds = None if cfg.get("seeds") is None else [int(s) for s in cfg.seeds]
        truncation = None if cfg.get("truncation") is None else float(cfg.truncation)
        label = cfg.get("class")
        if cfg.get("interpolate") is not None:
            paths = interpolation(str(cfg.ckpt_path), seeds, cfg.steps, cfg.interpolate, cfg.out, truncation, cfg.batch_size,
                                  cfg.get("use_ema"), cfg.get("member"), label)
        else:
            paths = [sample(str(cfg.ckpt_path), cfg.n, cfg.out, cfg.seed, cfg.individual, cfg.batch_size, cfg.get("use_ema"),
                            seeds, truncation, cfg.get("member"), label)]
        for path in paths:
            print(f"wrote {path}")

    report_errors(body)


if __name__ == "__main__":
    main()

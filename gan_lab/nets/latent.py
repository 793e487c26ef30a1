"""Latent-space tools of ``python -m gan_lab.sample``: interpolation between codes, the truncation trick,
and one code per seed. The maths only (no CLI); torch tensors in, torch tensors out.

* :func:`lerp` and :func:`slerp`: linear and spherical interpolation (White 2016, "Sampling Generative
  Networks", §2).
* :func:`truncated_normal`: the truncation trick (Brock et al. 2019, "Large Scale GAN Training for High
  Fidelity Natural Image Synthesis", §3.1).
* :func:`z_for_seeds`: code i from seed i alone, so adding a seed never changes the other codes.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from gan_lab.errors import ConfigError

MAX_RESAMPLING_ROUNDS = 10_000  # P(|z| <= 0.01) ~ 0.8%: even that threshold converges in a few hundred rounds


def _times(t: float | torch.Tensor, q0: torch.Tensor) -> torch.Tensor:
    """``t`` as a tensor that broadcasts against ``q0`` ``[..., D]``: a scalar, or ``[T]`` -> ``[T, 1, ..., 1]``."""
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    return t if t.ndim == 0 else t.reshape(-1, *([1] * q0.ndim))


def lerp(q0: torch.Tensor, q1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``(1 - t) q0 + t q1`` (White 2016 §2's baseline).

    ``q0``, ``q1``: ``[..., D]``; ``t`` a float (returns ``[..., D]``) or a 1-D tensor ``[T]`` (returns
    ``[T, ..., D]``, one row per t). t=0 gives q0 and t=1 gives q1 exactly.
    """
    t = _times(t, q0)
    return torch.where(t == 1, q1, (1 - t) * q0 + t * q1)  # exact q1 at t=1 (the formula may round)


def slerp(q0: torch.Tensor, q1: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical linear interpolation (White 2016, "Sampling Generative Networks", §2):

        slerp(q0, q1; t) = sin((1 - t) Ω) / sin Ω · q0 + sin(t Ω) / sin Ω · q1,  cos Ω = q0·q1 / (|q0| |q1|)

    For a Gaussian z, lerp's midpoints have a smaller norm than any likely sample (they pass near the
    origin, where a high-dimensional Gaussian has almost no mass); slerp follows the great circle, so
    codes of equal norm stay at that norm. Shapes as :func:`lerp`; Ω is computed per row over the last
    dimension.

    Deviation: where sin Ω ≈ 0 (``|sin Ω| < eps``) the formula is 0/0 and this returns :func:`lerp`, the
    paper's limit for Ω -> 0; the antipodal case Ω ≈ π (no unique great circle) also falls back to lerp.
    """
    t = _times(t, q0)
    cos_omega = (q0 * q1).sum(-1, keepdim=True) / (q0.norm(dim=-1, keepdim=True) * q1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos_omega.clamp(-1, 1).nan_to_num(1.0))  # [..., 1]; a zero vector: Ω = 0, lerp
    sin_omega = torch.sin(omega)
    degenerate = sin_omega.abs() < eps
    safe_sin = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    spherical = (torch.sin((1 - t) * omega) * q0 + torch.sin(t * omega) * q1) / safe_sin
    spherical = torch.where(t == 0, q0, torch.where(t == 1, q1, spherical))  # exact endpoints
    return torch.where(degenerate, lerp(q0, q1, t), spherical)


def resample_outside(z: torch.Tensor, threshold: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The truncation trick on standard normal codes ``z``: every component with ``|z| > threshold`` is
    redrawn from N(0, 1), again and again, until all are within it (Brock et al. 2019 §3.1: "values which
    fall outside a range are resampled to fall inside that range"), i.e. each component is a draw of N(0, 1)
    truncated to [-threshold, threshold]. Components already inside are kept bit for bit; the redraws come
    from ``generator`` in a fixed order (row-major over the components still outside, round after round),
    so the result is a function of the generator's seed. Returns a new tensor."""
    if not threshold > 0:
        raise ConfigError(f"truncation={threshold}: the threshold must be positive (e.g. truncation=0.7; "
                          "truncation=null turns truncation off)")
    z = z.clone()
    for _ in range(MAX_RESAMPLING_ROUNDS):
        outside = z.abs() > threshold
        count = int(outside.sum())
        if count == 0:
            return z
        z[outside] = torch.randn(count, generator=generator, dtype=z.dtype, device=z.device)
    raise ConfigError(f"truncation={threshold}: some components were still outside after {MAX_RESAMPLING_ROUNDS} "
                      "redraws; use a larger threshold (e.g. truncation=0.5)")


def truncated_normal(n: int, dim: int, threshold: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[n, dim]`` codes from N(0, 1) truncated to ``[-threshold, threshold]`` by resampling (Brock et al.
    2019 §3.1, :func:`resample_outside`): one ``torch.randn(n, dim, generator=generator)`` draw, then the
    redraws of the components outside, all from ``generator``."""
    return resample_outside(torch.randn(n, dim, generator=generator), threshold, generator)


def z_for_seeds(generator_net: torch.nn.Module, seeds: Sequence[int], truncation: float | None = None) -> torch.Tensor:
    """``[len(seeds), z_dim]`` codes of G, code i drawn from seed i alone: ``G.sample_z(1, generator=
    torch.Generator().manual_seed(seeds[i]))``, then, with ``truncation``, its components outside
    ``[-truncation, truncation]`` redrawn from the same generator (:func:`resample_outside`). Adding,
    removing or reordering seeds never changes another seed's code."""
    codes = []
    for seed in seeds:
        rng = torch.Generator().manual_seed(int(seed))
        z = generator_net.sample_z(1, generator=rng)
        codes.append(z if truncation is None else resample_outside(z, truncation, rng))
    return torch.cat(codes)

"""gan_lab.nets.latent against hand-computed values: lerp and slerp (White 2016 §2), the truncation
trick by resampling (Brock et al. 2019 §3.1), one code per seed; and the sample app's option checks."""
import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_lab.errors import ConfigError
from gan_lab.nets import MLPGenerator
from gan_lab.nets.latent import lerp, resample_outside, slerp, truncated_normal, z_for_seeds

Q0 = torch.tensor([1.0, 0.0, 0.0])
Q1 = torch.tensor([0.0, 1.0, 0.0])


def test_slerp_of_orthogonal_unit_vectors_at_half_is_their_sum_over_sqrt2():
    assert torch.allclose(slerp(Q0, Q1, 0.5), (Q0 + Q1) / math.sqrt(2), atol=1e-7)


def test_slerp_at_a_quarter_of_a_right_angle_is_cos_sin_of_22_5_degrees():
    angle = math.pi / 8  # t = 0.25 of Ω = π/2
    assert torch.allclose(slerp(Q0, Q1, 0.25), torch.tensor([math.cos(angle), math.sin(angle), 0.0]), atol=1e-7)


@pytest.mark.parametrize("interpolate", [lerp, slerp])
def test_endpoints_are_exact(interpolate):
    q0, q1 = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(interpolate(q0, q1, 0.0), q0) and torch.equal(interpolate(q0, q1, 1.0), q1)
    path = interpolate(q0, q1, torch.linspace(0, 1, 8))
    assert path.shape == (8, 100) and torch.equal(path[0], q0) and torch.equal(path[-1], q1)


def test_slerp_keeps_the_norm_of_equal_norm_vectors():
    q0, q1 = torch.randn(2, 100, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q1 = q1 * q0.norm() / q1.norm()
    norms = slerp(q0, q1, torch.linspace(0, 1, 11)).norm(dim=-1)
    assert torch.allclose(norms, q0.norm().expand(11), rtol=1e-12)
    assert lerp(q0, q1, 0.5).norm() < 0.9 * q0.norm()  # lerp's midpoint cuts the chord (near-orthogonal codes)


def test_lerp_midpoints():
    q0, q1 = torch.tensor([2.0, -4.0]), torch.tensor([6.0, 8.0])
    assert torch.equal(lerp(q0, q1, 0.5), torch.tensor([4.0, 2.0]))
    assert torch.equal(lerp(q0, q1, torch.tensor([0.25, 0.75])), torch.tensor([[3.0, -1.0], [5.0, 5.0]]))


def test_slerp_falls_back_to_lerp_for_parallel_vectors():
    assert torch.allclose(slerp(Q0, 3 * Q0, 0.5), 2 * Q0)
    batch = slerp(torch.stack([Q0, Q0]), torch.stack([Q1, 2 * Q0]), 0.5)  # per row: one spherical, one parallel
    assert torch.allclose(batch, torch.stack([(Q0 + Q1) / math.sqrt(2), 1.5 * Q0]), atol=1e-7)


def test_truncation_puts_every_component_within_the_threshold():
    z = truncated_normal(64, 128, 0.7, torch.Generator().manual_seed(0))
    assert z.shape == (64, 128) and z.abs().max() <= 0.7
    assert z.std() < 0.7 / math.sqrt(3) + 0.02  # N(0,1) on [-0.7, 0.7] is nearly uniform: std ~ 0.40


def test_truncation_is_deterministic_given_the_seed():
    first = truncated_normal(16, 32, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(first, truncated_normal(16, 32, 0.5, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, truncated_normal(16, 32, 0.5, torch.Generator().manual_seed(4)))


def test_truncation_leaves_the_components_already_inside_untouched():
    threshold = 1.0
    z = torch.randn(16, 32, generator=torch.Generator().manual_seed(5))
    inside = z.abs() <= threshold
    assert 0 < inside.sum() < z.numel()
    truncated = truncated_normal(16, 32, threshold, torch.Generator().manual_seed(5))  # the same first draw
    assert torch.equal(truncated[inside], z[inside]) and not torch.equal(truncated[~inside], z[~inside])


def test_truncation_redraws_the_outside_components_from_the_generator_in_order():
    z = torch.tensor([[0.1, 5.0, -0.2, -7.0]])
    rng = torch.Generator().manual_seed(0)
    expected, draws = z.clone(), torch.Generator().manual_seed(0)
    while (expected.abs() > 0.5).any():  # the paper's rule by hand: redraw what is outside until nothing is
        outside = expected.abs() > 0.5
        expected[outside] = torch.randn(int(outside.sum()), generator=draws)
    assert torch.equal(resample_outside(z, 0.5, rng), expected)


@pytest.mark.parametrize("threshold", [0, -0.5])
def test_truncation_refuses_a_threshold_that_is_not_positive(threshold):
    with pytest.raises(ConfigError, match="truncation=.*must be positive"):
        truncated_normal(2, 3, threshold)


def test_z_for_seeds_draws_each_code_from_its_own_seed():
    g = MLPGenerator(image_size=None, channels=None, z_dim=10, hidden=[8])
    few, more = z_for_seeds(g, [1, 2]), z_for_seeds(g, [1, 2, 3])
    assert torch.equal(few, more[:2])
    assert torch.equal(more[2], g.sample_z(1, generator=torch.Generator().manual_seed(3))[0])
    truncated = z_for_seeds(g, [2, 1], truncation=0.7)
    assert truncated.abs().max() <= 0.7 and torch.equal(truncated[1], z_for_seeds(g, [1], truncation=0.7)[0])


def _latent_error(given=(), **options):
    from gan_lab.sample import check_latent_options

    cfg = OmegaConf.create({"n": 64, "seed": 0, "individual": False, "seeds": None, "truncation": None, "interpolate": None,
                            "steps": 8, **options})
    with pytest.raises(ConfigError) as err:
        check_latent_options(cfg, set(given))
    return str(err.value)


def test_the_sample_app_refuses_bad_latent_options_saying_what_to_type():
    assert "truncation=0.7" in _latent_error(truncation=0)
    assert "truncation=0.7" in _latent_error(truncation=-1.5)
    assert "interpolate=slerp" in _latent_error(interpolate="cubic", seeds=[1, 2])
    assert "'seeds=[1,2,3]'" in _latent_error(interpolate="slerp")
    assert "'seeds=[1,2,3]'" in _latent_error(interpolate="lerp", seeds=[1])
    assert "steps=8" in _latent_error(interpolate="lerp", seeds=[1, 2], steps=1)
    assert "'seeds=[3,17,42]'" in _latent_error(seeds=[1, "x"])
    assert "drop n=" in _latent_error(given={"n"}, seeds=[1, 2])
    assert "interpolate=slerp" in _latent_error(given={"steps"})

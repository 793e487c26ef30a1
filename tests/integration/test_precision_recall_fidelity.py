"""metrics=inception precision / recall / density / coverage against torch-fidelity on two folders.

Inception runs at ~3 images/s per CPU thread and every image is extracted twice (once by
torch-fidelity, once by gan-lab), so the folders hold 24 images each: 96 forwards, ~35 s on one
thread. 24 is about the least that still gives fractions worth comparing: the k = 5 balls of density
/ coverage need more than 5 real points, and with 24 per set the k-NN radii are small enough that
precision, recall and coverage come out strictly between 0 and 1 (20/24, 11/24, 12/24 here).
"""
from __future__ import annotations

import os
import socket
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

N = 24


def _write_folder(folder: Path, images: torch.Tensor) -> Path:
    from torchvision.utils import save_image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def brute_force_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Naeem et al. 2020 §3.2 literally, in float64: NND_k(X_i) is the (k+1)-th smallest distance
    from X_i to the real points (the first is X_i itself), balls closed."""
    real, fake = real.double(), fake.double()
    radii = torch.cdist(real, real).sort(dim=1).values[:, k]
    inside = torch.cdist(fake, real) <= radii  # [M, N]: Y_j in B(X_i, NND_k(X_i))
    density = Fraction(int(inside.sum()), k * len(fake))
    coverage = Fraction(int(inside.any(dim=0).sum()), len(real))
    return float(density), float(coverage)


def test_precision_recall_equal_torch_fidelity_prc_on_two_folders(tmp_path, inception_weights, gan_lab_cache):
    """InceptionEvaluator (what metrics=inception and ``python -m gan_lab.evaluate`` run) on the
    images of folders A (generated) and B (real) against ``torch_fidelity.calculate_metrics(input1=A,
    input2=B, prc=True)`` with the same weights file and torch-fidelity's Inception pool3 features
    (its prc default is VGG-16, so the extractor and layer are named)."""
    import torch_fidelity

    from gan_lab.data.datasets import Prepared
    from gan_lab.metrics.inception import InceptionEvaluator

    g = torch.Generator().manual_seed(0)
    tint = torch.linspace(0.2, 1, 32)
    generated = torch.rand(N, 3, 32, 32, generator=g)  # uniform noise
    # the real set: half drawn like the generated images, half tinted noise the generator never makes
    real = torch.cat([torch.rand(N // 2, 3, 32, 32, generator=g),
                      (torch.rand(N - N // 2, 3, 32, 32, generator=g) * 0.5 + 0.5) * tint])
    a, b = _write_folder(tmp_path / "a", generated), _write_folder(tmp_path / "b", real)
    cache = tmp_path / "fidelity_cache"
    reference = torch_fidelity.calculate_metrics(
        input1=str(a), input2=str(b), prc=True, feature_extractor="inception-v3-compat", feature_layer_prc="2048",
        feature_extractor_weights_path=str(inception_weights), cuda=False, verbose=False, save_cpu_ram=True,
        cache=True, cache_root=str(cache), input1_cache_name="prc_a", input2_cache_name="prc_b",  # to read its features back
    )

    def pixels(images: torch.Tensor) -> torch.Tensor:
        """The PNGs' uint8 pixels (save_image's rounding) in [-1, 1]: to_uint8 gives them back exactly."""
        return images.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).float().div(255).mul(2).sub(1)

    evaluator = InceptionEvaluator("prc_folders", Prepared(kind="image", train_x=pixels(real)), N, batch_size=N,
                                   weights=str(inception_weights), is_splits=1)
    fake = pixels(generated)
    ours = evaluator.evaluate(lambda n: fake[:n])
    assert f"{N} generated vs {N} real (all real features)" in evaluator.protocol["prdc"]
    precision, recall = reference["precision"], reference["recall"]
    assert 0 < precision < 1 and 0 < recall < 1 and precision != recall  # a comparison worth making
    # torch-fidelity's float32 mean vs our exact count / total: equal to float32 rounding
    assert ours[f"metrics/precision{N}"] == pytest.approx(precision, abs=1e-6)
    assert ours[f"metrics/recall{N}"] == pytest.approx(recall, abs=1e-6)

    # density / coverage (not in torch-fidelity): the definitions on torch-fidelity's own features
    fake_features = torch.load(cache / "prc_a-inception-v3-compat-features-2048.pt", weights_only=False)
    real_features = torch.load(cache / "prc_b-inception-v3-compat-features-2048.pt", weights_only=False)
    assert fake_features.shape == real_features.shape == (N, 2048)
    density, coverage = brute_force_density_coverage(real_features, fake_features)
    assert 0 < coverage < 1
    assert ours[f"metrics/density{N}"] == density
    assert ours[f"metrics/coverage{N}"] == coverage


def _rank(rank: int, world: int, port: int, out: str) -> None:
    from gan_lab.metrics.precision_recall import gather_features, prdc

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 8, generator=g), torch.randn(25, 8, generator=g) + 0.3
    share = fake[:13] if rank == 0 else fake[13:]  # unequal shards, as shard(25, rank, 2) gives
    gathered = gather_features(share, world)
    torch.save({"gathered": gathered, "values": prdc(real, gathered)}, f"{out}.{rank}")
    dist.destroy_process_group()


def test_generated_features_are_gathered_across_ranks_of_unequal_shards(tmp_path):
    """Two gloo ranks holding 13 and 12 generated features: both get all 25 in rank order and the
    single-process numbers."""
    from gan_lab.metrics.precision_recall import prdc

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, port, str(tmp_path / "ranks")), nprocs=2, join=True)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 8, generator=g), torch.randn(25, 8, generator=g) + 0.3
    single = prdc(real, fake)
    for rank in range(2):
        saved = torch.load(tmp_path / f"ranks.{rank}", weights_only=True)
        assert torch.equal(saved["gathered"], fake)
        assert saved["values"] == single

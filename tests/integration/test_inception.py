"""metrics=inception: torch-fidelity's InceptionV3 with a weights file the tests build (never downloaded).

Inception runs at a few images/s on a 2-core CPU, so every test here uses a handful of images.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gan_lab.data.datasets import load_mnist5k
from tests.conftest import load_mixture
from gan_lab.errors import ConfigError
from gan_lab.metrics.inception import InceptionEvaluator, load_extractor, resolve_weights, to_uint8
from tests.conftest import SMALL_DCGAN


def _write_folder(folder: Path, images: torch.Tensor) -> Path:
    from torchvision.utils import save_image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def test_fid_kid_is_equal_torch_fidelity_on_two_folders(tmp_path, inception_weights, gan_lab_cache):
    """Our numbers (python -m gan_lab.evaluate folder=A data=folder data.root=B) against
    torch_fidelity.calculate_metrics on the same folders with the same weights file."""
    import torch_fidelity

    from hydra import compose, initialize_config_dir

    from gan_lab.evaluate import evaluate
    from tests.conftest import CONF

    g = torch.Generator().manual_seed(0)
    n = 10
    a = _write_folder(tmp_path / "a", torch.rand(n, 3, 32, 32, generator=g))
    b = _write_folder(tmp_path / "b", (torch.rand(n, 3, 32, 32, generator=g) * 0.5 + 0.5) * torch.linspace(0.2, 1, 32))
    reference = torch_fidelity.calculate_metrics(
        input1=str(a), input2=str(b), fid=True, kid=True, isc=True, isc_splits=1, kid_subset_size=n,
        feature_extractor_weights_path=str(inception_weights), cuda=False, verbose=False, cache=False, save_cpu_ram=True,
    )
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"folder={a}", "data=folder", f"data.root={b}", "data.image_size=32", "data.channels=3",
                                             "metrics=inception", f"inception_weights={inception_weights}", "is_splits=1"])
    ours = evaluate(cfg)
    assert ours["metrics/protocol"]["num_samples"] == n
    assert reference["frechet_inception_distance"] > 1e-3  # two different sets: a distance worth comparing
    assert ours["metrics/fid"] == pytest.approx(reference["frechet_inception_distance"], rel=1e-3)
    # with a subset as large as the sets every KID subset is the whole set, so the numbers match exactly
    assert ours["metrics/kid_mean"] == pytest.approx(reference["kernel_inception_distance_mean"], rel=1e-3, abs=1e-7)
    assert ours["metrics/is_mean"] == pytest.approx(reference["inception_score_mean"], rel=1e-4)
    assert ours["metrics/is_std"] == reference["inception_score_std"] == 0.0  # population std, as np.std: 0 for one split


def test_fid_of_real_images_against_themselves_is_zero_and_real_features_are_cached(inception_weights, gan_lab_cache):
    data = load_mnist5k(28)
    real = data.train_x[:6]

    def replay(n: int, position=[0]) -> torch.Tensor:  # noqa: B006 - a counter across calls
        out = real[position[0]:position[0] + n]
        position[0] += n
        return out

    extractor = load_extractor(resolve_weights(str(inception_weights)))
    first = InceptionEvaluator("mnist5k", data, 6, batch_size=4, weights=str(inception_weights), num_real=6,
                               is_splits=2, extractor=extractor)
    values = first.evaluate(replay)
    assert first.real_extractions == 6
    # the same 6 images: identical statistics; the residue is the eigen-solver's round-off on
    # rank-5 covariances of 2048 dimensions (traces ~70), 1e-3 of the traces
    assert abs(values["metrics/fid"]) < 0.2
    second = InceptionEvaluator("mnist5k", data, 6, batch_size=4, weights=str(inception_weights), num_real=6,
                                is_splits=2, extractor=extractor)
    second.prepare_real()
    assert second.real_extractions == 0  # real features came from the disk cache
    calls = second.extractor_calls
    noise = second.evaluate(lambda n: torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    assert second.extractor_calls - calls == 2  # only the 6 generated images, in batches of 4
    assert noise["metrics/fid"] > 100 * abs(values["metrics/fid"])
    assert noise["metrics/kid_mean"] > 0 > values["metrics/kid_mean"]  # unbiased MMD² of a set with itself is < 0


def test_to_uint8_quantises_like_save_image():
    x = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
    u = to_uint8(x)
    assert u.shape == (2, 3, 28, 28) and u.dtype == torch.uint8
    assert int(u.min()) == 0 and int(u.max()) == 255
    from torchvision.utils import make_grid

    expected = make_grid(x, nrow=1, padding=0, normalize=True, value_range=(-1, 1)).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    assert torch.equal(u[:, 0].reshape(-1), expected[0].reshape(-1))


def test_missing_or_wrong_weights_fail_before_training_with_the_fix(cli, tmp_path):
    missing = cli("metrics=inception", f"metrics.inception_weights={tmp_path}/nope.pth", "logger=csv",
                  "trainer.max_steps=2", "trainer.accelerator=cpu")
    assert missing.returncode == 1
    assert "gan-lab: error: metrics.inception_weights=" in missing.stderr and "python -m gan_lab.prefetch" in missing.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    wrong = cli("metrics=inception", f"metrics.inception_weights={tmp_path}/wrong.pth", "logger=csv", "trainer.accelerator=cpu")
    assert wrong.returncode == 1 and "is not torch-fidelity's InceptionV3 weights file" in wrong.stderr
    hub = cli("metrics=inception", "logger=csv", "trainer.accelerator=cpu", env={"TORCH_HOME": str(tmp_path / "empty")})
    assert hub.returncode == 1  # GAN_LAB_OFFLINE=1 (set for all tests): no download is even tried
    assert "GAN_LAB_OFFLINE=1 forbids downloading" in hub.stderr and str(tmp_path / "empty") in hub.stderr


def test_prefetch_checks_an_existing_file_and_explains_offline(inception_weights, tmp_path, capsys, monkeypatch):
    from gan_lab.prefetch import main

    assert main(["--dest", str(inception_weights)]) == 0
    assert "metrics.inception_weights=" in capsys.readouterr().out
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main([]) == 2
    assert "forbids downloading" in capsys.readouterr().err


def test_training_logs_fid_is_kid_and_the_memorization_check(cfg_factory, inception_weights, gan_lab_cache):
    from gan_lab.runner import run

    cfg = cfg_factory("metrics=inception", f"metrics.inception_weights={inception_weights}", "metrics.num_samples=10",
                      "metrics.num_real=10", "metrics.every_n_steps=0", "metrics.memorization_samples=50", *SMALL_DCGAN)
    summary = run(cfg)
    metrics = summary["metrics"]
    for key in ("metrics/fid", "metrics/is_mean", "metrics/is_std", "metrics/kid_mean", "metrics/kid_std"):
        assert torch.isfinite(torch.tensor(metrics[key])), key
    assert metrics["metrics/fid"] > 0 and metrics["metrics/is_mean"] >= 1.0
    assert metrics["metrics/protocol"]["kid"] == "100 subsets of 10"
    assert metrics["metrics/nn_l1_generated"] > 0 and metrics["metrics/nn_l1_heldout"] > 0
    run_dir = Path(cfg.run_dir)
    assert (run_dir / "memorization.png").is_file()
    written = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert written["metrics/fid"] == metrics["metrics/fid"]
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"metrics/fid", "metrics/is_mean", "metrics/kid_mean", "metrics/nn_l1_ratio"} <= set(header)


def _rank(rank: int, world: int, port: int, weights: str, cache: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GAN_LAB_CACHE=cache)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    data = load_mnist5k(28)
    fake = data.val_x[:8]
    evaluator = InceptionEvaluator("mnist5k", data, 8, batch_size=8, weights=weights, num_real=8, is_splits=1)
    evaluator.prepare_real(rank, world, barrier=dist.barrier)
    share = fake[:4] if rank == 0 else fake[4:]
    values = evaluator.evaluate(lambda n: share[:n], rank, world)  # torchmetrics syncs the states
    if rank == 0:
        torch.save(values, out)
    dist.destroy_process_group()


def test_two_gloo_ranks_give_the_single_process_inception_numbers(tmp_path, inception_weights):
    """Each rank extracts its share of the samples and of the real images; the synced numbers equal
    one process's (subsets and splits as large as the sets, so sample order cannot matter)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = tmp_path / "cache"
    mp.spawn(_rank, args=(2, port, str(inception_weights), str(cache), str(tmp_path / "ddp.pt")), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    os.environ["GAN_LAB_CACHE"], old = str(cache), os.environ.get("GAN_LAB_CACHE")
    try:
        data = load_mnist5k(28)
        single = InceptionEvaluator("mnist5k", data, 8, batch_size=8, weights=str(inception_weights), num_real=8, is_splits=1)
        values = single.evaluate(lambda n: data.val_x[:n])
        assert single.real_extractions == 0  # rank 0 of the DDP run filled the cache
    finally:
        os.environ.pop("GAN_LAB_CACHE") if old is None else os.environ.__setitem__("GAN_LAB_CACHE", old)
    kid_scale = abs(values["metrics/kid_mean"])
    for key, value in values.items():
        # every KID subset is the whole set, so kid_std is float32 rounding noise: compare it on kid_mean's scale
        tolerance = dict(abs=1e-5 * kid_scale) if key == "metrics/kid_std" else dict(rel=1e-4, abs=1e-7)
        assert ddp[key] == pytest.approx(value, **tolerance), (key, ddp[key], value)


def test_points_data_is_refused_for_inception(inception_weights):
    data = load_mixture("ring8", std=0.01, num_train=100, num_val=10)
    with pytest.raises(ConfigError, match="2-D points"):
        InceptionEvaluator("ring8", data, 10, weights=str(inception_weights))

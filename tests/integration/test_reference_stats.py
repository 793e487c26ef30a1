"""FID against reference statistics: ``python -m gan_lab.reference`` writes pytorch-fid style mu / sigma,
``gan_lab.evaluate reference=`` and ``metrics.reference=`` compare with them (Inception with the random
weights file the tests build; a few dozen 32 px images, since Inception runs at 299 px on the CPU)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gan_lab.errors import ConfigError
from gan_lab.metrics.statistics import read_reference
from tests.conftest import CONF, ROOT

N = 24  # images per folder: fewer than one batch of either tool (64, 100), so both see the same batch


def _write_folder(folder, images):
    from torchvision.utils import save_image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def _compose(config: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config, overrides=overrides)


def _app(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def _stats_file(path, dim: int, **entries):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((dim + 1, dim))
    values = {"mu": x.mean(0), "sigma": np.cov(x, rowvar=False), **entries}
    np.savez(path, **values)
    return path


def test_fid_against_a_folders_statistics_equals_torch_fidelity_on_the_two_folders(tmp_path, inception_weights, gan_lab_cache):
    import torch_fidelity

    from gan_lab.evaluate import evaluate
    from gan_lab.metrics.inception import EXTRACTOR_NAME

    g = torch.Generator().manual_seed(0)
    a = _write_folder(tmp_path / "a", torch.rand(N, 3, 32, 32, generator=g))
    b = _write_folder(tmp_path / "b", (torch.rand(N, 3, 32, 32, generator=g) * 0.5 + 0.5) * torch.linspace(0.2, 1, 32))
    stats = tmp_path / "stats.npz"
    made = _app("gan_lab.reference", f"folder={a}", f"out={stats}", f"metrics.inception_weights={inception_weights}")
    assert made.returncode == 0, made.stderr[-2000:]
    with np.load(stats) as npz:
        assert npz["mu"].shape == (2048,) and npz["sigma"].shape == (2048, 2048)
        assert npz["mu"].dtype == npz["sigma"].dtype == np.float64
        assert str(npz["extractor"]) == EXTRACTOR_NAME and int(npz["num_images"]) == N

    cfg = _compose("evaluate", [f"folder={b}", f"reference={stats}", "metrics=inception",
                                f"metrics.inception_weights={inception_weights}", "is_splits=1"])
    ours = evaluate(cfg)
    expected = torch_fidelity.calculate_metrics(
        input1=str(b), input2=str(a), fid=True, feature_extractor_weights_path=str(inception_weights),
        cuda=False, verbose=False, cache=False, save_cpu_ram=True)["frechet_inception_distance"]
    print(f"FID folder b vs stats of a: ours {ours['metrics/fid']!r}, torch-fidelity {expected!r}, "
          f"relative difference {abs(ours['metrics/fid'] - expected) / expected:.3g}")
    assert expected > 1e-3  # two different sets: a distance worth comparing
    assert ours["metrics/fid"] == pytest.approx(expected, rel=1e-6)
    assert ours["metrics/protocol"]["real"].startswith(f"reference statistics {stats}")
    assert "metrics/kid_mean" not in ours and ours["metrics/protocol"]["kid"].startswith("skipped")
    assert ours["metrics/is_mean"] > 0


def test_read_reference_accepts_pytorch_fid_files_and_names_what_is_wrong(tmp_path):
    plain = read_reference(_stats_file(tmp_path / "plain.npz", 8), dim=8, extractor="x")  # no extractor entry: pytorch-fid's
    assert plain["mu"].shape == (8,) and plain["sigma"].dtype == np.float64 and plain["extractor"] is None
    with pytest.raises(ConfigError, match="does not exist.*python -m gan_lab.reference"):
        read_reference(tmp_path / "missing.npz", dim=8)
    np.savez(tmp_path / "no_sigma.npz", mu=np.zeros(8), features=np.zeros((3, 8)))
    with pytest.raises(ConfigError, match="has no sigma \\(it has features, mu\\)"):
        read_reference(tmp_path / "no_sigma.npz", dim=8)
    inception = _stats_file(tmp_path / "inception.npz", 2048)
    with pytest.raises(ConfigError, match="holds 2048-d statistics but the digit classifier gives 64-d features"):
        read_reference(inception, dim=64, extractor="the digit classifier")
    (tmp_path / "text.npz").write_text("mu sigma")
    with pytest.raises(ConfigError, match="is not an .npz statistics file"):
        read_reference(tmp_path / "text.npz", dim=8)
    np.savez(tmp_path / "shape.npz", mu=np.zeros(8), sigma=np.zeros((8, 7)))
    with pytest.raises(ConfigError, match="mu has shape \\[8\\] and sigma \\[8, 7\\]"):
        read_reference(tmp_path / "shape.npz", dim=8)
    other = _stats_file(tmp_path / "other.npz", 8, extractor=np.array("another network"))
    with pytest.raises(ConfigError, match="made with the extractor 'another network'"):
        read_reference(other, dim=8, extractor="x")


def test_evaluate_refuses_a_missing_reference_and_one_for_the_classifier_metrics(tmp_path):
    from gan_lab.evaluate import check_options

    missing = _app("gan_lab.evaluate", f"folder={tmp_path}", f"reference={tmp_path}/nope.npz", "metrics=inception")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        f"gan-lab: error: reference={tmp_path}/nope.npz does not exist: make it with python -m gan_lab.reference data=NAME out=stats.npz")
    cfg = _compose("evaluate", [f"folder={tmp_path}", "data=mnist5k", f"reference={_stats_file(tmp_path / 's.npz', 64)}"])
    with pytest.raises(ConfigError, match="reference=.* works with metrics=inception"):
        check_options(cfg)


def test_training_checks_the_reference_file_before_the_first_step(cli, tmp_path, inception_weights):
    small = _stats_file(tmp_path / "classifier_sized.npz", 64)
    run = cli("metrics=inception", f"metrics.inception_weights={inception_weights}", f"metrics.reference={small}",
              "logger=csv", "trainer.max_steps=2", "trainer.accelerator=cpu")
    assert run.returncode == 1
    assert f"gan-lab: error: metrics.reference={small} holds 64-d statistics but" in run.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


def test_the_old_inception_weights_key_of_evaluate_warns_once_and_still_works(capsys, tmp_path):
    from gan_lab.evaluate import apply_deprecated_weights_key

    cfg = _compose("evaluate", [f"folder={tmp_path}", "data=mnist5k", "metrics=inception", "inception_weights=/w.pth"])
    apply_deprecated_weights_key(cfg)
    apply_deprecated_weights_key(cfg)  # evaluate() may be called on the same config again: still one line
    assert cfg.metrics.inception_weights == "/w.pth" and cfg.metrics.scorer.inception_weights == "/w.pth"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gan-lab: warning: inception_weights= is deprecated: use metrics.inception_weights=FILE (the key training uses)"]
    both = _compose("evaluate", [f"folder={tmp_path}", "data=mnist5k", "metrics=inception", "inception_weights=/w.pth",
                                 "metrics.inception_weights=/v.pth"])
    with pytest.raises(ConfigError, match="disagree: give only metrics.inception_weights=FILE"):
        apply_deprecated_weights_key(both)


def test_reference_app_refuses_bad_options_before_loading_anything(tmp_path):
    from gan_lab.reference import check_options

    for overrides, message in (
        ([f"folder={tmp_path}"], "out= is required"),
        ([f"out={tmp_path}/s.npz"], "give exactly one of data=NAME or folder=DIR"),
        ([f"folder={tmp_path}", "data=mnist5k", f"out={tmp_path}/s.npz"], "give exactly one of data=NAME or folder=DIR"),
        ([f"folder={tmp_path}", f"out={tmp_path}/s.npz", "metrics=classifier"], "use metrics=inception"),
        (["data=mnist5k", f"out={tmp_path}/s.npz", "num_real=0"], "num_real=0: must be a positive integer"),
    ):
        with pytest.raises(ConfigError, match=message):
            check_options(_compose("reference", overrides))

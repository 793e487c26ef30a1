"""Metrics in real training runs, and the DDP reduction of the metric states (2 gloo processes)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gan_lab.errors import ConfigError
from gan_lab.metrics.statistics import SampleStatistics
from tests.conftest import SMALL_DCGAN, SMALL_MLP


@pytest.fixture
def metrics_cache(tmp_path_factory, monkeypatch):
    """The session-wide cache the unit tests use too (the classifier is trained once per session)."""
    path = tmp_path_factory.getbasetemp() / "gan_lab_cache"
    monkeypatch.setenv("GAN_LAB_CACHE", str(path))
    return path


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(40, 6, generator=g)
    probs = torch.softmax(torch.randn(40, 4, generator=g), 1)
    return feats, probs


def _rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    feats, probs = _data()
    stats = SampleStatistics(6, 4)
    stats.update(feats[rank::world], probs[rank::world])  # each rank its share
    result = stats.compute()  # torchmetrics all-reduces the sums
    if rank == 0:
        torch.save({k: v.clone() for k, v in result.items()}, out)
    dist.destroy_process_group()


def test_two_gloo_ranks_give_the_single_process_numbers(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "rank0.pt"
    mp.spawn(_rank, args=(2, port, str(out)), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    single = SampleStatistics(6, 4)
    single.update(*_data())
    for key, value in single.compute().items():
        torch.testing.assert_close(ddp[key], value, msg=key)


def test_training_writes_classifier_metrics_to_the_summary(cfg_factory, metrics_cache):
    from gan_lab.runner import run

    cfg = cfg_factory("metrics=classifier", "metrics.every_n_steps=2", "metrics.num_samples=200", *SMALL_DCGAN)
    summary = run(cfg)
    metrics = summary["metrics"]
    assert [h["step"] for h in metrics["metrics/history"]] == [2, 4]
    assert metrics["metrics/clf_fid200"] > 0 and 1.0 <= metrics["metrics/clf_is200"] <= 10.0
    assert metrics["metrics/protocol"]["num_samples"] == 200
    assert "digit classifier" in metrics["metrics/protocol"]["extractor"]
    run_dir = Path(cfg.run_dir)
    written = json.loads((run_dir / "summary.json").read_text())
    assert written["metrics"]["metrics/clf_fid200"] == metrics["metrics/clf_fid200"]
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "metrics/clf_fid200" in header  # sent to the logger too


def test_training_on_ring8_reports_mode_coverage(cfg_factory, metrics_cache):
    from gan_lab.runner import run

    cfg = cfg_factory("data=ring8", "model=gan_mlp", "metrics=classifier", "metrics.num_samples=400",
                      "metrics.every_n_steps=0", *SMALL_MLP)
    metrics = run(cfg)["metrics"]
    assert 0 <= metrics["metrics/modes_covered400"] <= 8
    assert 0.0 <= metrics["metrics/high_quality_fraction400"] <= 1.0


def test_unlabelled_data_fails_before_training_unless_skipped(cfg_factory):
    from gan_lab.runner import build_callbacks

    # data without labels (data.num_classes null, as conf/data/celeba.yaml and folder.yaml): no digit classifier
    unlabelled = ["metrics=classifier", "data.name=celeba", "data.num_classes=null"]
    cfg = cfg_factory(*unlabelled, "metrics.skip_unsupported=false")
    with pytest.raises(ConfigError, match="data=celeba has no labels"):
        build_callbacks(cfg)
    skipped = build_callbacks(cfg_factory(*unlabelled))
    assert any(getattr(cb, "disabled", False) for cb in skipped)  # the default config warns and trains


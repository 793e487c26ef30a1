"""Streaming datasets resume exactly too: a ``data=folder`` run of 10 steps equals one stopped at
its step-6 checkpoint (mid-epoch: 4 batches an epoch) and resumed, with and without workers."""
import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.data.loader import StreamLoader
from gan_lab.runner import build_run
from tests.conftest import SMALL_MLP, compose_cfg


def _train(tmp_path, name, overrides):
    run = build_run(compose_cfg(overrides, run_dir=tmp_path / name))
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=run.ckpt_path)
    return run


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """64 PNGs of 16 x 16 random pixels (a different image each: the order of the data shows)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(64):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


@pytest.mark.parametrize("num_workers", [0, 2])
def test_folder_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, image_folder, num_workers):
    common = ["data=folder", f"data.root={image_folder}", "data.image_size=16", "data.channels=3", "data.batch_size=16",
              f"data.num_workers={num_workers}", "model=gan_mlp", *SMALL_MLP,
              "checkpoint.every_n_steps=6", "trainer.max_steps=10", "trainer.log_every_n_steps=3"]
    full = _train(tmp_path, "full", common)
    ckpt = tmp_path / "full" / "checkpoints" / "step_0000006.ckpt"
    assert ckpt.is_file()
    loader_state = torch.load(ckpt, weights_only=True)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader_state == [{"epoch": 1, "batches_trained": 2, "seed": 0}]  # 6 = 4 + 2: mid-epoch
    resumed = _train(tmp_path, "resumed", [*common, f"ckpt_path={ckpt}"])

    assert resumed.trainer.global_step == full.trainer.global_step == 10
    expected, actual = full.module.state_dict(), resumed.module.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


class _Indices(torch.utils.data.Dataset):
    """Item i is tensor(i); the items read in this process are recorded."""

    def __init__(self, n):
        self.n, self.read = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.read.append(i)
        return torch.tensor(i)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_stream_loader_resumes_after_the_batches_trained_not_those_prefetched(num_workers):
    perm = [torch.randperm(12, generator=torch.Generator().manual_seed(epoch)) for epoch in range(3)]  # seed 0 + epoch
    loader = StreamLoader(_Indices(12), batch_size=3, seed=0, num_workers=num_workers, persistent_workers=True)
    assert len(loader) == 4
    assert torch.equal(torch.cat(list(loader)), perm[0])
    epoch1 = iter(loader)
    trained = [next(epoch1) for _ in range(2)]  # workers have read ahead (2 x num_workers batches)
    assert torch.equal(torch.cat(trained), perm[1][:6])
    state = loader.state_dict()
    assert state == {"epoch": 1, "batches_trained": 2, "seed": 0}

    dataset = _Indices(12)
    resumed = StreamLoader(dataset, batch_size=3, seed=0, num_workers=0)
    resumed.load_state_dict(state)
    assert torch.equal(torch.cat(list(resumed)), perm[1][6:])  # the rest of epoch 1 ...
    assert dataset.read == perm[1][6:].tolist()  # ... and the 6 trained examples were not read again
    assert torch.equal(torch.cat(list(resumed)), perm[2])  # then epoch 2


def test_stream_loader_shards_ranks_like_the_in_memory_loader():
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    for rank in range(2):
        loader = StreamLoader(_Indices(10), batch_size=2, seed=3, rank=rank, world_size=2)
        assert len(loader) == 2  # 5 examples per rank -> 2 full batches, drop_last
        assert torch.equal(torch.cat(list(loader)), perm[rank::2][:4])

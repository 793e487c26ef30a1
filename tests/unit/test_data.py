"""The embedded datasets, the resumable loader and the dataset errors."""
import numpy as np
import pytest
import torch

from gan_lab.data import InMemoryLoader
from gan_lab.data.embedded import Digits
from gan_lab.data.folder import ImageFolder
from gan_lab.data.torchvision_sets import TorchvisionImages
from gan_lab.data.datasets import load_digits, load_mnist5k
from tests.conftest import load_mixture, mixture_means
from gan_lab.errors import DataError


def test_mnist5k_is_the_balanced_4000_1000_split_in_unit_range():
    data = load_mnist5k(28)
    assert data.train_x.shape == (4000, 1, 28, 28) and data.val_x.shape == (1000, 1, 28, 28)
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1 and data.train_x.min() == -1
    assert torch.bincount(data.train_y).tolist() == [400] * 10
    assert torch.bincount(data.val_y).tolist() == [100] * 10


def test_mnist5k_resizes_to_32_and_digits_to_28():
    assert load_mnist5k(32).train_x.shape[1:] == (1, 32, 32)
    digits = load_digits(28)
    assert digits.train_x.shape[1:] == (1, 28, 28) and len(digits.train_x) + len(digits.val_x) == 1797


def test_mixtures_have_the_published_modes():
    ring = mixture_means("ring8")
    assert ring.shape == (8, 2) and torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = mixture_means("grid25")
    assert grid.shape == (25, 2) and sorted(set(grid[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    data = load_mixture("ring8", std=0.01, num_train=2000, num_val=100)
    nearest = torch.cdist(data.train_x, ring).min(dim=1).values
    assert nearest.max() < 0.06  # within 6 std of a mode


def test_loader_shards_ranks_disjointly_and_drops_last():
    x = torch.arange(10)
    seen = []
    for rank in range(2):
        loader = InMemoryLoader([x], batch_size=2, seed=3, rank=rank, world_size=2)
        assert len(loader) == 2  # 5 examples per rank -> 2 full batches
        seen.append(torch.cat(list(loader)))
    assert len(set(seen[0].tolist()) & set(seen[1].tolist())) == 0


def test_loader_state_resumes_mid_epoch_and_across_epochs():
    x = torch.arange(12)
    full = InMemoryLoader([x], batch_size=3, seed=0)
    stream = [b for _ in range(3) for b in full]  # 3 epochs of 4 batches
    assert not torch.equal(torch.cat(stream[:4]), torch.cat(stream[4:8]))  # a new order each epoch
    # an interrupted run: epoch 0 whole, then 2 batches of epoch 1 trained before the checkpoint
    first = InMemoryLoader([x], batch_size=3, seed=0)
    list(first)
    epoch1 = iter(first)
    for _ in range(2):
        next(epoch1)
    state = first.state_dict()
    assert state == {"epoch": 1, "batches_trained": 2, "seed": 0}
    resumed = InMemoryLoader([x], batch_size=3, seed=0)
    resumed.load_state_dict(state)
    rest = [b for _ in range(2) for b in resumed]  # the rest of epoch 1, then epoch 2
    assert len(rest) == 2 + 4
    assert all(torch.equal(a, b) for a, b in zip(stream[6:], rest))


def test_batch_larger_than_dataset_is_a_clear_error():
    dm = Digits(name="digits", image_size=28, channels=1, batch_size=5000)
    with pytest.raises(DataError, match=r"data.batch_size=5000 is larger than the \d+ training examples of data=digits: set data.batch_size="):
        dm.prepare()


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"data=mnist: no dataset found under data.root=.*Pass data.download=true"):
        TorchvisionImages("MNIST", root=str(tmp_path / "nowhere"), name="mnist", image_size=28, channels=1).prepare()


def test_folder_reports_bad_files_by_name(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((40, 30, 3), 60 * i, dtype=np.uint8)).save(tmp_path / f"ok_{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"2 file\(s\) cannot be used: broken.jpg \(.*corrupt image\); notes.txt \(not an image file\)"):
        ImageFolder(root=str(tmp_path), name="folder", image_size=16, channels=3).load()
    (tmp_path / "broken.jpg").unlink()
    (tmp_path / "notes.txt").unlink()
    data = ImageFolder(root=str(tmp_path), name="folder", image_size=16, channels=3).load()
    image = data.stream[1]
    assert image.shape == (3, 16, 16) and image.min() >= -1 and image.max() <= 1

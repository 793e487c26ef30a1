"""data=lsun, added as one Python file + one YAML: torchvision's LSUN on an LMDB database the test writes."""
import io
import sys

import numpy as np
import pytest

from gan_lab.errors import DataError
from gan_lab.runner import run
from tests.conftest import SMALL_DCGAN


def write_lsun(root, category="bedroom_train", n=40):
    """An LMDB folder in LSUN's layout (<category>_lmdb, keys -> encoded images), with n small images."""
    import lmdb
    from PIL import Image

    path = root / f"{category}_lmdb"
    path.mkdir(parents=True)
    env = lmdb.open(str(path), map_size=64 * 2**20)
    rng = np.random.default_rng(0)
    with env.begin(write=True) as txn:
        for i in range(n):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
            txn.put(f"{i:08d}".encode(), buffer.getvalue())
    env.close()
    return root


def test_lsun_trains_from_an_lmdb_folder(cfg_factory, tmp_path, monkeypatch):
    pytest.importorskip("lmdb")
    root = write_lsun(tmp_path / "lsun")
    monkeypatch.chdir(tmp_path)
    summary = run(cfg_factory("data=lsun", f"data.root={root}", "data.image_size=32", "data.num_workers=0",
                              "data.batch_size=8", *SMALL_DCGAN))
    assert summary["steps"] == 4 and summary["data"] == "lsun"
    assert not list(tmp_path.glob("_cache_*"))  # torchvision's key cache goes to gan-lab's cache folder


def test_lsun_says_which_folder_is_missing(cfg_factory, tmp_path):
    pytest.importorskip("lmdb")
    with pytest.raises(DataError, match=r"data=lsun: no church_outdoor_train_lmdb under data.root=.*download.py"):
        run(cfg_factory("data=lsun", f"data.root={tmp_path}", "data.classes=[church_outdoor_train]", "data.image_size=32", *SMALL_DCGAN))


def test_lsun_without_lmdb_names_the_extra(cfg_factory, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lmdb", None)  # as if the package were not installed
    with pytest.raises(DataError, match=r"data=lsun reads LMDB files and needs the lmdb package: pip install 'gan-lab\[lsun\]'"):
        run(cfg_factory("data=lsun", f"data.root={tmp_path}", "data.image_size=32", *SMALL_DCGAN))

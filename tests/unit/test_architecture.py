"""The package's structure, enforced: layered imports, no config-name dispatch, light CLIs."""
import subprocess
import sys

from tests.conftest import ROOT


def test_imports_follow_the_layers_contract():
    result = subprocess.run(["lint-imports", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_no_config_name_dispatch_in_the_package():
    """Configs map to objects through _target_ and class attributes, never `if cfg.x.name == ...`."""
    result = subprocess.run(["git", "grep", "-n", r"task ==\|\.name ==", "--", "gan_lab"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == "", result.stdout  # 1: no match


def _modules_after(code_args: list[str]) -> tuple[set[str], str]:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = {code_args!r}\n"
        "try:\n    runpy.run_module(sys.argv[0], run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('LOADED:', *sorted(m for m in ('torch', 'lightning', 'wandb', 'torch_fidelity') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    loaded = next(line for line in result.stdout.splitlines() if line.startswith("LOADED:"))
    return set(loaded.split()[1:]), result.stderr


def test_sample_and_evaluate_usage_errors_import_neither_torch_nor_lightning(tmp_path):
    for module, args in (("gan_lab.sample", []), ("gan_lab.evaluate", []), ("gan_lab.sample", ["n=0", "ckpt_path=x"])):
        loaded, stderr = _modules_after([module, f"hydra.run.dir={tmp_path}/{module}", *args])
        assert loaded == set(), (module, loaded)
        assert "gan-lab: error:" in stderr and "Traceback" not in stderr
    loaded, _ = _modules_after(["gan_lab.sample", "--help"])
    assert loaded == set()

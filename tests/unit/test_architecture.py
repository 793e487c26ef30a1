"""The package's structure, enforced: layered imports, no config-name dispatch, light CLIs."""
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_imports_follow_the_layers_contract():
    result = subprocess.run(["lint-imports", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


#: the option names of the config groups (conf/GROUP/NAME.yaml), e.g. ring8, dcgan_sn, semi_supervised
OPTIONS = "|".join(sorted({p.stem for p in (ROOT / "conf").glob("*/*.yaml")} - {"default", "none"}))
#: a comparison (==, !=, in, not in) with a config option's name, or of a name / dataset / task with a constant
NAME_COMPARISON = re.compile(
    rf"(==|!=)\s*[\"']({OPTIONS})[\"']"  # x == "ring8"
    rf"|(?<!for )\b(in|not in)\s*[(\[{{][^)\]}}]*[\"']({OPTIONS})[\"']"  # x in ("celeba", "folder")
    r"|(?<!for )\b(name|dataset|task)\s*(==|!=|\bin\b|\bnot in\b)\s*[A-Z_]{3,}\b"  # dataset in NO_LABELS
)


def test_no_config_name_dispatch_in_the_package():
    """Configs map to objects through _target_ and class attributes, never `if cfg.x.name == ...`, a name in a
    tuple of names, or a comparison with a config option's name."""
    hits = []
    for path in (ROOT / "gan_lab").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if NAME_COMPARISON.search(code):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_name_dispatch_check_catches_what_it_should():
    for line in ('if name == "ring8":', "if dataset in NO_LABELS:", 'if task != "unconditional":', 'x = y in ("celeba", "folder")',
                 'if kind == "dcgan_sn":'):
        assert NAME_COMPARISON.search(line), line
    for line in ('if data.kind == "points":', 'if trick.name in state.get("tricks", {}):', 'for name in NAMES:',
                 'for name in ("lightning", "lightning.fabric"):', 'if p.name != "self"', 'if name == "head":'):
        assert not NAME_COMPARISON.search(line), line


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

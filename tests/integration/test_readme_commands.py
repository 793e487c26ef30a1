"""Every `python train.py ...` / `python -m gan_lab.* ...` command in the ```bash blocks of README.md and
docs/*.md runs, for two steps, so the docs cannot drift from the code (placeholders are filled from runs this test makes;
commands that need a GPU, SLURM, the network or a dataset that is not on the machine are listed
below with the reason and skipped)."""
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SKIPPED = {  # a substring of the command -> why it cannot run here
    "trainer=ddp ": "needs GPUs (NCCL)",
    "hydra/launcher=slurm": "needs a SLURM cluster",
    "gan_lab.prefetch": "downloads the Inception weights (no network in CI)",
    "data=cifar10": "CIFAR-10 is not on this machine (data.download=true needs the network)",
}
SHORT = ["trainer.max_steps=2", "logger=csv", "trainer.enable_progress_bar=false", "samples.every_n_steps=0", "checkpoint.every_n_steps=0"]


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    """The commands of README.md and docs/*.md, each once, in the order they first appear."""
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = re.split(r"\s+#\s", part.strip())[0].strip()
                if part.startswith(("python train.py", "python -m gan_lab.")):
                    commands.append(" ".join(part.split()))
    return list(dict.fromkeys(commands))


COMMANDS = readme_commands()


def test_readme_has_the_commands_this_test_runs():
    readme = (ROOT / "README.md").read_text()
    assert "python -m venv .venv && . .venv/bin/activate && pip install -e . && python train.py" in readme
    assert "python train.py" in COMMANDS and any(c.startswith("python -m gan_lab.sample") for c in COMMANDS)
    assert len(COMMANDS) >= 15


def run(args: list[str], cwd, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, inception_weights, gan_lab_cache):
    """Runs and folders the README's placeholders point at: outputs/<date>/<time>, runA, runB, my_samples, a, b."""
    root = tmp_path_factory.mktemp("readme")
    runs = {"<run>": root / "outputs" / "2026-01-01" / "00-00-00", "runA": root / "runA", "runB": root / "runB"}
    for folder in runs.values():
        made = run([str(ROOT / "train.py"), *SHORT, "checkpoint.every_n_steps=2", "metrics=none", "model.generator.width=8",
                    "model.discriminator.width=8", f"hydra.run.dir={folder}"], root)
        assert made.returncode == 0, made.stderr[-2000:]
    # what `member=` and `class=` sample from: a 5-seed ensemble (the README's ring8 command) and a conditional run
    runs["<ensemble>"], runs["<conditional>"] = root / "ensemble", root / "conditional"
    for folder, setting in ((runs["<ensemble>"], ["data=ring8", "model=gan_mlp", "ensemble.seeds=5"]),
                            (runs["<conditional>"], ["task=conditional", "model.generator.width=8", "model.discriminator.width=8"])):
        made = run([str(ROOT / "train.py"), *setting, *SHORT, "checkpoint.every_n_steps=2", "metrics=none",
                    f"hydra.run.dir={folder}"], root)
        assert made.returncode == 0, made.stderr[-2000:]
    made = run(["-m", "gan_lab.sample", f"ckpt_path={runs['<run>']}/checkpoints/last.ckpt", "n=12", "individual=true",
                f"out={root / 'my_samples'}", f"hydra.run.dir={root / 'jobs' / 'prep'}"], root)
    assert made.returncode == 0, made.stderr[-2000:]
    (root / "my_samples" / "grid.png").unlink()
    import torch
    from torchvision.utils import save_image

    for name in ("a", "b"):
        (root / name).mkdir()
        for i in range(10):
            save_image(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i + 100 * (name == "b"))), root / name / f"{i}.png")
    # the torch hub cache where torch-fidelity looks for its weights, holding the test's weights file
    hub = root / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "weights-inception-2015-12-05-6726825d.pth").symlink_to(inception_weights)
    return root, runs, inception_weights


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, workspace):
    reason = next((why for key, why in SKIPPED.items() if key in command + " "), None)
    if reason:
        pytest.skip(reason)
    root, runs, weights = workspace
    sampled = "<ensemble>" if " member=" in command else "<conditional>" if " class=" in command else "<run>"
    command = command.replace("outputs/<date>/<time>", str(runs[sampled]))
    command = command.replace("runA/", f"{runs['runA']}/").replace("runB/", f"{runs['runB']}/")
    command = command.replace("inception_weights=FILE", f"inception_weights={weights}")
    command = re.sub(r"metrics.inception_weights=\S+", f"metrics.inception_weights={weights}", command)
    args = shlex.split(command)[1:]  # without "python"
    job = root / "jobs" / str(abs(hash(command)))
    multirun = "-m" in args[:3] or "search=optuna" in command  # the Optuna preset sets hydra.mode=MULTIRUN
    where = [f"hydra.sweep.dir={job}"] if multirun else [f"hydra.run.dir={job}"]
    if args[0] == "train.py":
        args[0] = str(ROOT / "train.py")
        dcgan = "model=dcgan" in command or not re.search(r"model=|experiment=", command)
        extra = [*SHORT, "model.generator.width=8", "model.discriminator.width=8"] if dcgan else list(SHORT)
        if "search=optuna" in command:  # two trials, scored on 200 samples (the metric's name carries the count)
            extra += ["hydra.sweeper.n_trials=2", "metrics.num_samples=200", "metrics.memorization_samples=0",
                      "optimized_metric=metrics/clf_fid200"]
        elif "metrics=inception" in command:  # Inception on a CPU: a handful of images, the test's weights file
            extra += ["metrics.num_samples=10", "metrics.num_real=10", "metrics.memorization_samples=0"]
        elif "metrics." in command:
            extra += ["metrics.num_samples=200", "metrics.memorization_samples=0"]
        else:
            extra += ["metrics=none"]
        if "stacked_mnist" in command:  # 2,000 stacks, not the 128,000 of the protocol: building them is not under test here
            extra += ["data.num_train=2000"]
        args = args + extra
    elif "gan_lab.evaluate" in command and "metrics=inception" in command:
        args = args + ["num_real=10", "num_samples=10"]
    result = run([*args, *where], root, env={"TORCH_HOME": str(root / "torch")})
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr

"""The Stacked-MNIST table runs gan-lab's own training: benchmarks/stacked_mnist.py starts one train.py run per row
(its seeds as one ensemble), reads each run's summary.json and writes a result file that docs/results.md renders
beside PacGAN's Table 2."""
import json
import subprocess
import sys

from benchmarks import report, stacked_mnist
from tests.conftest import ROOT


def test_the_table_is_train_py_runs_read_from_their_summaries(tmp_path):
    out = tmp_path / "table.json"
    done = subprocess.run([sys.executable, "benchmarks/stacked_mnist.py", "--rows", "DCGAN", "PacGAN2", "--steps", "4", "--seeds", "2",
                           "--samples", "1000", "--jobs", "2", "--set", "data.num_train=2000", "data.num_val=1000", "model.generator.width=8",
                           "model.discriminator.width=8", "--runs", str(tmp_path / "runs"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(out.read_text())["figures"]
    assert list(figures["runs"]) == ["DCGAN", "PacGAN2"] and (figures["jobs"], figures["threads"]) == (2, 1)  # rows' order, not finish order
    for name in ("DCGAN", "PacGAN2"):
        run = figures["runs"][name]
        summary = json.loads((tmp_path / "runs" / stacked_mnist.slug(name) / "summary.json").read_text())
        assert summary["steps"] == 4 and summary["seeds"] == [0, 1] and summary["data"] == "stacked_mnist"
        assert [(r["seed"], r["modes_covered"], r["kl"]) for r in run["results"]] == [
            (m["seed"], m["metrics"]["metrics/stacked_modes_covered1k"], m["metrics"]["metrics/stacked_kl1k"]) for m in summary["members"]]
        assert run["held_out_real"]["images"] == 1000
    assert "experiment=stacked_mnist_cpu trick=packing" in figures["runs"]["PacGAN2"]["command"]
    rendered = report.render_stacked_mnist([str(out)])
    assert "| DCGAN (`data.num_train=2000 data.num_val=1000 model.generator.width=8 model.discriminator.width=8`) |" in rendered
    assert rendered.count("| PacDCGAN2 (PacGAN (Lin") == 1 and "| PacDCGAN2 (PacGAN (Lin et al. 2018) Table 2" in rendered
    assert "Held-out real stacks (1,000, scored the same way)" in rendered


def test_every_row_composes_with_the_cpu_protocol():
    from tests.conftest import compose_cfg

    assert set(stacked_mnist.COST) == set(stacked_mnist.ROWS)  # --jobs starts the costliest first

    for name, row in stacked_mnist.ROWS.items():
        cfg = compose_cfg(["experiment=stacked_mnist_cpu", *row], fast=False)
        assert cfg.data.name == "stacked_mnist" and cfg.metrics.num_samples == 26000 and cfg.ensemble.seeds == 3, name
    assert compose_cfg(["experiment=stacked_mnist_paper"], fast=False).trainer.max_steps == 100000  # 50 epochs of 128,000 / 64

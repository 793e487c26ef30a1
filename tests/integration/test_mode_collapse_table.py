"""The mode-collapse table runs gan-lab's own training: benchmarks/mode_collapse.py starts one train.py run per
(row, dataset) cell, reads each run's summary.json and writes a result file that docs/results.md renders."""
import json
import subprocess
import sys

from benchmarks import mode_collapse, report
from tests.conftest import ROOT


def test_the_table_is_train_py_runs_read_from_their_summaries(tmp_path):
    out = tmp_path / "table.json"
    done = subprocess.run([sys.executable, "benchmarks/mode_collapse.py", "--rows", "GAN", "all five", "--data", "ring8",
                           "--steps", "40", "--seeds", "2", "--jobs", "2", "--runs", str(tmp_path / "runs"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(out.read_text())
    figures = data["figures"]
    assert data["command"].startswith("python benchmarks/mode_collapse.py --rows GAN")
    for name in ("GAN", "all five"):
        run = figures["runs"][name]
        summary = json.loads((tmp_path / "runs" / mode_collapse.slug(name) / "ring8" / "summary.json").read_text())
        assert summary["steps"] == 40 and summary["seeds"] == [0, 1] and summary["data"] == "ring8"
        # every seed of the cell is a member of the run's ensemble, its final metrics as the summary has them
        assert [(r["seed"], r["modes_covered"]) for r in run["results"]] == [
            (m["seed"], m["metrics"]["metrics/modes_covered2500"]) for m in summary["members"]]
        assert all(0 <= r["high_quality_fraction"] <= 1 and 0 <= r["modes_covered"] <= 8 for r in run["results"])
    assert "experiment=mode_collapse_cpu" in figures["runs"]["all five"]["commands"]["ring8"]
    assert "trick=[feature_matching,minibatch_discrimination" in figures["runs"]["all five"]["commands"]["ring8"]
    rendered = report.render_mode_collapse([str(out)])
    assert "| GAN |" in rendered and "| all five |" in rendered and "2 cell(s) at a time x 1 thread(s)" in rendered


def test_an_unknown_row_is_refused_before_anything_runs(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/mode_collapse.py", "--rows", "WGAN", "--runs", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown row(s) ['WGAN']" in done.stderr and not any(tmp_path.iterdir())

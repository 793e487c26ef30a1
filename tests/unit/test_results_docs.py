"""Results you can regenerate: the docs' tables are rendered from result files, and the benchmarks that
write those files run from a plain install (no pytest, nothing of tests/)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import record, report
from tests.conftest import ROOT

#: the benchmark scripts (modules with a command line), report.py included
BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def test_every_table_in_readme_and_docs_is_what_its_result_files_render():
    stale = {path.name: report.stale_blocks(path) for path in report.documents()}
    assert not any(stale.values()), f"tables typed or edited by hand, or files changed: {stale}; run python -m benchmarks.report"
    assert sum(len(report.BLOCK.findall(p.read_text())) for p in report.documents()) >= 5


def test_a_figure_edited_by_hand_is_caught(tmp_path):
    text = (ROOT / "docs" / "results.md").read_text()
    match = next(report.BLOCK.finditer(text))
    body = match.group("body")
    changed = body.replace("|", "| 1", 1) if "|" in body else body + "x"
    assert report.render_document(text.replace(body, changed)) == text  # rendering restores it
    (tmp_path / "doc.md").write_text(text.replace(body, changed))
    assert report.stale_blocks(tmp_path / "doc.md") == [match.group("spec")]


def test_mean_and_standard_error_as_pacgan_tables_give_them():
    # GAN on ring8, seeds 0-4 of mode_collapse_cpu_2026-11-27_improved.json: 7, 8, 6, 8, 8 modes:
    # mean 7.4, s.d. sqrt(3.2 / 4) = 0.894, s.e. 0.894 / sqrt(5) = 0.4
    assert report.mean_se([7, 8, 6, 8, 8]) == "7.4 ± 0.4"
    assert report.mean_se([5.0]) == "5.0 ± 0.0"


def test_a_result_file_records_command_commit_date_machine_and_the_days_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "throughput.py"), "--rounds", "3"])
    reference = {"plain_loop_img_s": 1000.0, "file": "(this file)", "measured_at": "(this run)"}
    written = record.write_result("throughput", {"reference_setting": True, "plain_img_s": 1000.0}, tag="dcgan_b64_mnist5k_cpu",
                                  reference=reference, results=tmp_path)
    data = json.loads(written.read_text())
    assert data["command"] == "python benchmarks/throughput.py --rounds 3"
    assert data["commit"] is None or len(data["commit"].removesuffix("+dirty")) == 40
    assert data["date"][:4].isdigit() and written.name == f"throughput_{data['date'][:10]}_dcgan_b64_mnist5k_cpu.json"
    assert {"host", "cpu", "cores", "torch_threads", "device", "torch", "lightning", "python"} <= set(data["machine"])
    # another benchmark of the same day on the same CPU finds that reference
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "cli_startup.py")])
    other = json.loads(record.write_result("cli_startup", {"rows": []}, results=tmp_path).read_text())
    assert other["reference"] == {"plain_loop_img_s": 1000.0, "file": str(written), "measured_at": data["date"]}
    # a second run of the day does not overwrite the first file
    again = record.write_result("throughput", {"reference_setting": True, "plain_img_s": 900.0}, tag="dcgan_b64_mnist5k_cpu",
                                reference=reference, results=tmp_path)
    assert again != written and json.loads(written.read_text())["figures"]["plain_img_s"] == 1000.0
    assert again.name.startswith(written.stem + "_")
    # on another day (or another CPU) there is none
    assert record.find_reference("1999-01-01", data["machine"]["cpu"], tmp_path) is None
    assert record.find_reference(data["date"][:10], "another CPU", tmp_path) is None


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_help_runs_from_a_plain_install(script, tmp_path):
    """``pip install -e .`` (no dev extra): pytest and the tests package are not importable."""
    blocked = ("import sys, runpy; sys.modules['pytest'] = None; sys.modules['tests'] = None; "
               f"sys.argv = [{str(script)!r}, '--help']; runpy.run_path({str(script)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout

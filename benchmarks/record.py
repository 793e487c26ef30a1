"""Result files: what a benchmark measured, and what a reader needs to trust and compare it.

Every benchmark writes one JSON file under ``benchmarks/results/`` (or ``--out``) through
:func:`write_result`. The file holds the figures and:

- ``command``: the command line that measured them, as typed from the repository root;
- ``commit``: the checkout's commit (``+dirty`` when tracked files were modified);
- ``date``: local time, to the second;
- ``machine``: host, CPU model, cores, torch threads, the device, the torch / Lightning / Python versions;
- ``reference``: the machine's speed that day: the plain PyTorch loop's images/s of
  ``benchmarks/throughput.py`` in its reference setting (DCGAN, batch 64, CPU), read from the newest
  throughput result file of the same date and CPU (a throughput run in that setting is its own
  reference). Wall-clock figures differ ~2.5x between machines; this number makes them comparable.

``docs/results.md`` renders its tables from these files (``python -m benchmarks.report``); no figure
there is typed by hand.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def command_line() -> str:
    """The command that is running, as typed from the repository root (``python benchmarks/x.py ...``)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = script.relative_to(ROOT).as_posix()
    except ValueError:
        script_text = str(script)
    if script_text.endswith("__main__.py") or not script_text.endswith(".py"):
        script_text = sys.argv[0]
    return shlex.join(["python", script_text, *sys.argv[1:]])


def commit() -> str | None:
    """HEAD of the checkout, ``+dirty`` when tracked files differ from it; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str = "cpu") -> dict[str, Any]:
    import torch

    try:
        import lightning

        lightning_version = lightning.__version__
    except ImportError:  # pragma: no cover - a dependency of gan-lab
        lightning_version = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "lightning": lightning_version,
        "python": platform.python_version(),
    }


def find_reference(date: str, cpu: str, results: Path = RESULTS) -> dict[str, Any] | None:
    """The plain loop's images/s of the newest reference throughput file of ``date`` on ``cpu``."""
    candidates = []
    for path in results.glob("throughput_*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        figures = data.get("figures", {})
        if figures.get("reference_setting") and data.get("date", "").startswith(date) and data.get("machine", {}).get("cpu") == cpu:
            candidates.append((data["date"], path, figures["plain_img_s"]))
    if not candidates:
        return None
    when, path, img_s = max(candidates)
    return {"plain_loop_img_s": img_s, "file": _relative(path), "measured_at": when}


def write_result(benchmark: str, figures: dict[str, Any], out: Path | None = None, tag: str | None = None,
                 device: str = "cpu", reference: dict[str, Any] | None = None, results: Path = RESULTS) -> Path:
    """Write ``figures`` with the command, commit, date, machine and the day's reference; return the path.

    ``reference`` is given by the throughput benchmark in its reference setting (it measures it);
    every other benchmark finds it (None, and a warning, when no reference was measured that day).
    """
    now = _dt.datetime.now().isoformat(timespec="seconds")
    host = machine(device)
    if reference is None:
        reference = find_reference(now[:10], host["cpu"], results)
        if reference is None:
            print(f"warning: no reference throughput measured today on this CPU: run `python benchmarks/throughput.py` "
                  f"so that {benchmark}'s times can be compared across machines", file=sys.stderr)
    payload = {"benchmark": benchmark, "command": command_line(), "commit": commit(), "date": now,
               "machine": host, "reference": reference, "figures": figures}
    if out is None:  # never over an earlier file: a second run of the day gets the time in its name
        out = results / f"{benchmark}_{now[:10]}{'_' + tag if tag else ''}.json"
        if out.exists():
            out = out.with_name(f"{out.stem}_{now[11:19].replace(':', '')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(out)
    print(f"result file: {_relative(out)}")
    return out


def _relative(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)

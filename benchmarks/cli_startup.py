"""Time to a usage error of ``python -m gan_lab.sample`` / ``gan_lab.evaluate`` against ``import torch``.

    python benchmarks/cli_startup.py            # median of 5 runs of each command

The CLIs check their options before importing torch, Lightning, W&B or torch-fidelity, so a typo
answers in about the time Hydra takes to compose the config. Goal: <= 1.5x ``python -c "import torch"``.
Writes ``benchmarks/results/cli_startup_<date>.json`` (``--out``).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, cwd=cwd, capture_output=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="the result file (default benchmarks/results/cli_startup_<date>.json)")
    args = parser.parse_args()
    torch_s = median_seconds([sys.executable, "-c", "import torch"], args.runs)
    rows = [("python -c 'import torch'", torch_s)]
    for module in ("gan_lab.sample", "gan_lab.evaluate"):
        rows.append((f"python -m {module}  (usage error: no ckpt_path)", median_seconds([sys.executable, "-m", module], args.runs)))
    rows.append(("python -m gan_lab.sample --help", median_seconds([sys.executable, "-m", "gan_lab.sample", "--help"], args.runs)))
    for name, seconds in rows:
        print(f"{name:55s} {seconds:6.2f} s  ({seconds / torch_s:.2f}x import torch)")
    write_result("cli_startup", {"runs": args.runs, "goal_ratio": 1.5,
                                 "rows": [{"command": name, "median_s": seconds, "ratio_to_import_torch": seconds / torch_s}
                                          for name, seconds in rows]}, out=args.out)


if __name__ == "__main__":
    main()

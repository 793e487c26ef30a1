"""A Hydra callback that sums up a multirun: one row per job, as CSV, and a comparison plot.

After ``python train.py -m ...`` the sweep folder holds ``sweep_summary.csv`` (job number, the
job's overrides, steps, final losses, images/s and every metric of its summary.json) and
``sweep_summary.png`` (the final value of ``plot_metric`` per job), so an ablation can be read
without opening W&B. Jobs that failed have no summary.json and are listed with status "failed".
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = " ".join(OmegaConf.load(overrides_file)) if overrides_file.exists() else ""
        row: dict[str, Any] = {"job": int(job.name), "overrides": overrides}
        summary_file = job / "summary.json"
        if summary_file.exists():
            summary = json.loads(summary_file.read_text())
            row.update(status="done", steps=summary.get("steps"), images_per_sec=summary.get("images_per_sec"))
            row.update(summary.get("final", {}))
            row.update(summary.get("metrics", {}))
        else:
            row["status"] = "failed"
        rows.append(row)
    # what tells the jobs apart: the overrides that are not the same in every job
    shared = set.intersection(*(set(r["overrides"].split()) for r in rows)) if rows else set()
    for row in rows:
        row["varying"] = " ".join(o for o in row["overrides"].split() if o not in shared)
    return rows


def write(rows: list[dict[str, Any]], sweep_dir: Path, plot_metric: str) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(sweep_dir / "sweep_summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    points = [(row["varying"] or str(row["job"]), row[plot_metric]) for row in rows if isinstance(row.get(plot_metric), (int, float))]
    if not points:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(points) + 1.2), dpi=100)
    labels, values = zip(*points)
    ax.barh(range(len(points)), values, color="tab:blue")
    ax.set_yticks(range(len(points)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(plot_metric)
    fig.tight_layout()
    fig.savefig(sweep_dir / "sweep_summary.png")
    plt.close(fig)


class SweepSummary(Callback):
    def __init__(self, plot_metric: str = "train/g_loss") -> None:
        self.plot_metric = plot_metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            write(collect(sweep_dir), sweep_dir, self.plot_metric)

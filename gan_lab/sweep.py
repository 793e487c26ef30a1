"""A Hydra callback that sums up a multirun: per job, per setting (seeds aggregated), as CSV,
markdown and plots.

After ``python train.py -m ...`` the sweep folder holds:

* ``sweep_summary.csv``: one row per job (job number, status, the overrides that vary, steps,
  images/s, final losses, every metric of its summary.json, and the error of a failed job);
* ``sweep_settings.csv``: one row per *setting* (the varying overrides without ``seed=``): the
  number of seeds done / failed and every final metric as mean and standard deviation over seeds;
* ``sweep_summary.md``: the settings table (mean ± std), the failures with their reasons, the last
  sample grid of each job and the metric curves, readable without W&B;
* ``sweep_summary.png``: the plot metric per setting (mean ± std over seeds; by default the FID,
  ``plot_metric: auto``), and ``sweep_curves.png``: that metric over training iterations.

Failed jobs (``gan_lab.cli`` records ``error.txt`` in their folder and lets the sweep go on) are
listed with their reason; the multirun then exits with status 1, after the summary is written.

A ``search=optuna`` whose every trial failed never reaches ``on_multirun_end``: Optuna's sweeper
asks for the best trial and raises (``ValueError: No trials are completed yet.``), which Hydra would
print as a traceback. ``gan_lab.cli`` catches that error (:func:`no_trial_completed`) and calls
:func:`end_of_failed_search`: the same summary, then one line saying why and what to do.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gan_lab.errors import GanLabError

log = logging.getLogger("gan_lab")


class SearchFailed(GanLabError):
    """A search (``search=optuna``) in which no trial completed, so there is no best one."""


def _jobs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder of the sweep."""
    rows = []
    for job in _jobs(sweep_dir):
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = " ".join(OmegaConf.load(overrides_file)) if overrides_file.exists() else ""
        row: dict[str, Any] = {"job": int(job.name), "overrides": overrides}
        summary_file, error_file = job / "summary.json", job / "error.txt"
        # a job can fail after its run wrote summary.json (optimized_metric names no value of it): error.txt is newer
        failed_late = error_file.exists() and summary_file.exists() and error_file.stat().st_mtime >= summary_file.stat().st_mtime
        if summary_file.exists() and not failed_late:
            summary = json.loads(summary_file.read_text())
            row.update(status="done", steps=summary.get("steps"), images_per_sec=summary.get("images_per_sec"),
                       wall_seconds=summary.get("wall_seconds"))
            row.update(summary.get("final", {}))
            row.update({k: v for k, v in summary.get("metrics", {}).items() if isinstance(v, (int, float))})
            row["_history"] = summary.get("metrics", {}).get("metrics/history", [])
        else:
            row["status"] = "failed"
            row["error"] = error_file.read_text().split("\n", 1)[0] if error_file.exists() else "no summary.json (killed?)"
        grids = sorted((job / "samples").glob("step_*.png")) if (job / "samples").is_dir() else []
        row["_grid"] = grids[-1] if grids else None
        rows.append(row)
    # what tells the jobs apart: the overrides that are not the same in every job
    shared = set.intersection(*(set(r["overrides"].split()) for r in rows)) if rows else set()
    for row in rows:
        row["varying"] = " ".join(o for o in row["overrides"].split() if o not in shared)
        row["setting"] = " ".join(o for o in row["varying"].split() if not o.startswith("seed=")) or "(all)"
    return rows


def _numeric_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys = dict.fromkeys(k for r in rows for k, v in r.items()
                         if not k.startswith("_") and k != "job" and isinstance(v, (int, float)) and not isinstance(v, bool))
    return list(keys)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting: seeds done and failed, and mean / std over the done seeds of every number."""
    keys = _numeric_keys(rows)
    settings: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        settings.setdefault(row["setting"], []).append(row)
    out = []
    for setting, members in settings.items():
        done = [r for r in members if r["status"] == "done"]
        agg: dict[str, Any] = {"setting": setting, "seeds_done": len(done), "seeds_failed": len(members) - len(done),
                               "jobs": " ".join(str(r["job"]) for r in members)}
        for key in keys:
            values = [float(r[key]) for r in done if isinstance(r.get(key), (int, float))]
            if values:
                agg[f"{key}_mean"], agg[f"{key}_std"] = mean_std(values)
        out.append(agg)
    return out


def pick_plot_metric(rows: list[dict[str, Any]], plot_metric: str) -> str | None:
    """``auto``: the first FID-like metric of the sweep, else its first metric with a known goal."""
    keys = _numeric_keys(rows)
    if plot_metric != "auto":
        return plot_metric if plot_metric in keys else None
    from gan_lab.metrics.goals import goal, is_fid

    for candidates in ([k for k in keys if is_fid(k)],
                       [k for k in keys if k.startswith("metrics/") and goal(k)]):
        if candidates:
            return candidates[0]
    return None


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row if not k.startswith("_")))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if not k.startswith("_")} for row in rows)


def _fmt(mean: float, std: float, n: int) -> str:
    return f"{mean:.4g} ± {std:.2g}" if n > 1 else f"{mean:.4g}"


def write(rows: list[dict[str, Any]], sweep_dir: Path, plot_metric: str = "auto") -> dict[str, Any]:
    """Write the CSVs, the plots and the markdown report; return what was written."""
    settings = aggregate(rows)
    _write_csv(sweep_dir / "sweep_summary.csv", rows)
    _write_csv(sweep_dir / "sweep_settings.csv", settings)
    metric = pick_plot_metric(rows, plot_metric)
    plots = _plots(rows, settings, metric, sweep_dir) if metric else []
    _markdown(rows, settings, metric, plots, sweep_dir)
    return {"settings": settings, "metric": metric, "plots": plots}


def _plots(rows: list[dict[str, Any]], settings: list[dict[str, Any]], metric: str, sweep_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    bars = [(s["setting"], s[f"{metric}_mean"], s[f"{metric}_std"]) for s in settings if f"{metric}_mean" in s]
    if bars:
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(bars) + 1.2), dpi=100)
        labels, means, stds = zip(*bars)
        ax.barh(range(len(bars)), means, xerr=stds, color="tab:blue", capsize=3)
        ax.set_yticks(range(len(bars)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (final; mean ± std over seeds)")
        fig.tight_layout()
        fig.savefig(sweep_dir / "sweep_summary.png")
        plt.close(fig)
        written.append("sweep_summary.png")
    curves = [(r["varying"] or str(r["job"]), [(h["step"], h[metric]) for h in r.get("_history", []) if metric in h])
              for r in rows if r["status"] == "done"]
    curves = [(label, points) for label, points in curves if points]
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for label, points in curves:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("training iteration")
        ax.set_ylabel(metric)
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(sweep_dir / "sweep_curves.png")
        plt.close(fig)
        written.append("sweep_curves.png")
    return written


def _markdown(rows, settings, metric, plots, sweep_dir: Path) -> None:
    keys = [k for k in _numeric_keys(rows) if k.startswith(("metrics/", "train/")) or k in ("images_per_sec", "wall_seconds")]
    keys = sorted(keys, key=lambda k: (k != metric, not k.startswith("metrics/"), k))[:8]
    lines = [f"# Sweep {sweep_dir}", "", f"{len(rows)} jobs, {sum(r['status'] == 'done' for r in rows)} done, "
             f"{sum(r['status'] == 'failed' for r in rows)} failed; values are final (mean ± std over seeds).", "",
             "| setting | seeds |" + "".join(f" {k} |" for k in keys), "|---|---|" + "---|" * len(keys)]
    for s in settings:
        cells = [_fmt(s[f"{k}_mean"], s[f"{k}_std"], s["seeds_done"]) if f"{k}_mean" in s else "–" for k in keys]
        seeds = f"{s['seeds_done']}" + (f" (+{s['seeds_failed']} failed)" if s["seeds_failed"] else "")
        lines.append(f"| `{s['setting']}` | {seeds} |" + "".join(f" {c} |" for c in cells))
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        lines += ["", "## Failed jobs", ""] + [f"- job {r['job']} (`{r['varying']}`): {r['error']}" for r in failed]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    grids = [r for r in rows if r.get("_grid")]
    if grids:
        lines += ["", "## Last sample grid of each job", ""]
        for r in grids:
            lines += [f"job {r['job']} `{r['varying']}`", "", f"![job {r['job']}]({os.path.relpath(r['_grid'], sweep_dir)})", ""]
    (sweep_dir / "sweep_summary.md").write_text("\n".join(lines) + "\n")


class SweepSummary(Callback):
    def __init__(self, plot_metric: str = "auto", fail_on_error: bool = True) -> None:
        self.plot_metric = plot_metric
        self.fail_on_error = fail_on_error

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _started
        _started = (self, config)  # for end_of_failed_search, when the sweeper raises before on_multirun_end

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = self.summarize(sweep_dir)
        failed = [r for r in rows if r["status"] == "failed"]
        if failed and self.fail_on_error:
            _exit_with_error(f"{len(failed)} of {len(rows)} jobs failed (jobs {', '.join(str(r['job']) for r in failed)}): "
                             f"see {sweep_dir / 'sweep_summary.md'}")

    def summarize(self, sweep_dir: Path) -> list[dict[str, Any]]:
        """Write the summary files of ``sweep_dir``; return its rows."""
        rows = collect(sweep_dir)
        write(rows, sweep_dir, self.plot_metric)
        failed = [r for r in rows if r["status"] == "failed"]
        log.info("sweep summary: %s (%d jobs, %d failed)", sweep_dir / "sweep_summary.md", len(rows), len(failed))
        return rows


_started: tuple[SweepSummary, DictConfig] | None = None  # the multirun of this process, once it has started


def _exit_with_error(message: str) -> NoReturn:
    """One line and exit status 1: a ``SystemExit`` passes through Hydra's error report, which would
    print any other exception raised in a callback as a traceback."""
    import sys

    print(f"gan-lab: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def no_trial_completed(err: BaseException) -> bool:
    """Is ``err`` the Optuna sweeper asking for the best trial of a study none of whose trials completed?"""
    if not (isinstance(err, ValueError) and "No trials are completed yet" in str(err)):
        return False
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("hydra_plugins.hydra_optuna_sweeper"):
            return True
        tb = tb.tb_next
    return False


def end_of_failed_search(err: BaseException) -> NoReturn:
    """The end of a search in which every trial failed (``err``: see :func:`no_trial_completed`): the
    sweep summary that ``on_multirun_end`` would have written, then :class:`SearchFailed` saying why."""
    summary, config = _started if _started is not None else (None, None)
    sweep_dir = Path(config.hydra.sweep.dir) if config is not None else None
    rows = collect(sweep_dir) if sweep_dir is not None and sweep_dir.is_dir() else []
    if summary is not None and rows:
        summary.summarize(sweep_dir)
        see = f"see {sweep_dir / 'sweep_summary.md'}"
    else:
        see = f"see error.txt in the job folders{f' of {sweep_dir}' if sweep_dir else ''}"
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        first = failed[0]
        everyone = "every job failed" if len(failed) == len(rows) else f"{len(failed)} of {len(rows)} jobs failed"
        raise SearchFailed(f"no trial of the search completed: {everyone}, {see}; the first error (job {first['job']}): "
                           f"{first['error']}")
    metric = config.get("optimized_metric") if config is not None else None
    raise SearchFailed(f"no trial of the search completed: no job returned a number to Optuna (optimized_metric={metric}); "
                       f"set optimized_metric= to a value of the jobs' summary.json (e.g. metrics/clf_fid5k), {see}")

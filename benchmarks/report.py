"""Render the docs' results tables from the result files: no figure in the docs is typed by hand.

A table in a markdown file is a block between two markers; the first names the kind of table and the
result files it is rendered from (paths from the repository root):

    <!-- table: throughput benchmarks/results/throughput_2026-12-05_dcgan_b64_mnist5k_cpu.json -->
    (rendered by this script: the table, then one source line per file)
    <!-- /table -->

    python -m benchmarks.report            # re-render every block of README.md and docs/*.md in place
    python -m benchmarks.report --check    # exit 1, naming the blocks that differ from their files

``tests/unit/test_results_docs.py`` runs the check, so a table cannot drift from its files. To publish a
new measurement: run the benchmark (it writes a file), point the block at the new file, re-render.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- table: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# ---------------------------------------------------------------------------------------------- helpers

def load(path: str) -> dict:
    file = ROOT / path
    if not file.is_file():
        raise SystemExit(f"report: {path} does not exist (a table block names it)")
    return json.loads(file.read_text())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def mean_se(values: list[float], digits: int = 1) -> str:
    """mean ± standard error of the mean (s.d. / √n), as PacGAN's tables."""
    mean = statistics.mean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def source(path: str, data: dict) -> str:
    """One line naming where a table's figures come from: file, command, commit, date, machine, reference."""
    parts = [f"`{path}`", f"`{data['command']}`"]
    if data.get("commit"):
        parts.append(f"commit {data['commit'][:7]}{'+dirty' if data['commit'].endswith('+dirty') else ''}")
    parts.append(data.get("date", "").replace("T", " ")[:16])
    host = data.get("machine")
    if host:
        parts.append(f"{host['device'] if host['device'] != 'cpu' else host['cpu']}, {host['cores']} cores, "
                     f"{host['torch_threads']} torch threads, torch {host['torch']}")
    elif "threads" in data:
        parts.append(f"{data['threads']} torch thread(s) per process")
    reference = data.get("reference")
    if reference:
        parts.append(f"plain loop {num(reference['plain_loop_img_s'])} img/s that day")
    elif "benchmark" not in data:
        parts.append("no plain-loop reference in the file (written before result files recorded one)")
    else:
        parts.append("no plain-loop reference measured that day")
    return "- " + "; ".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------- renderers

def render_throughput(paths: list[str]) -> str:
    rows, sources = [], []
    for path in paths:
        data = load(path)
        f = data["figures"]
        rows.append([f["setting"], f["device"], f["precision"], num(f["gan_lab_img_s"]), num(f["plain_img_s"]),
                     num(f["median_ratio"], 3), f"{f['rounds']} x {f['steps']}"])
        sources.append(source(path, data))
    header = ["setting", "device", "precision", "gan-lab img/s", "plain loop img/s", "gan-lab / plain (median of rounds)",
              "rounds x iterations"]
    return table(header, rows) + "\n" + "".join(sources)


def render_ensemble(paths: list[str]) -> str:
    rows, sources = [], []
    for path in paths:
        data = load(path)
        f = data["figures"]
        tricks = [o for o in f.get("overrides", []) if o.startswith("trick=")]  # what the setting adds to the nets
        rows.append([" ".join([f"{f['model']} {f['data']} batch {f['batch_size']}", *tricks]), str(f["members"]),
                     str(f["threads"]), data["commit"][:7],
                     num(f["separate_runs_img_s_median"], 0), num(f["ensemble_img_s_median"], 0), num(f["speedup"], 2),
                     f"{len(f['ensemble_img_s'])} x {f['steps']}"])
        sources.append(source(path, data))
    header = ["setting", "members", "threads", "commit", "one seed per run img/s", "ensemble img/s (all members)",
              "speedup (median of rounds)", "rounds x iterations"]
    return table(header, rows) + "\n" + "".join(sources)


def render_default_run(paths: list[str]) -> str:
    (path,) = paths
    data = load(path)
    f = data["figures"]
    matched = any(r.get("class_match") is not None for r in f["runs"])  # task=conditional
    confident = any(r.get("confident") is not None for r in f["runs"])  # files from 2026-12-06 on
    rows = [[str(i + 1), num(r["wall_s"], 0), num(r["clf_fid5k"], 2), str(r["classes_covered"] and int(r["classes_covered"])),
             num(r["precision"], 2), num(r["recall"], 2), num(r["density"], 2), num(r["coverage"], 2)]
            + ([num(100 * r["confident"], 1)] if confident else [])
            + ([num(100 * r["class_match"], 1)] if matched else [])
            for i, r in enumerate(f["runs"])]
    header = ["run", "wall s", "clf_fid5k", "classes", "precision", "recall", "density", "coverage"]
    text = table(header + (["% confident"] if confident else []) + (["% class match"] if matched else []), rows)
    if f["overrides"]:
        text = f"Overrides: `{' '.join(f['overrides'])}`.\n\n" + text
    floor = f["runs"][0].get("real_data_floor")
    reference = data.get("reference")
    goal = f"{300 * 1000 / reference['plain_loop_img_s']:.0f} s on this machine" if reference else "not computable (no reference)"
    text += (f"\nMean wall time {num(f['mean_wall_s'], 0)} s (goal: 300 s at 1,000 img/s, i.e. {goal}); mean clf_fid5k "
             f"{num(f['mean_clf_fid5k'], 2)} (goal ≤ {f['goal']['clf_fid5k']}); real-data floor {num(floor, 2)}"
             + (f"; held-out real digits labelled with p > 0.9: {num(100 * f['runs'][0]['real_confident'], 1)}%"
                if confident and f["runs"][0].get("real_confident") is not None else "") + ".\n\n")
    return text + source(path, data)


def render_cli_startup(paths: list[str]) -> str:
    (path,) = paths
    data = load(path)
    rows = [[f"`{r['command']}`", num(r["median_s"], 2), num(r["ratio_to_import_torch"], 2)] for r in data["figures"]["rows"]]
    return table(["command", "median s", "x import torch"], rows) + "\n" + source(path, data)


def render_metrics_speed(paths: list[str]) -> str:
    rows, sources = [], []
    for path in paths:
        data = load(path)
        f = data["figures"]
        extractor = f["extractor"] + (" (random weights, same network)" if f.get("random_weights") else "")
        rows.append([extractor, f["device"], f"{f['n']:,}", num(f["cold"]["total_s"]), num(f["warm"]["total_s"]),
                     num(f["warm"]["img_s"])])
        sources.append(source(path, data))
    return table(["extractor", "device", "samples", "cold cache s", "warm cache s", "img/s warm"], rows) + "\n" + "".join(sources)


def render_mode_collapse(paths: list[str]) -> str:
    """Measured rows of benchmarks/mode_collapse.py files: modes covered and % high quality, mean ± s.e. over seeds.
    (Files of 2026-11-27 hold the figures at the top level; later ones under ``figures``.)"""
    rows, sources = [], []
    for path in paths:
        data = load(path)
        f = data.get("figures", data)
        for name, run in f["runs"].items():
            cells = []
            for dataset in ("ring8", "grid25"):
                results = [r for r in run["results"] if r["data"] == dataset]
                if not results:
                    cells += ["", ""]
                    continue
                cells += [mean_se([r["modes_covered"] for r in results]),
                          mean_se([100 * r["high_quality_fraction"] for r in results])]
            minutes = " / ".join(num(run["seconds"][d] / 60) for d in ("ring8", "grid25") if d in run["seconds"])
            rows.append([name, *cells, str(len(f["seeds"])), minutes])
        cells_at_once = f"; {f['jobs']} cell(s) at a time x {f['threads']} thread(s)" if "jobs" in f else ""
        sources.append(source(path, data).rstrip("\n") + f"{cells_at_once}; {num(f['wall_seconds'] / 60)} min of wall time\n")
    header = ["row", "ring8 modes (of 8)", "ring8 % high quality", "grid25 modes (of 25)", "grid25 % high quality", "seeds",
              "minutes ring8 / grid25"]
    return table(header, rows) + "\n" + "".join(sources)


def render_mode_collapse_cost(paths: list[str]) -> str:
    """What a table of benchmarks/mode_collapse.py files cost: per file its rows, cells, cell-minutes (each cell's wall
    time, summed) and wall minutes, beside the plain loop's img/s of its day; then the sums over the files."""
    rows, total_cells, total_cell_s, total_wall_s = [], 0, 0.0, 0.0
    for path in paths:
        data = load(path)
        f = data.get("figures", data)
        cell_s = [s for run in f["runs"].values() for s in run["seconds"].values()]
        reference = data.get("reference")
        rows.append([f"`{Path(path).name}`", ", ".join(f["runs"]), (data.get("commit") or "–")[:7], str(len(cell_s)),
                     num(sum(cell_s) / 60), num(f["wall_seconds"] / 60), str(f.get("jobs", "–")),
                     num(reference["plain_loop_img_s"]) if reference else "–"])
        total_cells, total_cell_s, total_wall_s = total_cells + len(cell_s), total_cell_s + sum(cell_s), total_wall_s + f["wall_seconds"]
    rows.append(["all", "", "", str(total_cells), num(total_cell_s / 60), num(total_wall_s / 60), "", ""])
    header = ["file", "rows", "commit", "cells", "cell-minutes", "wall minutes", "cells at a time", "plain loop img/s that day"]
    return table(header, rows)


def render_mode_collapse_published(paths: list[str]) -> str:
    """The published rows a mode_collapse.py file carries (PacGAN Table 1, VEEGAN Table 1)."""
    (path,) = paths
    rows = []
    data = load(path)
    for paper, table_rows in data.get("figures", data)["published"].items():
        for name, cells in table_rows.items():
            row = [f"{name} ({paper})"]
            for dataset in ("ring8", "grid25"):
                modes, hq = cells[dataset]
                row += [f"{modes[0]} ± {modes[1]}" if isinstance(modes, list) else str(modes),
                        f"{hq[0]} ± {hq[1]}" if isinstance(hq, list) else str(hq)]
            rows.append(row)
    header = ["published row", "ring8 modes", "ring8 % high quality", "grid25 modes", "grid25 % high quality"]
    return table(header, rows) + f"\n- read from `{path}` (its `published` key; see the script for where each was read)\n"


def render_stacked_mnist(paths: list[str]) -> str:
    """benchmarks/stacked_mnist.py files: modes covered (of 1,000) and KL, mean ± s.e. over seeds, with each row's
    minutes; then the held-out real stacks' values and the published rows the file carries."""
    rows, sources, real, published = [], [], None, {}
    for path in paths:
        data = load(path)
        f = data["figures"]
        for name, run in f["runs"].items():
            results = run["results"]
            label = f"{name} (`{' '.join(f['overrides'])}`)" if f.get("overrides") else name
            rows.append([label, mean_se([r["modes_covered"] for r in results]), mean_se([r["kl"] for r in results], 2),
                         str(len(results)), f"{run['steps']:,}", num(run["seconds"] / 60)])
            real = real or run.get("held_out_real")
        sources.append(source(path, data).rstrip("\n") + f"; {num(f['wall_seconds'] / 60)} min of wall time\n")
        published = {**f["published"], **published}  # each file carries them: once, after the measured rows
    for paper, rows_of_paper in published.items():
        for name, (modes, kl) in rows_of_paper.items():
            rows.append([f"{name} ({paper})", *(f"{v[0]:g} ± {v[1]:g}" if isinstance(v, list) else f"{v:g}" for v in (modes, kl)),
                         "", "", ""])
    header = ["row", "modes (of 1,000)", "KL", "seeds", "iterations", "minutes"]
    text = table(header, rows)
    if real:
        text += (f"\nHeld-out real stacks ({real['images']:,}, scored the same way): {real['modes_covered']} modes, "
                 f"KL {real['kl']:.3f}.\n")
    return text + "\n" + "".join(sources)


def render_semi_supervised(paths: list[str]) -> str:
    """benchmarks/semi_supervised.py: the choices on the validation split, then the test errors of each recipe."""
    (path,) = paths
    data = load(path)
    f = data["figures"]
    n_val = f["validation_examples"]
    choices = [[c["preset"], str(c["steps"]), "–" if c["lr"] is None else f"{c['lr']:g}", f"{c['val_errors']:.0f} / {n_val}"]
               for c in f["candidates"]]
    text = "Choices on the validation split (seed 0):\n\n" + table(["preset", "iterations", "lr", "validation errors (EMA of D)"], choices)
    chosen = f["chosen"]
    text += (f"\nChosen: the GAN at {chosen['gan_steps']} iterations; the baseline at lr {chosen['baseline_lr']:g}, "
             f"{chosen['baseline_steps']} iterations.\n\nOn the test split, seeds {', '.join(map(str, f['seeds']))} (mean ± s.e.):\n\n")
    rows = []
    for name, r in f["results"].items():
        per_seed = ", ".join(f"{run['test_errors']:.0f}" for run in r["runs"])
        rows.append([name, f"{r['test_errors'][0]:.1f} ± {r['test_errors'][1]:.1f} ({per_seed})",
                     f"{r['test_error_raw_percent'][0]:.1f} ± {r['test_error_raw_percent'][1]:.1f}",
                     f"{r['val_errors'][0]:.1f} ± {r['val_errors'][1]:.1f}"])
    text += table(["recipe", "test errors / 1,000 (EMA of D; per seed)", "test error % (D itself)",
                   f"validation errors / {n_val}"], rows)
    text += (f"\nThe baseline makes {f['baseline_over_gan']:.2f}x the GAN's test errors (goal: ≥ 2x); "
             f"{num(f['minutes'])} min for the whole benchmark, {f['jobs']} runs at a time with one torch thread each.\n\n")
    return text + source(path, data)


def render_default_candidates(paths: list[str]) -> str:
    """benchmarks/default_run.py files, one a candidate recipe (issue 25): mean ± s.e. over its runs' seeds, against
    the goals of a new default (clf_fid5k ≤ 4, precision ≥ 0.75, recall ≥ 0.85, confident share within 8 points of
    the held-out real digits'; in the time budget)."""
    rows, sources = [], []
    for path in paths:
        data = load(path)
        f, runs = data["figures"], data["figures"]["runs"]
        reference = data.get("reference")
        budget = 300 * 1000 / reference["plain_loop_img_s"] if reference else None
        confident = [100 * r["confident"] for r in runs]
        real = 100 * runs[0]["real_confident"]
        goals = {"clf_fid5k ≤ 4": statistics.mean(r["clf_fid5k"] for r in runs) <= 4,
                 "precision ≥ 0.75": statistics.mean(r["precision"] for r in runs) >= 0.75,
                 "recall ≥ 0.85": statistics.mean(r["recall"] for r in runs) >= 0.85,
                 "confident within 8 points": abs(statistics.mean(confident) - real) <= 8,
                 "in budget": budget is not None and f["mean_wall_s"] <= budget}
        rows.append([f"`{' '.join(f['overrides'])}`" if f["overrides"] else "today's recipe (`python train.py`)",
                     ", ".join(map(str, f.get("seeds", []))), f"{runs[0]['steps']:,}",
                     f"{num(f['mean_wall_s'], 0)}" + (f" / {budget:.0f}" if budget else ""),
                     mean_se([r["clf_fid5k"] for r in runs], 2), mean_se([r["classes_covered"] for r in runs]),
                     mean_se([r["precision"] for r in runs], 2), mean_se([r["recall"] for r in runs], 2),
                     f"{mean_se(confident)} (real {real:.1f})",
                     ", ".join(goal for goal, met in goals.items() if not met) or "all met"])
        sources.append(source(path, data))
    header = ["candidate", "seeds", "iterations", "mean wall s / budget", "clf_fid5k", "classes", "precision", "recall",
              "% confident (p > 0.9)", "goals missed"]
    return table(header, rows) + "\n" + "".join(sources)


RENDERERS: dict[str, Callable[[list[str]], str]] = {
    "throughput": render_throughput,
    "ensemble": render_ensemble,
    "default_run": render_default_run,
    "default_candidates": render_default_candidates,
    "cli_startup": render_cli_startup,
    "metrics_speed": render_metrics_speed,
    "mode_collapse": render_mode_collapse,
    "stacked_mnist": render_stacked_mnist,
    "mode_collapse_published": render_mode_collapse_published,
    "mode_collapse_cost": render_mode_collapse_cost,
    "semi_supervised": render_semi_supervised,
}


def render_block(spec: str) -> str:
    kind, *paths = spec.split()
    if kind not in RENDERERS:
        raise SystemExit(f"report: unknown table kind {kind!r}; kinds: {', '.join(RENDERERS)}")
    if not paths:
        raise SystemExit(f"report: the {kind} table names no result file")
    return RENDERERS[kind](paths)


def render_document(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("spec")) + m.group(4), text)


def stale_blocks(path: Path) -> list[str]:
    """The specs of ``path``'s blocks whose text differs from what their files render."""
    return [m.group("spec") for m in BLOCK.finditer(path.read_text()) if m.group("body") != render_block(m.group("spec"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block differs from its files")
    args = parser.parse_args(argv)
    stale = {}
    for path in documents():
        text = path.read_text()
        rendered = render_document(text)
        if rendered != text:
            stale[path] = stale_blocks(path)
            if not args.check:
                path.write_text(rendered)
    for path, specs in stale.items():
        for spec in specs:
            print(f"{path.relative_to(ROOT)}: {'differs from' if args.check else 're-rendered from'} {spec}")
    if args.check and stale:
        print("report: run `python -m benchmarks.report` to re-render these tables from their files", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

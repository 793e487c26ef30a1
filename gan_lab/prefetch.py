"""Fetch what ``metrics=inception`` downloads on first use, ahead of an offline job.

    python -m gan_lab.prefetch                  # torch-fidelity's InceptionV3 weights -> torch hub cache
    python -m gan_lab.prefetch --dest FILE      # ... or to FILE (then metrics.inception_weights=FILE)

``gan-lab-prefetch`` (the installed script) is the same command.

The file is checked by loading it into torch-fidelity's network (strict), and its path printed.
An existing file is checked, not downloaded again.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_lab.errors import GanLabError
from gan_lab.metrics.inception import download_weights, load_extractor


def main(argv: list[str] | None = None) -> int:
    prog = "gan-lab-prefetch" if Path(sys.argv[0]).name == "gan-lab-prefetch" else "python -m gan_lab.prefetch"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=None, help="where to save the weights (default: the torch hub cache)")
    args = parser.parse_args(argv)
    try:
        path = download_weights(args.dest)
        load_extractor(path)
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr)
        return 2
    print(f"Inception weights ready: {path}")
    print(f"use them with: python train.py metrics=inception metrics.inception_weights={path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

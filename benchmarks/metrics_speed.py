"""Time classifier metrics on N generated samples, cold cache (classifier trained, real statistics
computed) vs warm cache (both loaded). Goal: warm < 10 s for N = 10,000 on CPU.

    python benchmarks/metrics_speed.py [--n 10000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["GAN_LAB_CACHE"] = tempfile.mkdtemp(prefix="gan_lab_cache_")  # cold on purpose
    from gan_lab.data.datasets import load
    from gan_lab.metrics.evaluation import SampleEvaluator
    from gan_lab.nets.dcgan import DCGANGenerator

    data = load("mnist5k", image_size=28, channels=1)
    torch.manual_seed(0)
    generator = DCGANGenerator(image_size=28, channels=1).eval()  # default-size DCGAN G (untrained)
    for label in ("cold", "warm"):
        started = time.perf_counter()
        evaluator = SampleEvaluator("mnist5k", data, num_samples=args.n)
        setup = time.perf_counter() - started
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            values = evaluator.evaluate(lambda n: generator(generator.sample_z(n, generator=gen)))
        total = time.perf_counter() - started
        print(f"{label}: setup {setup:.1f} s, total {total:.1f} s for {args.n} samples "
              f"(torch threads {torch.get_num_threads()}); clf_fid = {values[next(iter(values))]:.1f}")


if __name__ == "__main__":
    main()

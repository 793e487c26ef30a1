"""Time an evaluation of N generated samples, cold cache (real statistics computed; for the
classifier also the classifier trained) vs warm cache (loaded). Goal with the classifier: warm
< 10 s for N = 10,000 on CPU.

    python benchmarks/metrics_speed.py [--n 10000]
    python benchmarks/metrics_speed.py --extractor inception --n 200 [--weights FILE]
    python benchmarks/metrics_speed.py --extractor inception --n 10000 --device cuda   # a GPU

With ``--extractor inception`` and no ``--weights``, a randomly initialised file in
torch-fidelity's layout is built (``gan_lab/metrics/random_inception.py``): same network, same cost,
meaningless numbers. ``--n`` real images (train split) are extracted for the cold cache.
Writes ``benchmarks/results/metrics_speed_<date>_<extractor>_<device>.json`` (``--out``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=None, help="samples (default 10,000 classifier, 200 inception)")
    parser.add_argument("--extractor", choices=["classifier", "inception"], default="classifier")
    parser.add_argument("--weights", default=None, help="torch-fidelity InceptionV3 weights (inception)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (inception: the extractor, G and the metrics there)")
    parser.add_argument("--out", type=Path, default=None, help="the result file")
    args = parser.parse_args()
    n = args.n or (10_000 if args.extractor == "classifier" else 200)
    os.environ["GAN_LAB_CACHE"] = tempfile.mkdtemp(prefix="gan_lab_cache_")  # cold on purpose
    from gan_lab.data.datasets import load_mnist5k
    from gan_lab.nets.dcgan import DCGANGenerator

    data = load_mnist5k(28)
    torch.manual_seed(0)
    generator = DCGANGenerator(image_size=28, channels=1).eval().to(args.device)  # default-size DCGAN G (untrained)
    if args.extractor == "classifier":
        from gan_lab.metrics.classifier_metrics import ClassifierEvaluator

        def build():
            return ClassifierEvaluator("mnist5k", data, num_samples=n)
    else:
        from gan_lab.metrics.inception import InceptionEvaluator, load_extractor

        weights = args.weights
        if weights is None:
            from gan_lab.metrics.random_inception import build_random_inception_weights

            weights = str(build_random_inception_weights(Path(os.environ["GAN_LAB_CACHE"]) / "random_inception.pth"))
            print(f"random InceptionV3 weights (timing only): {weights}")
        extractor = load_extractor(Path(weights)).to(args.device)

        def build():
            return InceptionEvaluator("mnist5k", data, num_samples=n, num_real=n, kid_subset_size=min(1000, n),
                                      extractor=extractor, weights_path=Path(weights))
    timings = {}
    for label in ("cold", "warm"):
        started = time.perf_counter()
        evaluator = build()
        setup = time.perf_counter() - started
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            values = evaluator.evaluate(lambda k: generator(generator.sample_z(k, generator=gen).to(args.device)))
        if args.device != "cpu":
            torch.cuda.synchronize()
        total = time.perf_counter() - started
        rate = f", {(2 * n if label == 'cold' and args.extractor == 'inception' else n) / total:.1f} img/s" if args.extractor == "inception" else ""
        images = 2 * n if label == "cold" and args.extractor == "inception" else n
        timings[label] = {"setup_s": setup, "total_s": total, "images": images, "img_s": images / total}
        print(f"{label}: setup {setup:.1f} s, total {total:.1f} s for {n} samples{rate} "
              f"(torch threads {torch.get_num_threads()}); {next(iter(values))} = {values[next(iter(values))]:.1f}")

    write_result("metrics_speed", {"extractor": args.extractor, "n": n, "device": args.device,
                                   "random_weights": args.extractor == "inception" and args.weights is None, **timings},
                 out=args.out, tag=f"{args.extractor}_{args.device}", device=args.device)


if __name__ == "__main__":
    main()

"""Milliseconds of minibatch discrimination's o(x) (Salimans et al. 2016, §3.2) and its backward, by each of gan-lab's
kernels on one shape: the eager ops (``compile=false``), Inductor's kernels (``compile=true`` on a GPU, or on a CPU
without a C++ compiler) and gan-lab's CPU kernel over the unordered pairs (``compile=true`` on a CPU). Each is the
``torch.autograd.Function`` the layer calls (``gan_lab.nets.layers.minibatch_discrimination``), timed on the same M.

    python benchmarks/md_kernel.py                       # the 2-D protocol's head: 5 members x 100 kernels, C = 5, batch 100
    python benchmarks/md_kernel.py --kernels 100 --batch 100 --threads 2

Each call times the forward (``Function.apply``) and then ``s.backward(g)`` on that forward's graph; medians over
the calls, after two that compile or warm up. The result file is ``benchmarks/results/md_kernel_<date>_<shape>.json``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import write_result  # noqa: E402
from gan_lab.nets.layers import pair_sums_cpu  # noqa: E402
from gan_lab.nets.layers.minibatch_discrimination import (  # noqa: E402
    CompiledPairKernelSums,
    CpuPairKernelSums,
    PairKernelSums,
)

KERNELS = {"eager": PairKernelSums, "inductor": CompiledPairKernelSums, "cpu kernel": CpuPairKernelSums}


def time_kernel(function: type[torch.autograd.Function], mt: torch.Tensor, g: torch.Tensor, calls: int) -> tuple[float, float]:
    """Median milliseconds of one forward and of one backward of ``function`` on ``mt`` [K, C, N]."""
    forward, backward = [], []
    for _ in range(calls + 2):  # the first two calls compile / warm up, not counted
        x = mt.detach().requires_grad_()
        start = time.perf_counter()
        s = function.apply(x)[0]
        middle = time.perf_counter()
        s.backward(g)
        end = time.perf_counter()
        forward.append((middle - start) * 1e3)
        backward.append((end - middle) * 1e3)
    return statistics.median(forward[2:]), statistics.median(backward[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--kernels", type=int, default=100, help="B, kernels per member (the original's 100)")
    parser.add_argument("--dim", type=int, default=5, help="C, dimensions per kernel (the original's 5)")
    parser.add_argument("--batch", type=int, default=100, help="N, the examples o(x) compares (one half: real or fake)")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not pair_sums_cpu.supports(torch.zeros(1, args.dim, 2)):
        sys.exit("no C++ compiler found (g++, c++, clang++ or $CXX): gan-lab's CPU kernel cannot be built here")

    torch.manual_seed(0)
    k = args.members * args.kernels
    mt = torch.randn(k, args.dim, args.batch) * 0.7  # mean nearest-neighbour L1 ~2, as after the layer's data-dependent init
    g = torch.randn(k, args.batch)
    ms = {}
    for name, function in KERNELS.items():
        forward, backward = time_kernel(function, mt, g, args.calls)
        ms[name] = {"forward_ms": forward, "backward_ms": backward}
        print(f"{name:>10}: forward {forward:6.2f} ms, backward {backward:6.2f} ms", flush=True)
    reference = PairKernelSums.apply(mt)[0]
    figures = {
        "shape": {"members": args.members, "kernels": args.kernels, "dim": args.dim, "batch": args.batch, "mt": list(mt.shape)},
        "threads": torch.get_num_threads(), "calls": args.calls, "ms": ms,
        "speedup_vs_inductor": {p: ms["inductor"][f"{p}_ms"] / ms["cpu kernel"][f"{p}_ms"] for p in ("forward", "backward")},
        "max_abs_difference_vs_eager": {n: (KERNELS[n].apply(mt)[0] - reference).abs().max().item() for n in ("inductor", "cpu kernel")},
    }
    write_result("md_kernel", figures, out=args.out,
                 tag=f"m{args.members}_k{args.kernels}_c{args.dim}_n{args.batch}_{args.threads}thread")


if __name__ == "__main__":
    main()

"""o(x) of minibatch discrimination on a CPU by gan-lab's own kernel (``pair_sums.c``), over the unordered pairs.

Salimans et al. 2016, §3.2: s_ki = sum_{j != i} exp(-||M_ik - M_jk||_1). The pair (i, j) has the same term in s_i
and s_j, so the kernel visits each unordered pair once and adds its term to both rows (half the exps and L1
distances of a [K, N, N] kernel), and the backward recomputes the terms instead of keeping E [K, N, N] (the
Inductor kernels of :class:`gan_lab.nets.layers.minibatch_discrimination.CompiledPairKernelSums` write E and read
it back: memory traffic, not arithmetic, bounded them). On the 2-D protocol's shapes (5 members x 100 kernels of
5 dimensions, batch 100; one thread of the 2-core Intel machine), forward 1.45 ms and backward 2.89 ms against
Inductor's 10.1 and 6.5 ms, both with the layout copies to and from the layer's [K, C, N] (``python
benchmarks/md_kernel.py --calls 100``, ``benchmarks/results/md_kernel_2026-12-07_m5_k100_c5_n100_1thread_174117.json``).

Torch has no such kernel and Inductor cannot write a loop over a triangle, so it is C: the machine's compiler
builds it on first use (``-O3 -march=native``, ~1 s, one library per kernel dimension C), into
``$GAN_LAB_CACHE`` (default ``~/.cache/gan_lab``) under a name that hashes the source, the compiler, the flags
and the CPU's features, so a cache shared by other CPUs never loads code built for another instruction set. The
same compiler Inductor needs for ``model.compile`` on a CPU (``$CXX``, else g++ / c++ / clang++): where there is
none, or the build fails, :func:`library` returns None and the caller uses Inductor's kernels.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("pair_sums.c")
LANES = 16  # W in pair_sums.c: kernels per vector; K is padded to a multiple of it
MAX_DIM = 16  # C up to which the kernel is built (one library per C; the 2-D protocol and the original use 5)
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-x", "c++")


def cpp_compiler() -> str | None:
    """The C++ compiler Inductor would find on the CPU (``$CXX``, else g++ / c++ / clang++ on the PATH), or None."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    return next((path for path in map(shutil.which, names) if path), None)


def _cpu_features() -> str:
    try:
        flags = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith(("flags", "Features"))]
        return flags[0] if flags else platform.processor()
    except OSError:
        return platform.machine() + platform.processor()


def _cache_dir() -> Path:
    return Path(os.environ.get("GAN_LAB_CACHE") or Path.home() / ".cache" / "gan_lab") / "kernels"


@functools.cache
def library(dim: int) -> ctypes.CDLL | None:
    """``pair_sums.c`` built for kernels of ``dim`` dimensions and loaded (once per process), or None where no
    compiler is found or the build fails (then a warning says so and Inductor's kernels run instead)."""
    compiler = cpp_compiler()
    if compiler is None or not 1 <= dim <= MAX_DIM:
        return None
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, compiler.encode(), " ".join(FLAGS).encode(), _cpu_features().encode()]))
    target = _cache_dir() / f"pair_sums_c{dim}_{key.hexdigest()[:16]}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:  # built beside it, then renamed: atomic for parallel runs
            built = Path(tmp) / target.name
            for flags in (FLAGS, tuple(f for f in FLAGS if f != "-fopenmp")):  # a compiler without OpenMP: one thread
                result = subprocess.run([compiler, *flags, f"-DCDIM={dim}", "-o", str(built), str(SOURCE)],
                                        capture_output=True, text=True)
                if result.returncode == 0:
                    break
            else:
                log.warning("minibatch discrimination: %s could not build %s, so o(x) runs by Inductor's kernels "
                            "(~2x slower on a CPU): %s", compiler, SOURCE.name, result.stderr.strip()[-2000:])
                return None
            os.replace(built, target)
    lib = ctypes.CDLL(str(target))
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    lib.pair_sums.argtypes = [ptr, ptr, i64, i64, f32, ctypes.c_int]
    lib.pair_sums_grad.argtypes = [ptr, ptr, ptr, i64, i64, f32, ctypes.c_int]
    lib.rows_from_layer.argtypes = lib.layer_from_rows.argtypes = [ptr, ptr, i64, i64, i64]
    lib.pair_sums.restype = lib.pair_sums_grad.restype = lib.rows_from_layer.restype = lib.layer_from_rows.restype = None
    return lib


def supports(mt: torch.Tensor) -> bool:
    """Whether ``mt`` (M as [K, C, N]) can run here: float32 on the CPU, C <= 16, and the kernel built."""
    return mt.is_cpu and mt.dtype == torch.float32 and library(mt.shape[1]) is not None


def to_rows(mt: torch.Tensor) -> torch.Tensor:
    """M as [K, C, N] -> the kernel's layout [N, C, K'], K' = K padded to a multiple of 16 with zeros."""
    k, c, n = mt.shape
    mt = mt.contiguous()
    rows = mt.new_empty(n, c, -(-k // LANES) * LANES)
    library(c).rows_from_layer(mt.data_ptr(), rows.data_ptr(), n, k, rows.shape[2])
    return rows


def sums(rows: torch.Tensor, k: int, far: float) -> torch.Tensor:
    """s [K, N], s_ki = sum_{j != i} [d < far] exp(-d), d = ||M_ik - M_jk||_1, from ``rows`` = :func:`to_rows` (M)."""
    n, c, kp = rows.shape
    out = rows.new_empty(n, kp)
    library(c).pair_sums(rows.data_ptr(), out.data_ptr(), n, kp, far, torch.get_num_threads())
    return out[:, :k].t()


def sums_grad(rows: torch.Tensor, grad: torch.Tensor, far: float) -> torch.Tensor:
    """d/dM of sum_ki g_ki s_ki as [K, C, N], from ``rows`` = :func:`to_rows` (M) and ``grad`` g [K, N]."""
    n, c, kp = rows.shape
    k = grad.shape[0]
    g = grad.new_zeros(n, kp)
    g[:, :k] = grad.t()
    grad_rows = torch.empty_like(rows)
    library(c).pair_sums_grad(rows.data_ptr(), g.data_ptr(), grad_rows.data_ptr(), n, kp, far, torch.get_num_threads())
    out = rows.new_empty(k, c, n)  # contiguous, as the projection's compiled backward expects it
    library(c).layer_from_rows(grad_rows.data_ptr(), out.data_ptr(), n, k, kp)
    return out

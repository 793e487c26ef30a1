"""Training is bit-identical to the weights that main saved on 2026-12-05, before the iteration's
maths moved out of ``module.py`` into the objective (issue 23): a refactor of how an iteration runs
must not change what it computes. Rewritten once since, on purpose (issue 24, the ensemble of seeds): z
now comes from the objective's own generator per member (``Objective.latent_codes``) instead of the
global RNG; with z drawn from the global RNG again, that commit's code passed this test against the old
reference (the spectral norm's ``copy_`` and the member-aware objective change no bit). Rewritten a second time
for the fused o(x) of minibatch discrimination (``PairKernelSums``, issue 24): it sums the L1 distances per
dimension and clamps far pairs, so the all-five-tricks case changes in its last bits (its values agree with the
cdist definition to ~1e-5 relative: tests/unit/test_minibatch_fused.py); the default recipe's hashes did not change.

Two recipes, 20 iterations each, one torch thread, seed 0: the default run's recipe (dcgan_sn, Adam
betas (0, 0.99), EMA of G) and the same with the five Improved-GAN tricks. The reference holds the
SHA-256 of every tensor of G's, D's and the averaged G's state dicts (with its dtype and shape;
``tests/data/bit_identical_20_steps.json``, written by ``python -m tests.integration.test_bit_identical
--write`` on that commit): equal hashes are equal bits, in a file of kilobytes rather than megabytes. Bit-equality holds
because the same operations run in the same order on the same machine with one thread; a change of
the operations' order (e.g. summing the penalties in another order) changes the last bits, and this
test says so.

Bit-equality across machines (rewritten a third time, 2026-12-06, same semantics): the reference had been
written on one CPU and failed on CI's, whose MKL and oneDNN pick other kernels (AVX-512 vs AVX2 sum in
another order). Each case now trains in a subprocess with the instruction set pinned: MKL's conditional
numerical reproducibility (``MKL_CBWR=COMPATIBLE``, the same results on every x86 CPU), ATen's
non-vectorised kernels (``ATEN_CPU_CAPABILITY=default``), oneDNN off (convolutions through ATen + MKL's
GEMM) and one thread. Under it the hashes did not move with ``MKL_ENABLE_INSTRUCTIONS=AVX2`` or ``SSE4_2``,
and commit 4666618 (the last that passed CI with the old reference) gives the same hashes as this one.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_lab.cli import compose
from gan_lab.runner import build_run
from tests.conftest import ROOT

PINNED = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
REFERENCE = ROOT / "tests" / "data" / "bit_identical_20_steps.json"
ALL_FIVE = "trick=[feature_matching,minibatch_discrimination,historical_averaging,label_smoothing,virtual_bn]"
CASES = {"default_recipe": [], "all_five_tricks": [ALL_FIVE]}
COMMON = ["seed=0", "trainer.max_steps=20", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
          "trainer.log_every_n_steps=5", "logger=csv", "metrics=none", "samples.every_n_steps=0", "checkpoint.every_n_steps=0"]


def fingerprint(tensor: torch.Tensor) -> str:
    """dtype, shape and the SHA-256 of the bytes: equal fingerprints are bit-identical tensors."""
    t = tensor.detach().cpu().contiguous()
    return f"{t.dtype} {tuple(t.shape)} {hashlib.sha256(t.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()}"


def train(overrides: list[str], run_dir: Path) -> dict[str, dict[str, str]]:
    """The fingerprints of G's, D's and the averaged G's state after 20 iterations of ``python train.py <overrides>``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = build_run(compose([*COMMON, *overrides], run_dir=run_dir))
        run.trainer.fit(run.module, datamodule=run.datamodule)
    finally:
        torch.set_num_threads(threads)
    nets = {"generator": run.module.generator, "discriminator": run.module.discriminator,
            "generator_ema": run.module.generator_ema}
    return {name: {k: fingerprint(v) for k, v in net.state_dict().items()} for name, net in nets.items()}


def train_pinned(case: str) -> dict[str, dict[str, str]]:
    """``train(CASES[case])`` in a subprocess whose instruction set is pinned (``PINNED``, oneDNN off)."""
    env = {**os.environ, **PINNED, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "tests.integration.test_bit_identical", "--case", case],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="the pinned instruction set needs MKL (MKL_CBWR)")
@pytest.mark.parametrize("case", sorted(CASES))
def test_training_is_bit_identical_to_the_reference(case):
    expected = json.loads(REFERENCE.read_text())[case]
    actual = train_pinned(case)
    assert expected.keys() == actual.keys()
    for net in expected:
        assert expected[net].keys() == actual[net].keys(), net
        different = [k for k in expected[net] if expected[net][k] != actual[net][k]]
        assert not different, f"{case}: {net} differs from the reference in {different}"


if __name__ == "__main__":  # python -m tests.integration.test_bit_identical --write
    if sys.argv[1:2] == ["--case"] and len(sys.argv) == 3:  # the subprocess of train_pinned
        import tempfile

        torch.backends.mkldnn.enabled = False
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(train(CASES[sys.argv[2]], Path(tmp) / sys.argv[2])))
    elif sys.argv[1:] == ["--write"]:
        REFERENCE.write_text(json.dumps({case: train_pinned(case) for case in CASES}, indent=1) + "\n")
        print(f"wrote {REFERENCE}")
    else:
        raise SystemExit("usage: python -m tests.integration.test_bit_identical --write (rewrites the reference)")

"""The mode-collapse protocols as configs (conf/experiment/mode_collapse_*.yaml): the nets, optimiser, schedule
and lengths they give train.py, and benchmarks/mode_collapse.py's cells (one train.py run per row and dataset)."""
import json

import pytest
import torch

from benchmarks import mode_collapse as mc
from gan_lab.build import build_players
from gan_lab.nets.mlp import Maxout
from gan_lab.optim import linear_ramp_down
from tests.conftest import compose_cfg


def test_the_cpu_protocol_gives_train_py_its_nets_optimiser_and_lengths():
    cfg = compose_cfg(["experiment=mode_collapse_cpu"], fast=False)
    assert (cfg.data.name, cfg.data.batch_size, cfg.data.num_train, cfg.model.z_dim) == ("ring8", 100, 100_000, 2)
    assert (cfg.ensemble.seeds, cfg.trainer.max_steps, cfg.optim.simultaneous, cfg.ema.half_life_kimg) == (5, 22_000, True, 0)
    assert list(cfg.optim.g.betas) == [0.5, 0.999] and cfg.optim.d.lr == cfg.optim.g.lr == 1e-3
    assert (cfg.metrics.num_samples, cfg.metrics.every_n_steps) == (2500, 0)  # the final G's 2,500 samples
    assert cfg.model.compile is True  # G and D by Inductor: ~1.4x faster iterations (the preset's comment)
    assert compose_cfg(["experiment=mode_collapse_cpu", "data=grid25"], fast=False).trainer.max_steps == 55_000
    pacgan = compose_cfg(["experiment=mode_collapse_pacgan", "data=grid25"], fast=False)
    assert (pacgan.trainer.max_steps, pacgan.ensemble.seeds, pacgan.optim.g.lr, list(pacgan.optim.d.betas)) == (400_000, 10, 1e-4, [0.8, 0.999])
    assert pacgan.optim.g_scheduler is None and list(pacgan.model.generator.hidden) == [400] * 4

    players = build_players(compose_cfg(["experiment=mode_collapse_cpu", "ensemble.seeds=1"], fast=False))
    g, d = players.generator, players.discriminator
    linears = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(lin.in_features, lin.out_features, lin.bias is None) for lin in linears] == [(2, 128, True), (128, 128, True), (128, 128, True), (128, 2, False)]
    assert all((n.eps, n.momentum) == (1e-4, 0.05) and torch.all(n.weight == 1) for n in norms) and len(norms) == 3
    maxouts = [m for m in d.modules() if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.out_features, m.pieces) for m in maxouts] == [(2, 128, 2), (128, 128, 2)]
    assert all(m.p == 0 for m in d.modules() if isinstance(m, torch.nn.Dropout))
    weights = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, torch.nn.Linear)])
    assert abs(weights.std().item() - 0.02) < 0.001  # PacGAN's IsotropicGaussian(0.02), biases Constant(0)
    assert all(torch.all(m.bias == 0) for m in [*linears, *(mo.linear for mo in maxouts)] if m.bias is not None)


def test_the_schedule_is_constant_for_40_percent_then_linear_to_a_thousandth():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = linear_ramp_down(opt, total_steps=10, start_fraction=0.4, end_factor=0.001)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # constant for 4 steps, then 1 - (1 - 0.001) * (step - 4) / 6: step 7 -> 1 - 0.999 / 2
    assert lrs[:5] == [1.0] * 5 and lrs[7] == pytest.approx(0.5005) and opt.param_groups[0]["lr"] == pytest.approx(0.001)


def test_maxout_with_max_gives_amaxs_values_and_gradient():
    layer = Maxout(4, 6, 3)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    out = layer(x)
    ref = layer.linear(x).view(-1, 6, 3).amax(-1)
    assert torch.equal(out, ref)
    g = torch.randn_like(out)
    assert torch.equal(torch.autograd.grad(out, layer.linear.weight, g)[0], torch.autograd.grad(ref, layer.linear.weight, g)[0])


def test_cells_are_train_py_runs_and_the_costliest_start_first():
    class Args:
        seeds, steps, device, set = 3, None, "cpu", ["tricks.historical_averaging.weight=0.1"]

    command = mc.cell_command("cpu", "grid25", mc.ROWS["PacGAN3"], mc.ROOT / "x", Args)
    assert command[1:5] == ["train.py", "experiment=mode_collapse_cpu", "data=grid25", "trick=packing"]
    assert {"tricks.packing.m=3", "data.batch_size=300", "ensemble.seeds=3", "tricks.historical_averaging.weight=0.1"} <= set(command)
    assert mc.cost(mc.ROWS["minibatch discrimination"], 10) > mc.cost(mc.ROWS["PacGAN4"], 10) > mc.cost(mc.ROWS["GAN"], 10) == 10


def test_a_runs_summary_gives_each_seeds_final_metrics():
    summary = {"seed": 0, "metrics": {}, "members": [
        {"member": 0, "seed": 3, "metrics": {"metrics/modes_covered2500": 7.0, "metrics/high_quality_fraction2500": 0.9}},
        {"member": 1, "seed": 4, "metrics": {"metrics/modes_covered2500": 8.0, "metrics/high_quality_fraction2500": 0.5}}]}
    assert mc.member_results(summary, "ring8") == [
        {"data": "ring8", "seed": 3, "modes_covered": 7.0, "high_quality_fraction": 0.9},
        {"data": "ring8", "seed": 4, "modes_covered": 8.0, "high_quality_fraction": 0.5}]
    single = {"seed": 2, "metrics": json.loads('{"metrics/modes_covered2500": 1, "metrics/high_quality_fraction2500": 0.1}')}
    assert mc.member_results(single, "grid25")[0]["seed"] == 2

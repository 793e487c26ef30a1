"""benchmarks/mode_collapse.py's machinery: protocol variants (--set), the table's cells shared between
processes (--jobs), and the fast paths of the batched nets giving the values of the plain formulas."""
import argparse
import dataclasses
import json

import pytest
import torch

from benchmarks import mode_collapse as mc
from benchmarks import mode_collapse_nets as nets


pytestmark = pytest.mark.usefixtures("one_thread")


def test_set_parses_each_value_as_its_fields_type_and_refuses_unknown_fields():
    proto = mc.override(mc.PROTOCOLS["cpu"], ["d_hidden=64", "lr=2e-3", "lr_decay=none"])
    assert (proto.d_hidden, proto.lr, proto.lr_decay) == (64, 0.002, "none")
    assert proto.g_hidden == mc.PROTOCOLS["cpu"].g_hidden and proto.iterations_for("grid25") == mc.PROTOCOLS["cpu"].iterations_for("grid25")
    with pytest.raises(ValueError, match="d_width.*FIELD one of .*d_hidden"):
        mc.override(proto, ["d_width=3"])
    with pytest.raises(ValueError, match="'x' is not a int"):
        mc.override(proto, ["d_hidden=x"])
    with pytest.raises(ValueError, match="per-dataset lengths: --iterations"):
        mc.override(proto, ["data_iterations=3"])


def test_trick_option_changes_the_rows_that_use_the_trick_and_names_them():
    rows = mc.with_options({n: mc.ROWS[n] for n in ("GAN", "historical averaging", "all five")},
                           ["historical_averaging.weight=0.1"])
    assert list(rows) == ["GAN", "historical averaging (historical_averaging.weight=0.1)",
                          "all five (historical_averaging.weight=0.1)"]
    assert rows["GAN"] == mc.ROWS["GAN"]
    assert mc.apply_tricks(rows["historical averaging (historical_averaging.weight=0.1)"], 100).historical_weight == 0.1
    assert mc.apply_tricks(mc.ROWS["historical averaging"], 100).historical_weight == 1.0  # conf/trick's default
    both = mc.with_options({"all five": mc.ROWS["all five"]}, ["label_smoothing.real_target=0.8", "feature_matching.weight=2"])
    tricks = mc.apply_tricks(both["all five (label_smoothing.real_target=0.8, feature_matching.weight=2)"], 100)
    assert (tricks.real_target, tricks.fm_weight, tricks.historical_weight) == (0.8, 2.0, 1.0)


@pytest.mark.parametrize("item, match", [
    ("historical_averaging=0.1", "expected TRICK.FIELD=VALUE"),
    ("label_smoothing.real_target=0.8", r"no row of \['historical averaging'\] uses 'label_smoothing'.*'label smoothing', 'all five'"),
    ("historical_averaging.lambda=0.1", r"has no field 'lambda'; its fields .*\['weight'\]"),
    ("historical_averaging.weight=big", "expected a float like the default 1.0"),
])
def test_trick_option_refuses_what_no_row_can_take_before_training(item, match):
    with pytest.raises(ValueError, match=match):
        mc.with_options({"historical averaging": mc.ROWS["historical averaging"]}, [item])


def test_the_costliest_cells_are_scheduled_first():
    iters = {"ring8": 1000, "grid25": 3000}
    order = sorted(((n, d) for n in ("GAN", "PacGAN4", "minibatch discrimination") for d in iters),
                   key=lambda c: -mc.cell_cost(mc.ROWS[c[0]], iters[c[1]]))
    assert order[:2] == [("minibatch discrimination", "grid25"), ("PacGAN4", "grid25")]
    assert mc.cell_cost(mc.ROWS["PacGAN4"], 1000) == pytest.approx(1900.0)  # 1 + 0.3 x 3
    assert order[-1] == ("GAN", "ring8")


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_cell_is_trained_once_in_this_process_or_in_a_pool(jobs):
    proto = mc.override(mc.PROTOCOLS["cpu"], ["g_hidden=8", "d_hidden=8"])
    args = argparse.Namespace(threads=1, compile=False, log_every=0, device="cpu", jobs=jobs, trace=False)
    seen = []
    mc.run_cells({n: mc.ROWS[n] for n in ("GAN", "PacGAN2")}, ["ring8", "grid25"], [0, 1], proto, {"ring8": 3, "grid25": 5}, args,
                 lambda name, d, results, seconds: seen.append((name, d, [(r["data"], r["seed"]) for r in results])))
    assert sorted(seen) == sorted((n, d, [(d, 0), (d, 1)]) for n in ("GAN", "PacGAN2") for d in ("ring8", "grid25"))


def test_maxout_with_max_gives_amaxs_values_and_gradient():
    net = nets.Ensemble([0, 1], g_hidden=8, g_depth=1, d_hidden=6, d_depth=2, pieces=3)
    x = torch.randn(2, 10, 2, generator=torch.Generator().manual_seed(0))
    f = net.features(x)
    ref = x  # blocks' maxout written with amax
    for w, b in zip(net.d_w, net.d_b):
        ref = torch.baddbmm(b, ref, w).view(2, 10, -1, 3).amax(-1)
    assert torch.equal(f, ref)
    g = torch.randn_like(f)
    grads = torch.autograd.grad(f, net.d_w, g)
    ref_grads = torch.autograd.grad(ref, net.d_w, g)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))


def test_g_batch_norm_normalises_each_model_and_slot_with_biased_statistics():
    net = nets.Ensemble([0, 1], g_hidden=16, g_depth=1, d_hidden=4, d_depth=1, pieces=2)
    z = torch.randn(2, 3, 50, 2, generator=torch.Generator().manual_seed(1))  # 2 models, 3 packing slots
    net.generate(z, train=True)
    h = torch.bmm(z.reshape(2, 150, 2), net.g_w[0]).view(2, 3, 50, 16)
    var = h.var(2, unbiased=False)
    # population variance: 0.95 x 1 + 0.05 x (the slots' mean batch variance, made unbiased)
    assert torch.allclose(net.run_var[0], 0.95 + 0.05 * var.mean(1, keepdim=True) * 50 / 49, rtol=1e-5)
    assert torch.allclose(net.run_mean[0], 0.05 * h.mean(2).mean(1, keepdim=True), atol=1e-7)


def test_fused_sums_mark_the_self_pair_infinite_and_nothing_else():
    pairs = nets._self_pairs(4, torch.device("cpu"))
    assert torch.isinf(pairs.diagonal()).all() and pairs.masked_fill(torch.eye(4, dtype=torch.bool), 0).abs().sum() == 0
    sets = torch.zeros(3, 4, 5)  # all points equal: each point's sum over the 3 others is 3 exp(0)
    assert torch.equal(nets.fused_md_pair_sums(sets), torch.full((3, 4), 3.0))



def test_gs_gradient_runs_the_pair_sums_backward_of_the_fake_set_only():
    """G's loss sees the fake logits only: its backward must not run the real set's o(x) backward (with
    zeros), nor D's more than the two sets' (the cost of a minibatch-discrimination step)."""
    backwards = []

    class Counted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            backwards.append(grad.abs().sum().item())
            return grad

    tricks = dataclasses.replace(mc.apply_tricks(mc.ROWS["minibatch discrimination"], 20), md_kernels=4)
    net = nets.Ensemble([0, 1], g_hidden=8, g_depth=1, d_hidden=6, d_depth=1, pieces=2, tricks=tricks)
    real = torch.stack([mc.make_dataset("ring8", s, 100, 1)[:20] for s in (0, 1)])
    net.init_from_data(real)
    net.md_pair_sums = lambda sets: Counted.apply(nets.md_pair_sums(sets))
    d_loss, g_loss = nets.model_losses(net, real, torch.randn(2, 1, 20, 2))
    torch.autograd.grad(g_loss.sum(), net.g_params(), retain_graph=True)
    assert len(backwards) == 1 and backwards[0] > 0
    torch.autograd.grad(d_loss.sum(), net.d_params())
    assert len(backwards) == 3 and min(backwards) > 0


def test_merge_rebuilds_the_table_of_parts_and_refuses_mixed_protocols(tmp_path):
    def part(name, rows, seeds=(0, 1), wall=60.0):
        runs = {row: {"results": [{"data": d, "seed": s, "modes_covered": 5 + s, "high_quality_fraction": hq}
                                  for d, hq in (("ring8", 0.9), ("grid25", 0.8)) for s in seeds]} for row in rows}
        path = tmp_path / name
        path.write_text(json.dumps({"protocol": "cpu", "settings": {"lr": 1e-3}, "iterations": {"ring8": 2, "grid25": 3},
                                    "seeds": list(seeds), "wall_seconds": wall, "runs": runs}))
        return path

    table, datasets, wall = mc.merge([part("a.json", ["GAN"]), part("b.json", ["PacGAN2"], wall=30.0)])
    assert datasets == ["ring8", "grid25"] and wall == 90.0 and list(table) == ["GAN", "PacGAN2"]
    (modes, modes_se), (hq, hq_se) = table["PacGAN2"]["grid25"]["modes"], table["PacGAN2"]["grid25"]["hq"]
    assert (modes, hq, hq_se) == (5.5, pytest.approx(80.0), 0.0) and modes_se == pytest.approx(0.5)  # (5, 6): s.e. 0.5
    with pytest.raises(ValueError, match="differ in protocol, settings, iterations or seeds"):
        mc.merge([part("a.json", ["GAN"]), part("c.json", ["PacGAN3"], seeds=(0, 1, 2))])
    with pytest.raises(ValueError, match="'GAN' is in more than one"):
        mc.merge([part("a.json", ["GAN"]), part("d.json", ["GAN"])])


def _tiny_row(name, *options):
    proto = mc.override(mc.PROTOCOLS["cpu"], ["g_hidden=8", "d_hidden=8", "batch=20"])
    rows = mc.with_options({name: mc.ROWS[name]}, list(options))
    return proto, next(iter(rows.values()))


def test_trace_gives_hand_computed_figures_and_leaves_the_training_as_it_was(capsys):
    proto, row = _tiny_row("historical averaging", "historical_averaging.weight=0.5")
    plain, _ = mc.train_row(row, ["ring8"], [0, 1], proto, 30)
    traced, _ = mc.train_row(row, ["ring8"], [0, 1], proto, 30, log_every=10, trace_runs=True)
    assert traced == plain  # the trace and the logging change nothing
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("ring/")]
    assert len(lines) == 6 and all("g_hist_grad" in line and "d_moved" in line for line in lines)

    net = nets.Ensemble([0, 2], z_dim=2, g_hidden=8, g_depth=2, d_hidden=8, d_depth=2, pieces=2,
                        tricks=mc.apply_tricks(row, 20))
    start = [[p.detach().clone() for p in ps] for ps in (net.g_params(), net.d_params())]
    opt_d = torch.optim.Adam(net.d_params(), lr=1e-2)
    opt_g = torch.optim.Adam(net.g_params(), lr=1e-2)
    real = torch.stack([mc.make_dataset("ring8", s, 20, 1) for s in (0, 1)])
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        z = torch.randn(2, 1, 20, 2, generator=gen)
        nets.simultaneous_step(net, opt_d, opt_g, real, z)
    running = [t.clone() for t in net.run_mean + net.run_var]
    t = mc.trace(net, real, z, start)
    assert all(torch.equal(a, b) for a, b in zip(running, net.run_mean + net.run_var))
    for k in range(2):
        with torch.no_grad():
            moved = sum(((p - q)[k] ** 2).sum() for p, q in zip(net.g_params(), start[0])).sqrt()
            off_mean = sum(((p - a)[k] ** 2).sum() for p, a in zip(net.g_params(), net.history.averages["g"])).sqrt()
        assert t[k]["g_moved"] == pytest.approx(float(moved), rel=1e-5) and t[k]["g_moved"] > 0
        assert t[k]["g_hist_grad"] == pytest.approx(2 * 0.5 * float(off_mean), rel=1e-5)  # grad of lambda ||.||^2
    fake = nets.pack_fake(net.generate(z, train=True))
    logits = net.discriminate(torch.cat([real, fake], dim=1))
    assert [r["d_real"] for r in t] == pytest.approx(logits[:, :20].mean(1).tolist(), rel=1e-5)
    assert [r["d_fake"] for r in t] == pytest.approx(logits[:, 20:].mean(1).tolist(), rel=1e-5)


def test_trace_reports_minibatch_discriminations_o_sums_and_needs_log_every(capsys):
    proto, row = _tiny_row("minibatch discrimination")
    mc.train_row(row, ["ring8"], [0], proto, 4, log_every=4, trace_runs=True)
    line = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("ring/0")][0]
    assert "o_real" in line and "o_fake" in line and "g_hist_grad" not in line
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "benchmarks/mode_collapse.py", "--trace"], capture_output=True, text=True)
    assert out.returncode == 2 and "--trace prints at each --log-every N" in out.stderr

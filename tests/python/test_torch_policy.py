"""lpsim.torch.Policy: nn's precision policies on a converted model. CPT's bits per iteration follow
nn's cyclic_bits formula, DPC's follow capacity_bits by parameter count, LDP's beta moves with the
weight gradients, every kind runs, BitOPs follow the bits the policy set, and state() resumes."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lpsim.torch as lt  # noqa: E402


def _model(seed=0):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.Conv2d(4, 8, 3, stride=2, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(8 * 4 * 4, 24), torch.nn.ReLU(), torch.nn.Linear(24, 10))
    return lt.convert(m, {"keep_first_last": False})


def _data(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(n)]


def _train(model, pol, data, epochs=1, lr=0.05):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        losses = []
        for x, y in data:
            pol.before_step()
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            pol.after_backward()
            opt.step()
            pol.after_step(loss.item(), (out.argmax(1) == y).float().mean().item())
            losses.append(loss.item())
        pol.end_epoch(train_loss=float(np.mean(losses)))


def _cyclic(t, period, bmin, bmax):  # nn/policies/common.cpp cyclic_bits, written again
    return int(np.rint(bmin + 0.5 * (bmax - bmin) * (1 + math.cos(math.pi * math.fmod(t, period) / period + math.pi))))


def test_cpt_bits_per_iteration_are_cyclic_bits():
    model, data = _model(), _data(6)
    pol = lt.Policy(model, {"kind": "cpt", "cpt_cycles": 3, "bmin_fwd": 3, "bmax_fwd": 8}, iterations_per_epoch=6,
                    epochs=2)
    assert pol.name == "cpt"
    _train(model, pol, data, epochs=2)
    period = 12 / 3
    want = [_cyclic(t, period, 3, 8) for t in range(12)]
    assert len(set(want)) > 2
    for t, bits in enumerate(pol.history):
        # keep_fp32 = "last" (CPT's code): the classifier stays fp32, the rest cycle; E at bmax_bwd 8
        assert [b[:3] for b in bits[:-1]] == [(want[t], want[t], 8)] * 3, t
        assert bits[-1] == (32, 32, 32, 32)
    assert model[0].precision.w == f"int{want[-1]}/offset/channel"
    assert model[0].precision.a_running_range  # ema ranges, as the authors' QuantMeasure
    print("CPT bits per iteration:", want)


def test_dpc_bits_by_parameter_count_are_capacity_bits():
    model, data = _model(), _data(2)
    pol = lt.Policy(model, {"kind": "dpc", "cos_bounds": False, "bmin_fwd": 4, "bmax_fwd": 8, "delta": 1.0,
                            "keep_fp32": "none"}, iterations_per_epoch=2)
    sizes = [sum(t.numel() for t in m._lpsim_weight() if t is not None) for m in lt.product_layers(model)]
    med = float(np.median(sizes))
    r = max(max(sizes) / med, med / min(sizes))
    want = [int(np.clip(math.ceil(6 - 0.5 * 4 * math.log(s / med) / math.log(r) - 1e-9), 4, 8)) for s in sizes]
    assert len(set(want)) > 1
    _train(model, pol, data)
    for bits in pol.history:
        assert [b[:2] for b in bits] == [(w, w) for w in want]
    # BitOPs of the step follow those bits: forward MACs x w x a, as nn's step_bitops
    st = lt.layer_stats(model)
    for row, w in zip(st, want):
        f = row["fwd"]
        assert row["bits_w"] == w
        assert row["bitops"] >= 2 * f["m"] * f["n"] * f["k"] * w * w
    print("DPC bits by parameter count", sizes, "->", want)


def test_ldp_beta_moves_and_bits_follow():
    model, data = _model(), _data(4)
    pol = lt.Policy(model, {"kind": "ldp", "ldp_lr": 0.5, "ldp_target": 0.3, "keep_fp32": "none"},
                    iterations_per_epoch=4, epochs=2)
    depths = [m.depth for m in lt.product_layers(model)]
    assert [pol.layer_param(d) for d in depths] == [1.0] * 4
    _train(model, pol, data, epochs=2)
    betas = [pol.layer_param(d) for d in depths]
    assert all(b != 1.0 for b in betas), betas
    assert pol.layer_param(99) is None
    bits_first, bits_last = pol.history[0], pol.history[-1]
    assert [b[0] for b in bits_first] == [8] * 4 and any(b[0] < 8 for b in bits_last)
    pol.before_step()  # the learned betas decide the next step's bits: clamp(round(beta * bmax_fwd))
    assert [m.precision.bits[:2] for m in lt.product_layers(model)] == [
        (int(np.clip(np.rint(b * 8), 3, 8)),) * 2 for b in betas]
    print("LDP betas after 8 steps:", [round(b, 3) for b in betas])


@pytest.mark.parametrize("kind", ["static", "sbm", "pfq", "dpc_adaptive", "dpc_cpt", "factor"])
def test_every_kind_runs_on_a_converted_model(kind):
    model, data = _model(), _data(3)
    cfg = {"kind": kind}
    if kind == "pfq":
        cfg["pfq_interval"] = 1
    if kind == "sbm":
        cfg["sbm_bifurcation"] = True
    pol = lt.Policy(model, cfg, iterations_per_epoch=3, epochs=2)
    _train(model, pol, data, epochs=2)
    assert len(pol.history) == 6
    b, b32 = lt.bitops(model)
    if kind == "static":
        assert b == b32
    else:
        assert b < b32
    if kind == "sbm":
        assert pol.history[0][1][:3] == (8, 8, 8) and pol.history[0][0] == (32, 32, 32, 32)
        assert model[2].precision.e_dw == "int16/minmax/tensor"
    if kind == "factor":  # allocated from the forward statistics after the first step
        assert pol.history[0][1] == (8, 8, 8, 32) and pol.history[1] != pol.history[0]


def test_state_resumes_and_errors():
    model, data = _model(), _data(4)
    pol = lt.Policy(model, {"kind": "ldp", "keep_fp32": "none"}, iterations_per_epoch=4)
    _train(model, pol, data[:2])
    s = pol.state()
    pol2 = lt.Policy(model, {"kind": "ldp", "keep_fp32": "none"}, iterations_per_epoch=4)
    pol2.set_state(s)
    assert pol2.iteration == pol.iteration and pol2.layer_param(0) == pol.layer_param(0)
    with pytest.raises(ValueError, match="not one of this policy"):
        pol2.set_state({"iteration": 0, "epoch": 0, "policy": lt.Policy(model, "cpt", iterations_per_epoch=4).state()["policy"]})
    with pytest.raises(Exception, match="bmin_fwd"):
        lt.Policy(model, {"kind": "cpt", "bmin_fwd": 9}, iterations_per_epoch=4)
    with pytest.raises(ValueError, match="unknown precision policy"):
        lt.Policy(model, "nosuch", iterations_per_epoch=4)
    with pytest.raises(ValueError, match="convert"):
        lt.Policy(torch.nn.Sequential(torch.nn.ReLU()), "cpt", iterations_per_epoch=1)


def test_policy_on_attention_projections():
    torch.manual_seed(4)
    m = lt.convert(torch.nn.Sequential(torch.nn.MultiheadAttention(8, 2)), {"keep_first_last": False})
    pol = lt.Policy(m, {"kind": "dpc", "cos_bounds": False, "bmin_fwd": 4, "keep_fp32": "none"},
                    iterations_per_epoch=1)
    assert [l.lpsim_name for l in pol.layers] == ["0.q_proj", "0.k_proj", "0.v_proj", "0.out_proj"]
    x = torch.randn(5, 2, 8)
    pol.before_step()
    y, _ = m[0](x, x, x)
    y.sum().backward()
    pol.after_backward()
    pol.after_step(0.0)
    assert m[0].q_proj.precision.w == "int6/minmax/channel" and m[0].qk.precision.w is None

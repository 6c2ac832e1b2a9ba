"""The ResNet-20 proof at test size: a plain-PyTorch ResNet-20 (lpsim.torch.zoo.ResNet, nn's layer names)
with lpsim's nn initial weights, converted, against lpsim's own nn model (zoo.Native) on one batch: the
same per-layer precisions and keys, and every product (forward, dX, dW of all 22 layers) bit-identical
when fed nn's own activations and errors; the whole step close in fp32 (BatchNorm and the loss are
torch's on one side, nn's on the other)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lpsim.torch as lt  # noqa: E402
from lpsim.torch import zoo  # noqa: E402

INT8 = {"w": "int8/minmax/channel", "w_round": "sr", "a": "int8/minmax/tensor", "e": "int8/minmax/tensor",
        "mac_fwd": "fp16.fp32", "mac_bwd_data": "in=bf16,acc=fp16", "mac_bwd_weight": "in=bf16,in_round=sr,acc=fp32",
        "layer": {"stage2.*": {"w": "int4/minmax/channel"}}}


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_resnet20_products_bit_identical_to_native_nn():
    native = zoo.Native(INT8, seed=3)
    model = zoo.ResNet(20)
    native.copy_to(model)
    lt.convert(model, INT8, seed=3)
    layers = lt.product_layers(model)
    assert [m.lpsim_name for m in layers] == native.layer_names()
    assert [repr(m.precision) for m in layers] == [repr(p) for p in native.precisions()]
    x, y = _batch()
    native.m.set_record(True)
    native.step(x, y)
    rec = native.m.recorded()
    grads = native.grads()
    counts = {"fwd": 0, "dx": 0, "dw": 0}
    for m, r in zip(layers, rec):
        xin = torch.from_numpy(r["x"]).requires_grad_(r["dx"] is not None)
        w = m.weight.detach().clone().requires_grad_()
        if isinstance(m, lt.Conv2d):
            out = lt.conv2d(xin, w, None, m.stride[0], m.padding[0], m.groups, m.precision, iteration=r["iteration"] - 1)
        else:
            b = m.bias.detach().clone().requires_grad_()
            out = lt.linear(xin, w, b, m.precision, iteration=r["iteration"] - 1)
        assert torch.equal(out.detach(), torch.from_numpy(r["y"])), r["name"]
        out.backward(torch.from_numpy(r["dy"]))
        assert torch.equal(w.grad, grads[r["name"] + ".weight"]), r["name"]
        counts["fwd"] += out.numel()
        counts["dw"] += w.grad.numel()
        if r["dx"] is not None:
            assert torch.equal(xin.grad, torch.from_numpy(r["dx"])), r["name"]
            counts["dx"] += xin.grad.numel()
    assert rec[0]["dx"] is None  # the stem computes no input gradient, in nn and in the bridge
    print(f"ResNet-20, 22 layers, batch 8: bit-identical to nn: {counts['fwd']} outputs, {counts['dx']} dX, "
          f"{counts['dw']} dW values")
    # the converted torch model on the same batch: BatchNorm and the loss are torch's, so close, not equal
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    nloss, _ = native.step(x, y)
    assert abs(loss.item() - nloss) < 0.05 * abs(nloss)
    b, b32 = lt.bitops(model)
    nb, nb32 = native.m.bitops()
    assert b32 == nb32 and abs(b - nb) / nb < 1e-12


def test_resnet20_fp32_step_matches_native_closely():
    native = zoo.Native({}, seed=1)
    model = zoo.ResNet(20)
    native.copy_to(model)
    lt.convert(model, {}, seed=1)
    x, y = _batch(16, 1)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    nloss, _ = native.step(x, y)
    assert abs(loss.item() - nloss) < 1e-4
    g = native.grads()
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, g[k], rtol=1e-3, atol=1e-4), k
    native.copy_from(model)
    assert all(torch.equal(v, dict(model.named_parameters())[k].detach()) for k, v in native.state_dict().items())

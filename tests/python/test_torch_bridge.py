"""lpsim.torch: quantize as an autograd op, the emulated products and their backward against lpsim's own
primitives (nn's rules rebuilt from lpsim.matmul / conv2d / quantizers and draw_key), gradient checks,
thread-count invariance, batched matmul, convert() and its per-layer globs, and the errors."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lpsim  # noqa: E402
import lpsim.torch as lt  # noqa: E402
from lpsim import _core  # noqa: E402

# Every quantizer and two MACs stochastic: the random keys of each draw are exercised.
SR = dict(w="int8/minmax/channel", w_round="sr", a="int8/minmax/tensor", a_round="sr", e="int8/minmax/tensor",
          e_round="sr", g="bf16", g_round="sr", mac_fwd="in=bf16,in_round=sr,acc=fp16,acc_round=sr16",
          mac_bwd_data="in=bf16,acc=fp16", mac_bwd_weight="in=bf16,in_round=sr,acc=e8m10,acc_round=sr16",
          seed=11, stream=2048)


def _q(x, spec, rounding, key, axis):
    if spec is None:
        return np.array(x, np.float32, copy=True)
    return _core.quantize_tensor(np.ascontiguousarray(x, np.float32), spec, rounding, key[0], key[1], axis)


def _keys(p, it):
    return {r: lt.draw_key(p["seed"], p["stream"], it, r) for r in ("w", "a", "e", "g", "fwd", "bwd_data", "bwd_weight")}


def _mm(a, b, mac, key):
    return lpsim.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), mac, seed=key[0], stream=key[1])[0]


def _seq_sum(x, axes):
    """fp64 sum in index order (nn's bias gradient), rounded to float32."""
    x = np.moveaxis(np.asarray(x, np.float64), axes, list(range(len(axes)))).reshape(-1, *np.delete(x.shape, axes))
    return np.cumsum(x, axis=0)[-1].astype(np.float32)


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and not np.isnan(a).any() and np.array_equal(a, b)


# --------------------------------------------------------------------------- imports


def test_import_lpsim_does_not_import_torch():
    code = "import sys, lpsim; lpsim.quantize([1.0], 'bf16'); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


# --------------------------------------------------------------------------- quantize


@pytest.mark.parametrize("fmt,rounding", [("e4m3fn", "sr"), ("bf16", "rne"), ("fx8.4:sat", "sr"), ("e5m2", "rz")])
def test_quantize_absolute_equals_lpsim_quantize(fmt, rounding):
    x = torch.randn(1000, dtype=torch.float32) * 3
    y = lt.quantize(x, fmt, rounding, seed=5, stream=2)
    want = lpsim.quantize(x.numpy(), fmt, rounding, seed=5, stream=2)
    assert y.dtype == torch.float32 and _bits_equal(y.numpy(), np.asarray(want))
    x64 = x.double() / 7
    y64 = lt.quantize(x64, fmt, rounding, seed=5)
    assert y64.dtype == torch.float64
    assert _bits_equal(y64.numpy(), lpsim.quantize(x64.numpy(), fmt, rounding, seed=5))


@pytest.mark.parametrize("fmt", ["int8/minmax/channel", "int4/absmax/tensor", "mxfp8e4m3", "mxfp4", "mxint8",
                                 "e4m3/absmax/block32"])
def test_quantize_scaled_and_mx_formats(fmt):
    x = torch.randn(8, 64)
    y = lt.quantize(x, fmt, "sr", seed=3)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert _bits_equal(y.numpy(), _core.quantize_tensor(x.numpy(), fmt, "sr", 3, 0, 0))
    assert not torch.equal(y, x)
    if fmt == "int8/minmax/channel":  # per row: at most 2^8 levels
        assert all(len(torch.unique(r)) <= 256 for r in y)
    # channel axis 1 of a 2-D tensor is the columns: transposing moves the channels
    if fmt.endswith("/channel"):
        yt = lt.quantize(x.t().contiguous(), fmt, "rne", channel_axis=1)
        assert torch.equal(yt.t(), lt.quantize(x, fmt, "rne", channel_axis=0))


def test_quantize_straight_through_and_quantized_gradient():
    x = torch.randn(50, requires_grad=True)
    g = torch.randn(50)
    lt.quantize(x, "e4m3fn", "sr", seed=1).backward(g)
    assert torch.equal(x.grad, g)  # straight through: the gradient untouched
    x.grad = None
    lt.quantize(x, "e4m3fn", "sr", seed=1, grad="e5m2", grad_rounding="sr").backward(g)
    want = lpsim.quantize(g.numpy(), "e5m2", "sr", seed=2)  # the gradient's key: seed + 1
    assert _bits_equal(x.grad.numpy(), want) and not torch.equal(x.grad, g)


def test_quantize_zero_copy_and_in_place():
    x = torch.randn(4096)
    assert lt.functional._f32(x).ctypes.data == x.data_ptr()  # the array views the tensor's memory
    ptr = x.data_ptr()
    want = lpsim.quantize(x.numpy().copy(), "bf16", "sr", seed=9)
    assert lt.quantize_(x, "bf16", "sr", seed=9) is x and x.data_ptr() == ptr
    assert _bits_equal(x.numpy(), want)
    y = torch.randn(100, dtype=torch.float64)
    want = lpsim.quantize(y.numpy().copy(), "e4m3fn")
    assert lt.quantize_(y, "e4m3fn") is y and _bits_equal(y.numpy(), want)


def test_quantize_errors_name_the_problem():
    with pytest.raises(lpsim.FormatError, match="int9x"):
        lt.quantize(torch.randn(3), "int9x")
    with pytest.raises(TypeError, match="torch.int64"):
        lt.quantize(torch.arange(3), "bf16")
    with pytest.raises(TypeError, match="torch.float16"):
        lt.quantize(torch.randn(3).half(), "bf16")
    with pytest.raises(ValueError, match="channel_axis 2"):
        lt.quantize(torch.randn(3, 4), "int8/minmax/channel", channel_axis=2)
    with pytest.raises(lpsim.FormatError, match="e9m9x"):
        lt.quantize(torch.randn(3), "bf16", grad="e9m9x")


def test_plain_lpsim_functions_take_torch_tensors():
    a, b = torch.randn(6, 40), torch.randn(40, 5)
    c, st = lpsim.matmul(a, b, "fp16.fp32")
    assert isinstance(c, torch.Tensor) and st.k == 40
    assert _bits_equal(c.numpy(), lpsim.matmul(a.numpy(), b.numpy(), "fp16.fp32")[0])
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    w = torch.randn(4, 3, 3, 3)
    y, _ = lpsim.conv2d(x, w, "bf16.fp32", padding=1)
    assert isinstance(y, torch.Tensor) and _bits_equal(y.numpy(),
                                                       lpsim.conv2d(x.detach().numpy(), w.numpy(), "bf16.fp32", padding=1)[0])
    q = lpsim.quantize(a, "e4m3fn", "sr", seed=4)
    assert isinstance(q, torch.Tensor) and _bits_equal(q.numpy(), lpsim.quantize(a.numpy(), "e4m3fn", "sr", seed=4))
    t = a.clone()
    assert lpsim.quantize(t, "bf16", out=t) is t and torch.equal(t, lt.quantize(a, "bf16"))


# --------------------------------------------------------------------------- linear: nn's rules, bit for bit


def _linear_reference(x, w, b, dy, p, it):
    """nn::Linear's forward and backward rebuilt from lpsim's primitives (nn/layers/linear.cpp's order)."""
    k = _keys(p, it)
    wq = _q(w, p.get("w"), p.get("w_round", "rne"), k["w"], 0)
    xq = _q(x, p.get("a"), p.get("a_round", "rne"), k["a"], 1)
    y = _mm(wq, xq.T, p["mac_fwd"], k["fwd"]).T + b[None, :]
    e = _q(dy, p.get("e"), p.get("e_round", "sr"), k["e"], 1)
    db = _seq_sum(e, [0])
    dw = _q(_mm(e.T, xq, p["mac_bwd_weight"], k["bwd_weight"]), p.get("g"), p.get("g_round", "rne"), k["g"], 0)
    dx = _mm(wq.T, e.T, p["mac_bwd_data"], k["bwd_data"]).T
    return y, dx, dw, db


@pytest.mark.parametrize("p", [SR, dict(SR, w="e4m3fn", a="e5m2", e="e5m2", g=None, mac_fwd="h800.fp8",
                                        mac_bwd_data="hopper.fp8", mac_bwd_weight="fp32", stream=7)])
def test_linear_forward_and_gradients_bit_identical_to_nn_rules(p):
    g = torch.Generator().manual_seed(0)
    n, fin, fout, it = 33, 70, 21, 3
    x = torch.randn(n, fin, generator=g, requires_grad=True)
    w = torch.randn(fout, fin, generator=g, requires_grad=True)
    b = torch.randn(fout, generator=g, requires_grad=True)
    dy = torch.randn(n, fout, generator=g)
    y = lt.linear(x, w, b, p, iteration=it)
    y.backward(dy)
    ry, rdx, rdw, rdb = _linear_reference(x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), dy.numpy(), p, it)
    checks = {"y": (y, ry), "dx": (x.grad, rdx), "dw": (w.grad, rdw), "db": (b.grad, rdb)}
    same = {k: _bits_equal(t.detach().numpy(), r) for k, (t, r) in checks.items()}
    print("linear bit identity:", {k: f"{np.asarray(r).size} values {'equal' if s else 'DIFFER'}"
                                   for (k, (_, r)), s in zip(checks.items(), same.values())})
    assert all(same.values()), same
    # another step draws other bits: the rebuilt model with the wrong step disagrees (the test can fail)
    assert not _bits_equal(y.detach().numpy(), _linear_reference(x.detach().numpy(), w.detach().numpy(),
                                                                 b.detach().numpy(), dy.numpy(), p, it + 1)[0])


def test_linear_leading_dims_and_float64():
    x = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    lin = torch.nn.Linear(16, 8).double()
    y = lt.linear(x, lin.weight, lin.bias, SR)
    assert y.shape == (2, 5, 8) and y.dtype == torch.float64
    y2 = lt.linear(x.float().reshape(10, 16), lin.weight.float(), lin.bias.float(), SR).reshape(2, 5, 8)
    assert torch.equal(y.float(), y2)
    y.sum().backward()
    assert x.grad.dtype == torch.float64 and lin.weight.grad.dtype == torch.float64


# --------------------------------------------------------------------------- conv2d: nn's rules, bit for bit


def _im2col(x, k, stride, pad, g, groups):
    b, cin, h, w = x.shape
    cg = cin // groups
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    xp = np.zeros((b, cin, h + 2 * pad, w + 2 * pad), np.float32)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    cols = np.empty((cg, k, k, b, oh, ow), np.float32)
    for r in range(k):
        for c in range(k):
            cols[:, r, c] = xp[:, g * cg:(g + 1) * cg, r:r + stride * oh:stride, c:c + stride * ow:stride].transpose(1, 0, 2, 3)
    return cols.reshape(cg * k * k, b * oh * ow), oh, ow


def _conv_reference(x, w, bias, dy, stride, pad, groups, p, it):
    """nn::Conv2d rebuilt: sim's conv2d forward, and the lowered backward products per group (stream g)."""
    kk = _keys(p, it)
    cout, cg, k, _ = w.shape
    og, K = cout // groups, cg * k * k
    wq = _q(w.reshape(cout, K), p.get("w"), p.get("w_round", "rne"), kk["w"], 0).reshape(w.shape)
    xq = _q(x, p.get("a"), p.get("a_round", "rne"), kk["a"], 1)
    y = lpsim.conv2d(xq, wq, p["mac_fwd"], stride=stride, padding=pad, groups=groups, seed=kk["fwd"][0])[0]
    y = y + bias[None, :, None, None]
    e = _q(dy, p.get("e"), p.get("e_round", "sr"), kk["e"], 1)
    db = _seq_sum(e, [0, 2, 3])
    b = x.shape[0]
    dw = np.empty((cout, K), np.float32)
    dxp = np.zeros((b, x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad), np.float32)
    for g in range(groups):
        cols, oh, ow = _im2col(xq, k, stride, pad, g, groups)
        d = e[:, g * og:(g + 1) * og].transpose(1, 0, 2, 3).reshape(og, -1)
        dw[g * og:(g + 1) * og] = _mm(d, cols.T, p["mac_bwd_weight"], (kk["bwd_weight"][0], g))
        dcols = _mm(wq.reshape(cout, K)[g * og:(g + 1) * og].T, d, p["mac_bwd_data"], (kk["bwd_data"][0], g))
        dcols = dcols.reshape(cg, k, k, b, oh, ow)
        for ci in range(cg):
            for r in range(k):
                for c in range(k):
                    dxp[:, g * cg + ci, r:r + stride * oh:stride, c:c + stride * ow:stride] += dcols[ci, r, c]
    dw = _q(dw, p.get("g"), p.get("g_round", "rne"), kk["g"], 0).reshape(w.shape)
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return y, dx, dw, db


@pytest.mark.parametrize("stride,pad,groups,p", [(1, 1, 1, SR), (2, 1, 2, SR), (1, 0, 1, dict(SR, mac_fwd="bf16.fp32",
                                                 mac_bwd_data="fp32", mac_bwd_weight="fp32", e_round="rne"))])
def test_conv2d_forward_and_gradients_bit_identical_to_nn_rules(stride, pad, groups, p):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 9, 9, generator=g, requires_grad=True)
    w = torch.randn(6, 4 // groups, 3, 3, generator=g, requires_grad=True)
    b = torch.randn(6, generator=g, requires_grad=True)
    y = lt.conv2d(x, w, b, stride, pad, groups, p, iteration=2)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    ry, rdx, rdw, rdb = _conv_reference(x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), dy.numpy(),
                                        stride, pad, groups, p, 2)
    checks = {"y": (y, ry), "dx": (x.grad, rdx), "dw": (w.grad, rdw), "db": (b.grad, rdb)}
    same = {k: _bits_equal(t.detach().numpy(), r) for k, (t, r) in checks.items()}
    print("conv2d bit identity:", {k: f"{np.asarray(r).size} values {'equal' if s else 'DIFFER'}"
                                   for (k, (_, r)), s in zip(checks.items(), same.values())})
    assert all(same.values()), same


# --------------------------------------------------------------------------- gradient checks


def _dyadic(shape, gen):
    return (torch.randint(-4, 5, shape, generator=gen) / 4).double().requires_grad_()


def test_gradcheck_products_exact_in_fp32():
    # Small dyadic values with perturbations of 2^-8: every product and sum is exact in the fp32 MAC, so
    # the finite differences are exact and gradcheck compares the backward to them.
    g = torch.Generator().manual_seed(2)
    opts = dict(eps=2.0 ** -8, atol=1e-12, rtol=0)
    x, w, b = _dyadic((4, 5), g), _dyadic((3, 5), g), _dyadic((3,), g)
    assert torch.autograd.gradcheck(lambda x, w, b: lt.linear(x, w, b), (x, w, b), **opts)
    xc, wc, bc = _dyadic((2, 4, 5, 5), g), _dyadic((6, 2, 3, 3), g), _dyadic((6,), g)
    assert torch.autograd.gradcheck(lambda x, w, b: lt.conv2d(x, w, b, 2, 1, 2), (xc, wc, bc), **opts)
    a3, b3 = _dyadic((2, 3, 4), g), _dyadic((2, 4, 5), g)
    assert torch.autograd.gradcheck(lambda a, b: lt.bmm(a, b), (a3, b3), **opts)
    assert torch.autograd.gradcheck(lambda a, b: lt.matmul(a, b), (_dyadic((3, 4), g), _dyadic((4, 2), g)), **opts)


def test_gradcheck_can_fail():
    # the same check on a product that rounds (bf16 operands): the backward no longer matches exactly
    g = torch.Generator().manual_seed(3)
    x, w = (torch.randn(4, 5, generator=g) * 3).double().requires_grad_(), torch.randn(3, 5, generator=g).double()
    w.requires_grad_()
    ok = torch.autograd.gradcheck(lambda x, w: lt.linear(x, w, None, {"mac": "in=fp8e4m3,acc=fp32"}), (x, w),
                                  eps=2.0 ** -8, atol=1e-12, rtol=0, raise_exception=False)
    assert not ok


# --------------------------------------------------------------------------- threads, batches


THREADS_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch, lpsim.torch as lt
    p = dict(w="int8/minmax/channel", w_round="sr", a="int8/minmax/tensor", a_round="sr", e="int8/minmax/tensor",
             g="bf16", g_round="sr", mac_fwd="in=bf16,in_round=sr,acc=fp16,acc_round=sr16", mac_bwd_data="fp16.fp32",
             mac_bwd_weight="in=bf16,acc=e8m10,acc_round=sr16", seed=3, stream=1024)
    g = torch.Generator().manual_seed(0)
    out = {}
    x = torch.randn(16, 8, 24, 24, generator=g, requires_grad=True)
    w = torch.randn(32, 8, 3, 3, generator=g, requires_grad=True)
    y = lt.conv2d(x, w, None, 1, 1, 1, p)
    y.backward(torch.randn(y.shape, generator=g))
    out.update(cy=y.detach().numpy(), cdx=x.grad.numpy(), cdw=w.grad.numpy())
    a = torch.randn(8, 64, 96, generator=g, requires_grad=True)
    b = torch.randn(8, 96, 64, generator=g, requires_grad=True)
    z = lt.matmul(a, b, p)
    z.backward(torch.randn(z.shape, generator=g))
    out.update(z=z.detach().numpy(), da=a.grad.numpy(), db=b.grad.numpy())
    np.savez(sys.argv[1], **out)
""")


def test_results_identical_for_any_thread_count(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(THREADS_SCRIPT)
    res = {}
    for n in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(n))
        subprocess.run([sys.executable, str(script), str(tmp_path / f"t{n}.npz")], check=True, env=env)
        res[n] = np.load(tmp_path / f"t{n}.npz")
    for k in res[1].files:
        assert _bits_equal(res[1][k], res[2][k]), k
    print("thread invariance:", {k: res[1][k].size for k in res[1].files})


def test_batched_matmul_is_a_loop_of_matmuls():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 3, 7, 20, generator=g, requires_grad=True)
    b = torch.randn(20, 9, generator=g, requires_grad=True)  # broadcast over the batch
    z = lt.matmul(a, b, SR, iteration=1)
    dz = torch.randn(z.shape, generator=g)
    z.backward(dz)
    a2 = a.detach().reshape(6, 7, 20).clone().requires_grad_()
    bs = [b.detach().clone().requires_grad_() for _ in range(6)]
    for i in range(6):
        s, st = lt.batch_key(SR["seed"], SR["stream"], i)
        zi = lt.matmul(a2[i], bs[i], dict(SR, seed=s, stream=st), iteration=1)
        assert _bits_equal(z.detach().reshape(6, 7, 9)[i].numpy(), zi.detach().numpy()), i
        zi.backward(dz.reshape(6, 7, 9)[i])
    assert _bits_equal(a.grad.reshape(6, 7, 20).numpy(), a2.grad.numpy())
    # the broadcast operand's gradient is the sum of the matrices' (torch's expand backward)
    assert torch.allclose(b.grad, sum(x.grad for x in bs), rtol=1e-5, atol=1e-5)
    # a batch of one is the plain product
    one = lt.matmul(a.detach()[0, :1], b.detach(), SR, iteration=1)
    assert torch.equal(one[0], z.detach()[0, 0])


def test_matmul_2d_is_linear_with_b_transposed():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(5, 12, generator=g), torch.randn(12, 4, generator=g)
    assert torch.equal(lt.matmul(a, b, SR), lt.linear(a, b.t(), None, SR))


# --------------------------------------------------------------------------- modules and convert


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.stage1 = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU())
        self.stage2 = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), torch.nn.ReLU())
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.stage2(self.stage1(torch.relu(self.stem(x)))).flatten(1))


def test_convert_swaps_layers_with_config_rules():
    net = Net()
    w_before = net.stage1[0].weight
    prec = {"w": "int8/minmax/channel", "a": "int8/minmax/tensor", "e": "int8/minmax/tensor",
            "mac": "fp16.fp32", "layer": {"stage2.*": {"w": "int4/minmax/channel", "mac_fwd": "bf16.fp32"}}}
    lt.convert(net, prec, seed=7)
    layers = lt.product_layers(net)
    assert [m.lpsim_name for m in layers] == ["stem", "stage1.0", "stage2.0", "fc"]
    assert [type(m) for m in layers] == [lt.Conv2d, lt.Conv2d, lt.Conv2d, lt.Linear]
    assert net.stage1[0].weight is w_before  # parameters shared: optimizers keep working
    assert [m.depth for m in layers] == [0, 1, 2, 3]
    assert [(m.precision.seed, m.precision.stream) for m in layers] == [(7, i * 1024) for i in range(4)]
    # first and last stay fp32 (keep_first_last), the glob refines stage2
    assert layers[0].precision.w is None and layers[3].precision.w is None
    assert layers[1].precision.w == "int8/minmax/channel" and layers[1].precision.e_round == "sr"
    assert layers[2].precision.w == "int4/minmax/channel"
    assert layers[2].precision.mac_fwd == _core.MacConfig("bf16.fp32").spelling
    assert layers[1].precision.mac_fwd == _core.MacConfig("fp16.fp32").spelling
    # the same formats as lpsim train resolves from the equivalent config text
    text = ('seed = 7\n[precision]\nw = "int8/minmax/channel"\na = "int8/minmax/tensor"\ne = "int8/minmax/tensor"\n'
            'mac = "fp16.fp32"\n[[layers]]\nmatch = "stage2.*"\nw = "int4/minmax/channel"\nmac_fwd = "bf16.fp32"\n')
    want = _core.layer_precisions(text, "<t>", ["stem", "stage1.0", "stage2.0", "fc"])
    assert [repr(m.precision) for m in layers] == [repr(p) for p in want]
    # the forward is the functional product with the layer's precision and step
    x = torch.randn(2, 1, 8, 8)
    h = torch.relu(net.stem(x))
    ref = lt.conv2d(h, net.stage1[0].weight, net.stage1[0].bias, 1, 1, 1, layers[1].precision, name="stage1.0")
    assert torch.equal(net.stage1[0](h), ref)


def _train(net, steps=30):
    torch.manual_seed(1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_converted_model_trains_and_counts_bitops():
    torch.manual_seed(0)
    fp32 = _train(Net())
    torch.manual_seed(0)
    net = lt.convert(Net(), {"w": "int8/minmax/channel", "a": "int8/minmax/tensor", "e": "int8/minmax/tensor",
                             "count_events": True})
    losses = _train(net)
    assert losses[-1] < 0.5 * losses[0]
    assert abs(losses[-1] - fp32[-1]) < 0.15  # int8 W/A/E follows the fp32 curve on this toy problem
    layers = lt.product_layers(net)
    assert all(m.iteration == 30 and m.steps == 30 for m in layers)
    b, b32 = lt.bitops(net)
    assert 0 < b < b32
    st = lt.layer_stats(net)
    assert [r["name"] for r in st] == ["stem", "stage1.0", "stage2.0", "fc"]
    assert st[0]["bwd_data"] is None  # the input needs no gradient: no dX product, as nn's first layer
    assert st[1]["fwd"]["k"] == 4 * 9 and st[1]["bits_w"] == 8 and st[0]["bits_w"] == 32
    assert st[1]["fwd"]["counts"]["additions"] > 0
    # a middle layer's BitOPs: fwd + dX at 8 x 8 bits, dW at 8 x 8, against 32 x 32
    assert layers[1].bitops / layers[1].bitops_fp32 == pytest.approx(64 / 1024)
    lt.reset_stats(net)
    assert lt.bitops(net) == (0, 0)


def test_module_step_counter_is_the_key_iteration():
    lin = lt.Linear(10, 4, precision=SR, name="fc", depth=1)
    x = torch.randn(6, 10)
    y0 = lin(x)
    y0.sum().backward()
    assert lin.iteration == 1
    y1 = lin(x)
    assert torch.equal(y0, lt.linear(x, lin.weight, lin.bias, SR, iteration=0))
    assert torch.equal(y1, lt.linear(x, lin.weight, lin.bias, SR, iteration=1))
    assert not torch.equal(y0, y1)  # fresh stochastic rounding every step
    # two forwards before one backward (shared weights): each call keeps its own saved tensors
    lin.zero_grad()
    (lin(x).sum() + lin(2 * x).sum()).backward()
    assert torch.isfinite(lin.weight.grad).all()


def test_quantizer_module():
    q = lt.Quantizer("e4m3fn", "sr", seed=3, stream=5)
    x = torch.randn(4, 3, requires_grad=True)
    y0, y1 = q(x), q(x)
    s, st = lt.draw_key(3, 5, 0, "a")
    assert torch.equal(y0, lt.quantize(x, "e4m3fn", "sr", s, st)) and q.iteration == 2
    assert not torch.equal(y0, y1)
    q.eval()
    q(x)
    assert q.iteration == 2


def test_convert_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"stage9\.\*.*stem, stage1\.0, stage2\.0, fc"):
        lt.convert(Net(), {"layer": {"stage9.*": {"w": "int4/minmax/channel"}}})
    with pytest.raises(ValueError, match="int9q"):
        lt.convert(Net(), {"w": "int9q"})
    with pytest.raises(KeyError, match="wx"):
        lt.convert(Net(), {"wx": "int8/minmax/channel"})
    with pytest.raises(ValueError, match="dil.*dilation"):
        lt.convert(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=2), torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="no nn.Linear, nn.Conv2d or nn.MultiheadAttention"):
        lt.convert(torch.nn.ReLU())


def test_product_errors_name_the_problem():
    w = torch.randn(3, 5)
    with pytest.raises(ValueError, match=r"\(4, 6\).*\(3, 5\)"):
        lt.linear(torch.randn(4, 6), w)
    with pytest.raises(TypeError, match="torch.int32"):
        lt.linear(torch.zeros(4, 5, dtype=torch.int32), w)
    with pytest.raises(ValueError, match="square"):
        lt.conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 2))
    with pytest.raises(ValueError, match="do not align"):
        lt.matmul(torch.randn(2, 3), torch.randn(4, 2))
    with pytest.raises(TypeError, match="unknown key 'wq'"):
        lt.linear(torch.randn(4, 5), w, None, {"wq": "bf16"})
    with pytest.raises(ValueError, match="nope"):
        lt.linear(torch.randn(4, 5), w, None, {"mac": "nope"})


def test_convert_from_config_text_and_running_range():
    text = ('seed = 3\n[precision]\na = "int8/minmax/tensor"\nkeep_first_last = false\n'
            '[[layers]]\nmatch = "fc"\nw = "e4m3fn"\n')
    net = lt.convert(Net(), text)
    layers = lt.product_layers(net)
    assert all(m.precision.a == "int8/minmax/tensor" for m in layers) and layers[3].precision.w == "e4m3fn"
    assert layers[2].precision.seed == 3 and layers[2].precision.stream == 2048
    # running activation range (SBM/CPT's QuantMeasure): training folds the batch's range in, as nn does
    lin = lt.Linear(6, 2, precision=dict(a="int8/minmax/tensor", a_running_range=True))
    x = torch.linspace(-1, 3, 24).reshape(4, 6)
    lin(x)
    assert lin.a_range == pytest.approx([0.9 * -1, 0.9 * 4])
    lin.eval()
    y = lin(x)
    assert lin.a_range == pytest.approx([0.9 * -1, 0.9 * 4]) and torch.isfinite(y).all()

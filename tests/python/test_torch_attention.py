"""lpsim.torch attention: MultiheadAttention against torch's in fp32 (close: same arithmetic up to BLAS
order), and each of its six products bit-identical to lt.linear / lt.matmul on the same operands with the
same precision and step (forward and parameter gradients, stochastic rounding everywhere); convert() of
nn.MultiheadAttention inside nn.TransformerEncoderLayer (the fused fast path kept off)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lpsim.torch as lt  # noqa: E402

SR = dict(w="int8/minmax/channel", w_round="sr", a="int8/minmax/tensor", a_round="sr", e="int8/minmax/tensor",
          e_round="sr", mac_fwd="in=bf16,in_round=sr,acc=fp16,acc_round=sr16", mac_bwd_data="in=bf16,acc=fp16",
          mac_bwd_weight="in=bf16,in_round=sr,acc=e8m10,acc_round=sr16")


def _pair(batch_first, kdim=None, vdim=None, seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(16, 4, kdim=kdim, vdim=vdim, batch_first=batch_first)
    with torch.no_grad():
        ref.in_proj_bias.normal_() if ref.in_proj_bias is not None else None
        ref.out_proj.bias.normal_()
    twin = torch.nn.MultiheadAttention(16, 4, kdim=kdim, vdim=vdim, batch_first=batch_first)
    twin.load_state_dict(ref.state_dict())
    return ref, lt.convert(torch.nn.Sequential(twin), {"keep_first_last": False})[0]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("separate", [False, True])
def test_mha_fp32_matches_torch(batch_first, separate):
    kd, vd = (12, 10) if separate else (None, None)
    ref, mha = _pair(batch_first, kd, vd)
    assert isinstance(mha, lt.MultiheadAttention) and isinstance(mha, torch.nn.MultiheadAttention)
    assert [n for n, _ in mha.named_children()] == list(lt.MultiheadAttention._PRODUCTS)
    x, k, v = torch.randn(5, 3, 16), torch.randn(7, 3, kd or 16), torch.randn(7, 3, vd or 16)
    if batch_first:
        x, k, v = (t.transpose(0, 1) for t in (x, k, v))
    mask = torch.rand(5, 7) > 0.7
    kpm = torch.zeros(3, 7, dtype=torch.bool)
    kpm[1, 5:] = True
    for avg in (True, False):
        y, w = mha(x, k, v, attn_mask=mask, key_padding_mask=kpm, average_attn_weights=avg)
        yr, wr = ref(x, k, v, attn_mask=mask, key_padding_mask=kpm, average_attn_weights=avg)
        assert y.shape == yr.shape and w.shape == wr.shape
        assert torch.allclose(y, yr, atol=1e-5) and torch.allclose(w, wr, atol=1e-6)
    (y * torch.arange(y.numel()).view(y.shape).sin()).sum().backward()
    (yr * torch.arange(yr.numel()).view(yr.shape).sin()).sum().backward()
    for (n, p), (n2, p2) in zip(mha.named_parameters(), ref.named_parameters()):
        assert n == n2 and torch.allclose(p.grad, p2.grad, atol=1e-5), n
    # unbatched input and a float mask
    fm = torch.randn(5, 7)
    y, w = mha(x[:, 0] if not batch_first else x[0], k[:, 0] if not batch_first else k[0],
               v[:, 0] if not batch_first else v[0], attn_mask=fm)
    yr, wr = ref(x[:, 0] if not batch_first else x[0], k[:, 0] if not batch_first else k[0],
                 v[:, 0] if not batch_first else v[0], attn_mask=fm)
    assert torch.allclose(y, yr, atol=1e-5) and torch.allclose(w, wr, atol=1e-6)


def test_mha_products_bit_identical_to_functional():
    """Each product is lt.linear / lt.matmul with that layer's precision and step: rebuilt by hand."""
    torch.manual_seed(1)
    twin = torch.nn.MultiheadAttention(16, 4)
    with torch.no_grad():
        twin.in_proj_bias.normal_()
    m = torch.nn.Sequential(twin)
    lt.convert(m, dict(SR, keep_first_last=False), seed=5)
    mha = m[0]
    x = torch.randn(6, 2, 16)
    mask = torch.rand(6, 6) > 0.8
    gy = torch.randn(6, 2, 16)
    out = {}
    for step in range(2):  # the second step draws new bits: the step counter is followed
        for p in m.parameters():
            p.grad = None
        y, _ = mha(x, x, x, attn_mask=mask)
        y.backward(gy)
        out[step] = (y.detach().clone(), {n: p.grad.clone() for n, p in mha.named_parameters()})
    assert not torch.equal(out[0][0], out[1][0])

    E, H, L, N = 16, 4, 6, 2
    hd = E // H
    W = mha.in_proj_weight.detach().clone().requires_grad_()
    B = mha.in_proj_bias.detach().clone().requires_grad_()
    Wo = mha.out_proj.weight.detach().clone().requires_grad_()
    Bo = mha.out_proj.bias.detach().clone().requires_grad_()
    prec = {n: getattr(mha, n).precision for n in lt.MultiheadAttention._PRODUCTS}
    assert len({(p.seed, p.stream) for p in prec.values()}) == 6  # a layer key each
    compared = 0
    for step in range(2):
        kw = dict(iteration=step)
        q = lt.linear(x, W[:E], B[:E], prec["q_proj"], **kw)
        k = lt.linear(x, W[E:2 * E], B[E:2 * E], prec["k_proj"], **kw)
        v = lt.linear(x, W[2 * E:], B[2 * E:], prec["v_proj"], **kw)
        q, k, v = (t.reshape(L, N * H, hd).transpose(0, 1) for t in (q, k, v))
        s = lt.matmul(q / math.sqrt(hd), k.transpose(1, 2), prec["qk"], **kw)
        s = s + torch.zeros(L, L).masked_fill(mask, float("-inf"))
        o = lt.matmul(torch.softmax(s, -1), v, prec["pv"], **kw)
        y = lt.linear(o.transpose(0, 1).reshape(L * N, E), Wo, Bo, prec["out_proj"], **kw).view(L, N, E)
        W.grad = B.grad = Wo.grad = Bo.grad = None
        y.backward(gy)
        got_y, got_g = out[step]
        assert torch.equal(y.detach(), got_y), step
        for n, t in (("in_proj_weight", W), ("in_proj_bias", B), ("out_proj.weight", Wo), ("out_proj.bias", Bo)):
            assert torch.equal(t.grad, got_g[n]), (step, n)
            compared += t.grad.numel()
        compared += y.numel()
    print(f"MHA rebuilt from lt.linear / lt.matmul: {compared} values bit-identical over 2 steps")
    st = lt.layer_stats(m)
    assert [r["name"] for r in st] == [f"0.{p}" for p in lt.MultiheadAttention._PRODUCTS]
    assert [r["steps"] for r in st] == [2] * 6 and st[0]["params"] == E * E + E and st[3]["params"] == 0
    assert st[3]["fwd"]["k"] == hd and st[4]["fwd"]["k"] == L
    b, b32 = lt.bitops(m)
    assert 0 < b < b32


def test_transformer_encoder_layer_converted_eval_and_train():
    torch.manual_seed(2)
    ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 2)
    model = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 2)
    model.load_state_dict(ref.state_dict())
    lt.convert(model, {"keep_first_last": False})
    names = [m.lpsim_name for m in lt.product_layers(model)]
    assert names[:7] == ["layers.0.self_attn.q_proj", "layers.0.self_attn.k_proj", "layers.0.self_attn.v_proj",
                         "layers.0.self_attn.qk", "layers.0.self_attn.pv", "layers.0.self_attn.out_proj",
                         "layers.0.linear1"] and len(names) == 16
    x = torch.randn(3, 5, 16)
    model.eval(), ref.eval()
    with torch.no_grad():  # torch's fused path would bypass the products; ours must run
        y, yr = model(x), ref(x)
    assert torch.allclose(y, yr, atol=1e-5)
    assert "fwd" in model.layers[1].self_attn.qk.stats
    model.train()
    model(x).sum().backward()
    assert all(m.steps == 1 for m in lt.product_layers(model))


def test_mha_convert_globs_and_refusals():
    m = torch.nn.Sequential(torch.nn.MultiheadAttention(8, 2))
    lt.convert(m, {"keep_first_last": False, "w": "int8/minmax/channel",
                   "layer": {"*.qk": {"w": "fp32", "a": "e4m3fn"}, "0.pv": {"mac": "hopper.fp8"}}})
    a = m[0]
    assert a.qk.precision.w is None and a.qk.precision.a == "e4m3fn" and a.q_proj.precision.w == "int8/minmax/channel"
    assert a.pv.precision.mac_fwd == lt.precision(mac="hopper.fp8").mac_fwd
    lt.convert(m, {"keep_first_last": False})  # converted again: precisions reset, same modules
    assert a is m[0] and a.qk.precision.a is None
    bad = torch.nn.Sequential(torch.nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(ValueError, match="add_zero_attn"):
        lt.convert(bad)


def test_sdpa_functional_causal():
    torch.manual_seed(3)
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 3)
    o, p = lt.scaled_dot_product_attention(q, k, v, is_causal=True, qk=lt.Matmul(), pv=lt.Matmul())
    s = (q @ k.transpose(1, 2)) / 2 + torch.full((5, 5), float("-inf")).triu(1)
    assert torch.allclose(o, torch.softmax(s, -1) @ v, atol=1e-6)
    assert np.allclose(p.sum(-1).numpy(), 1) and (p.triu(1) == 0).all()

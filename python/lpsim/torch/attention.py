"""Attention on the emulated hardware: torch.nn.MultiheadAttention's forward with its six matrix products
(the q, k and v projections, Q K^T, P V and the output projection) as lpsim.torch product layers, and
scaled_dot_product_attention for attentions of one's own. Softmax, masks and dropout stay in fp32."""
from __future__ import annotations

import math

import torch

from . import functional as F
from .modules import Linear, Matmul, ProductModule

__all__ = ["MultiheadAttention", "Projection", "scaled_dot_product_attention"]


class Projection(ProductModule, torch.nn.Module):
    """x @ weight.T + bias as lpsim.torch.linear with a product layer's state, for weights owned elsewhere
    (MultiheadAttention's q, k, v projections are slices of its in_proj_weight)."""

    def __init__(self, *, precision=None, name="proj", depth=-1):
        torch.nn.Module.__init__(self)
        self._lpsim_init(precision, name, depth)
        self._weights = None  # () -> (weight, bias): the tensors a policy reads

    def forward(self, x, weight, bias=None):
        return F.linear(x, weight, bias, layer=self)

    def _lpsim_weight(self):
        return self._weights() if self._weights is not None else (None, None)

    def extra_repr(self):
        return f"lpsim_name={self.lpsim_name!r}, depth={self.depth}, precision={self.precision!r}"


def _float_mask(mask, dtype):
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, *, qk=None, pv=None,
                                 training=True):
    """softmax(q k^T / sqrt(d) + mask) v with both products emulated: qk and pv are lpsim.torch.Matmul modules
    (or None: fp32 torch products). q (..., L, d), k (..., S, d), v (..., S, dv); attn_mask bool (True: masked
    out) or float (added), broadcast to (..., L, S); is_causal masks j > i. q is scaled before its product,
    as torch's MultiheadAttention does. (PyTorch 1.13 has no F.scaled_dot_product_attention to override.)"""
    scores = (qk or torch.matmul)(q / math.sqrt(q.shape[-1]), k.transpose(-2, -1))
    if is_causal:
        L, S = scores.shape[-2], scores.shape[-1]
        causal = torch.ones(L, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(causal, float("-inf"))
    if attn_mask is not None:
        scores = scores + _float_mask(attn_mask, scores.dtype)
    p = torch.softmax(scores, dim=-1)
    if dropout_p > 0 and training:
        p = torch.nn.functional.dropout(p, dropout_p)
    return (pv or torch.matmul)(p, v), p


class MultiheadAttention(torch.nn.MultiheadAttention):
    """torch.nn.MultiheadAttention (same parameters, arguments and results) whose products run on the emulated
    hardware, in forward order: q_proj, k_proj, v_proj (rows 0:E, E:2E, 2E:3E of in_proj_weight, or the separate
    q/k/v_proj_weight; each its own layer with its own scales, as models with separate q/k/v Linear layers),
    qk (Q K^T per sample and head, Q scaled by 1/sqrt(head_dim) first, as torch), pv (P V) and out_proj.
    Masks, softmax and dropout are torch's, in fp32. Not taken: add_bias_kv, add_zero_attn."""

    _PRODUCTS = ("q_proj", "k_proj", "v_proj", "qk", "pv", "out_proj")

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None, *, precision=None, name="attn",
                 depth=0):
        if add_bias_kv or add_zero_attn:
            raise ValueError(f"lpsim.torch.MultiheadAttention {name}: add_bias_kv and add_zero_attn are not taken")
        super().__init__(embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim, vdim, batch_first,
                         device, dtype)
        self._lpsim_products(precision, name, depth)

    @classmethod
    def from_torch(cls, m, precisions=None, name="attn", depth=0):
        """The emulated twin of m sharing its parameters; precisions: one per product (in _PRODUCTS order)
        or one for all."""
        where = f"lpsim.torch.MultiheadAttention {name}"
        if m.bias_k is not None or m.add_zero_attn:
            raise ValueError(f"{where}: add_bias_kv and add_zero_attn are not taken")
        new = cls(m.embed_dim, m.num_heads, m.dropout, m.in_proj_bias is not None, kdim=m.kdim, vdim=m.vdim,
                  batch_first=m.batch_first, device="meta", name=name, depth=depth)
        for k, p in m._parameters.items():
            setattr(new, k, p)
        new.out_proj = m.out_proj
        new._lpsim_products(precisions, name, depth)
        new.train(m.training)
        return new

    def _lpsim_products(self, precisions, name, depth):
        if not isinstance(precisions, (list, tuple)):
            precisions = [precisions] * len(self._PRODUCTS)
        self._packed = self.in_proj_weight is not None
        # TransformerEncoderLayer's fused fast path reads the weights itself; this flag keeps it off.
        self._qkv_same_embed_dim = False
        mods = {}
        for i, (p, pr) in enumerate(zip(self._PRODUCTS, precisions)):
            n, d = f"{name}.{p}", depth + i
            if p in ("qk", "pv"):
                mods[p] = Matmul(precision=pr, name=n, depth=d)
            elif p == "out_proj":
                mods[p] = Linear.from_torch(self.out_proj, pr, n, d)
            else:
                mods[p] = Projection(precision=pr, name=n, depth=d)
                j = i
                mods[p]._weights = lambda j=j: self._proj_weights(j)
        del self._modules["out_proj"]  # re-registered last: module order is forward order
        for p in self._PRODUCTS:
            setattr(self, p, mods[p])
        self.lpsim_name = name

    def _proj_weights(self, j):
        E = self.embed_dim
        if self._packed:
            w = self.in_proj_weight[j * E:(j + 1) * E]
        else:
            w = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[j]
        b = None if self.in_proj_bias is None else self.in_proj_bias[j * E:(j + 1) * E]
        return w, b

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True):
        batched = query.dim() == 3
        if self.batch_first and batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        L, N, E = query.shape
        S, H = key.shape[0], self.num_heads
        hd = E // H
        (wq, bq), (wk, bk), (wv, bv) = (self._proj_weights(j) for j in range(3))
        q = self.q_proj(query, wq, bq)
        k = self.k_proj(key, wk, bk)
        v = self.v_proj(value, wv, bv)
        mask = _float_mask(attn_mask, q.dtype)
        if mask is not None and mask.dim() == 2:
            mask = mask.unsqueeze(0)
        if key_padding_mask is not None:
            kpm = _float_mask(key_padding_mask, q.dtype).view(N, 1, 1, S).expand(-1, H, -1, -1).reshape(N * H, 1, S)
            mask = kpm if mask is None else mask + kpm
        q = q.reshape(L, N * H, hd).transpose(0, 1)
        k = k.reshape(S, N * H, hd).transpose(0, 1)
        v = v.reshape(S, N * H, hd).transpose(0, 1)
        o, p = scaled_dot_product_attention(q, k, v, mask, self.dropout, qk=self.qk, pv=self.pv,
                                            training=self.training)
        o = o.transpose(0, 1).reshape(L * N, E)
        out = self.out_proj(o).view(L, N, E)
        weights = None
        if need_weights:
            weights = p.view(N, H, L, S)
            if average_attn_weights:
                weights = weights.sum(dim=1) / H
            if not batched:
                weights = weights.squeeze(0)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

"""lpsim.torch: the emulated hardware inside any PyTorch model (docs/torch.md).

Importing it needs PyTorch (Debian's python3-torch); the rest of lpsim never imports torch.

- quantize(t, fmt, rounding, seed=...): any format spelling as an autograd op (straight-through gradient,
  or the gradient quantized too); quantize_ in place.
- linear, conv2d, matmul, bmm: autograd functions whose forward, data gradient and weight gradient are
  those of lpsim's own nn layers bit for bit, each product on its own MAC, quantizers on W, A, E, G.
- Linear, Conv2d, Matmul, Quantizer: modules keeping the state nn's layers keep (step counter of the
  random keys, running activation range, statistics, BitOPs).
- Policy(model, config): nn's precision policies (SBM, CPT, PFQ, DPC, LDP, factor-aware) on a converted model.
- MultiheadAttention, scaled_dot_product_attention: attention with its six (two) products emulated.
- convert(model, precision): a model's nn.Linear/nn.Conv2d/nn.MultiheadAttention swapped for those, with per-layer formats by
  name or glob as [[layers]] in run configs; product_layers, layer_stats, bitops, reset_stats.
"""
import torch as _torch  # noqa: F401  (fails the import clearly where PyTorch is absent)

from .attention import MultiheadAttention, Projection, scaled_dot_product_attention
from .convert import bitops, convert, layer_stats, product_layers, reset_stats
from .functional import (LayerPrecision, batch_key, bmm, conv2d, draw_key, linear, matmul, precision, quantize,
                         quantize_)
from .modules import Conv2d, Linear, Matmul, ProductModule, Quantizer
from .policy import Policy

__all__ = ["LayerPrecision", "batch_key", "bitops", "bmm", "conv2d", "convert", "draw_key", "layer_stats", "linear",
           "matmul", "precision", "product_layers", "quantize", "quantize_", "reset_stats", "Conv2d", "Linear",
           "Matmul", "MultiheadAttention", "Policy", "ProductModule", "Projection", "Quantizer", "scaled_dot_product_attention"]

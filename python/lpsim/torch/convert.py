"""lpsim.torch.convert: a PyTorch model's nn.Linear and nn.Conv2d swapped for emulated ones, with the
formats of a run config's [precision] and [[layers]] (docs/config.md), set as lpsim train sets them."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from .. import _core
from ..training import _toml_value
from .attention import MultiheadAttention
from .modules import Conv2d, Linear, ProductModule

__all__ = ["convert", "product_layers", "layer_stats", "bitops", "reset_stats"]

# [precision] keys that mean something for a converted model (master weights belong to lpsim's optimizer).
_KEYS = ("w", "a", "e", "g", "w_round", "a_round", "e_round", "g_round", "mac", "mac_fwd", "mac_bwd_data",
         "mac_bwd_weight", "keep_first_last", "count_events", "measure_error")
_LAYER_KEYS = ("w", "a", "e", "g", "w_round", "a_round", "e_round", "g_round", "round", "mac", "mac_fwd",
               "mac_bwd_data", "mac_bwd_weight")


def _table(d, keys, where):
    lines = []
    for k, v in d.items():
        if k not in keys:
            raise KeyError(f"lpsim.torch.convert: unknown key {where}{k!r} (keys: {', '.join(keys)})")
        lines.append(f"{k} = {_toml_value('' if v is None else v)}")
    return lines


def _config_text(precision, layers, seed):
    """(TOML text of seed, [precision] and [[layers]], source name)."""
    head, source = [], "<convert>"
    if seed is not None:
        head.append(f"seed = {int(seed)}")
    if precision is None:
        precision = {}
    if isinstance(precision, (str, Path)):
        text = str(precision)
        path = Path(text)
        if "\n" not in text and "=" not in text and path.suffix == ".toml":
            text, source = path.read_text(encoding="utf-8"), str(path)
        body = [text]
    elif isinstance(precision, dict):
        precision = dict(precision)
        per_layer = precision.pop("layer", {})
        listed = precision.pop("layers", [])
        if "master" in precision:
            raise KeyError("lpsim.torch.convert: precision.master stores lpsim's own optimizer's weights; "
                           "a converted model keeps PyTorch's optimizer")
        body = ["[precision]"] + _table(precision, _KEYS, "precision.")
        layers = [dict(match=k, **v) for k, v in per_layer.items()] + list(listed) + list(layers or [])
    else:
        raise TypeError(f"lpsim.torch.convert: precision must be a dict of [precision] keys, a TOML text or a "
                        f".toml path, got {type(precision).__name__}")
    for i, o in enumerate(layers or []):
        o = dict(o)
        if "match" not in o:
            raise KeyError(f"lpsim.torch.convert: layers[{i}] has no 'match' (a layer name or glob)")
        body += ["[[layers]]", f"match = {_toml_value(o.pop('match'))}"] + _table(o, _LAYER_KEYS, f"layers[{i}].")
    return "\n".join(head + body) + "\n", source


def _targets(model):
    """(names of its products, path, module) of every nn.Linear / nn.Conv2d / nn.MultiheadAttention in
    registration order; an attention's six products in forward order (q_proj k_proj v_proj qk pv out_proj),
    its out_proj not again on its own."""
    skip = set()
    out = []
    for path, m in model.named_modules():
        if any(path.startswith(s + ".") for s in skip):
            continue
        name = path or type(m).__name__.lower()
        if isinstance(m, torch.nn.MultiheadAttention):
            skip.add(path)
            out.append(([f"{name}.{p}" for p in MultiheadAttention._PRODUCTS], path, m))
        elif isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and not isinstance(m, torch.nn.modules.lazy.LazyModuleMixin):
            out.append(([name], path, m))
    return out


def convert(model, precision=None, *, layers=None, seed=None, inplace=True):
    """Swaps model's nn.Linear and nn.Conv2d for lpsim.torch.Linear / Conv2d (sharing their parameters) and
    returns the model. The i-th product layer in registration order gets depth i and the precision lpsim
    train gives layer i of an nn model: `precision` (a dict of [precision] keys: w a e g, *_round, mac,
    mac_fwd mac_bwd_data mac_bwd_weight, keep_first_last, count_events, measure_error; or a TOML text or
    .toml path of a run config) on every layer with the random key (seed, i * 1024), the first and last
    layers kept fp32 unless keep_first_last = false, then the per-layer overrides in order: `layers` (a
    list of {"match": glob, keys...}) or precision["layer"] = {glob: {keys}}, as [[layers]] in configs.
    Errors name the bad key, spelling or glob (a glob matching nothing lists the layers). Modules already
    converted are set again. An nn.MultiheadAttention becomes lpsim.torch.MultiheadAttention (sharing its
    parameters) with six product layers <name>.q_proj, .k_proj, .v_proj, .qk, .pv, .out_proj."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"lpsim.torch.convert: model must be a torch.nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    targets = _targets(model)
    if not targets:
        raise ValueError(f"lpsim.torch.convert: {type(model).__name__} has no nn.Linear, nn.Conv2d or "
                         f"nn.MultiheadAttention to convert")
    text, source = _config_text(precision, layers, seed)
    precs = _core.layer_precisions(text, source, [n for t in targets for n in t[0]])
    depth = 0
    for names, path, m in targets:
        p = precs[depth:depth + len(names)]
        if isinstance(m, torch.nn.MultiheadAttention):
            if isinstance(m, MultiheadAttention):
                for prod, pr, n, d in zip(m._PRODUCTS, p, names, range(depth, depth + len(names))):
                    mod = getattr(m, prod)
                    mod.precision, mod.lpsim_name, mod.depth = pr, n, d
                depth += len(names)
                continue
            try:
                new = MultiheadAttention.from_torch(m, list(p), names[0].rpartition(".")[0], depth)
            except ValueError as e:
                raise ValueError(f"lpsim.torch.convert: layer {path}: {e}") from None
        elif isinstance(m, ProductModule):
            m.precision, m.lpsim_name, m.depth = p[0], names[0], depth
            depth += 1
            continue
        else:
            cls = Linear if isinstance(m, torch.nn.Linear) else Conv2d
            try:
                new = cls.from_torch(m, p[0], names[0], depth)
            except ValueError as e:
                raise ValueError(f"lpsim.torch.convert: layer {names[0]}: {e}") from None
        depth += len(names)
        if not path:
            return new  # the model is itself one layer
        parent_path, _, attr = path.rpartition(".")
        setattr(model.get_submodule(parent_path) if parent_path else model, attr, new)
    return model


def product_layers(model):
    """The lpsim.torch product modules of model, in depth order."""
    return sorted((m for m in model.modules() if isinstance(m, ProductModule)), key=lambda m: m.depth)


def bitops(model):
    """(BitOPs, the same work at 32 bits) of the training steps since the last reset_stats, as lpsim train
    counts them: per step and product MACs x bits of one operand x bits of the other."""
    layers = product_layers(model)
    return sum(m.bitops for m in layers), sum(m.bitops_fp32 for m in layers)


def reset_stats(model):
    for m in product_layers(model):
        m.reset_stats()


def layer_stats(model):
    """Per product layer (depth order), as lpsim train's per-layer tables: name, depth, params, bits
    (w, a, e, g), and for each product (fwd, bwd_data, bwd_weight) the latest k, m, n, usage_a, usage_b,
    plus counts summed over the steps, steps and BitOPs."""
    out = []
    for m in product_layers(model):
        bw, ba, be, bg = m.precision.bits
        w, b = m._lpsim_weight()
        row = {"name": m.lpsim_name, "depth": m.depth, "params": sum(t.numel() for t in (w, b) if t is not None),
               "bits_w": bw, "bits_a": ba, "bits_e": be, "bits_g": bg, "steps": m.steps, "bitops": m.bitops,
               "bitops_fp32": m.bitops_fp32}
        for p in ("fwd", "bwd_data", "bwd_weight"):
            g = m.stats.get(p)
            row[p] = None if g is None else {
                "m": g.m, "n": g.n, "k": g.k, "usage_a": g.usage_a, "usage_b": g.usage_b, "counts": dict(m.counts[p])}
        out.append(row)
    return out

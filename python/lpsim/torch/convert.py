"""lpsim.torch.convert: a PyTorch model's nn.Linear and nn.Conv2d swapped for emulated ones, with the
formats of a run config's [precision] and [[layers]] (docs/config.md), set as lpsim train sets them."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from .. import _core
from ..training import _toml_value
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
    """(name, module) of every Linear/Conv2d in registration order, leaving nn.MultiheadAttention's
    out_proj alone (MultiheadAttention reads its weights, never calls it)."""
    skip = set()
    out = []
    for name, m in model.named_modules():
        if any(name.startswith(s + ".") for s in skip):
            continue
        if isinstance(m, torch.nn.MultiheadAttention):
            skip.add(name)
            continue
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and not isinstance(m, torch.nn.modules.lazy.LazyModuleMixin):
            out.append((name or type(m).__name__.lower(), name, m))
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
    converted are set again. nn.MultiheadAttention is left as it is (its products are not converted)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"lpsim.torch.convert: model must be a torch.nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    targets = _targets(model)
    if not targets:
        raise ValueError(f"lpsim.torch.convert: {type(model).__name__} has no nn.Linear or nn.Conv2d to convert")
    text, source = _config_text(precision, layers, seed)
    precs = _core.layer_precisions(text, source, [t[0] for t in targets])
    for depth, ((lname, path, m), p) in enumerate(zip(targets, precs)):
        if isinstance(m, ProductModule):
            m.precision, m.lpsim_name, m.depth = p, lname, depth
            continue
        cls = Linear if isinstance(m, torch.nn.Linear) else Conv2d
        try:
            new = cls.from_torch(m, p, lname, depth)
        except ValueError as e:
            raise ValueError(f"lpsim.torch.convert: layer {lname}: {e}") from None
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
        row = {"name": m.lpsim_name, "depth": m.depth, "params": sum(p.numel() for p in m.parameters()),
               "bits_w": bw, "bits_a": ba, "bits_e": be, "bits_g": bg, "steps": m.steps, "bitops": m.bitops,
               "bitops_fp32": m.bitops_fp32}
        for p in ("fwd", "bwd_data", "bwd_weight"):
            g = m.stats.get(p)
            row[p] = None if g is None else {
                "m": g.m, "n": g.n, "k": g.k, "usage_a": g.usage_a, "usage_b": g.usage_b, "counts": dict(m.counts[p])}
        out.append(row)
    return out

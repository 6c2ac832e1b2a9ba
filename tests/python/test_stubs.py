"""The type stubs (python/lpsim/*.pyi, py.typed) against the runtime, and the introspection the bindings promise.

No mypy here, so the stubs are checked by hand: they parse; every public name of lpsim, lpsim._core and
lpsim.training has a stub entry and every stub entry exists; each stub class lists exactly the runtime class's
public members, with the right kind (a read-only property is an @property, a writable one an annotated attribute,
a method a def); each stub function's parameters (names, kinds, defaults) match the runtime signature (pybind11's
docstring signature line for _core, inspect.signature for the Python functions). Then: every function, method and
property of _core documents itself beyond its signature; MacConfig's fields are properties that round-trip; and
GemmStats' repr shows the SQNR when the error was measured.
"""
import ast
import builtins
import inspect
import pathlib
import re

import numpy as np
import pytest

import lpsim
import lpsim.training
from lpsim import _core

PKG = pathlib.Path(lpsim.__file__).resolve().parent
SRC = pathlib.Path(__file__).resolve().parents[2] / "python" / "lpsim"
STUB_FILES = ("__init__.pyi", "_core.pyi", "training.pyi")
MODULES = {"__init__.pyi": lpsim, "_core.pyi": _core, "training.pyi": lpsim.training}

def _stub(name):
    return ast.parse((PKG / name).read_text(), filename=str(PKG / name))


STUBS = {name: _stub(name) for name in STUB_FILES}


def _target_names(node):
    if isinstance(node, ast.AnnAssign):
        return [node.target.id] if isinstance(node.target, ast.Name) else []
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def _top_names(tree):
    """Every name a stub module defines: functions, classes, variables, re-exports."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            # Only 'from X import Y as Y' (and 'import X as X') re-exports in a stub.
            names.update(a.asname for a in node.names if a.asname is not None and a.asname == a.name.split(".")[-1])
        else:
            names.update(_target_names(node))
    return names


def _public(names):
    return {n for n in names if not n.startswith("_")}


def _classes(tree):
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _functions(body):
    """name -> [FunctionDef] (several for @overload), in a module or class body."""
    out = {}
    for node in body:
        if isinstance(node, ast.FunctionDef):
            out.setdefault(node.name, []).append(node)
    return out


def _is_property(fn):
    return any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list)


# ---- the package ships its stubs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*STUB_FILES, "py.typed"])
def test_stub_files_are_in_the_built_package(name):
    assert (PKG / name).is_file(), f"{name} not next to {lpsim.__file__} (python/CMakeLists.txt copies it)"
    if SRC.is_dir() and PKG != SRC:
        assert (PKG / name).read_bytes() == (SRC / name).read_bytes(), f"the built {name} is stale: rebuild"


def test_stubs_are_stub_only():
    for name, tree in STUBS.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(
                    node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str) else node.body
                assert all(isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant) and b.value.value is Ellipsis
                           for b in body), f"{name}: {node.name} has a body beyond '...'"


def _bound_names(tree):
    """Every name a stub module binds, re-exported or not (plain imports included)."""
    names = set(_top_names(tree))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _annotation_nodes(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            a = node.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
                if arg is not None and arg.annotation is not None:
                    yield arg.annotation
            if node.returns is not None:
                yield node.returns
            yield from node.decorator_list
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation
        elif isinstance(node, ast.ClassDef):
            yield from node.bases
    for node in tree.body:  # type aliases: _X = A | B
        if isinstance(node, ast.Assign) and all(t.startswith("_") and t != "__all__" for t in _target_names(node)):
            yield node.value


@pytest.mark.parametrize("stub", STUB_FILES)
def test_stub_annotations_resolve(stub):
    # What a type checker would first complain about: a name used in an annotation that the stub never binds.
    tree = STUBS[stub]
    known = _bound_names(tree) | set(dir(builtins))
    unknown = {n.id for root in _annotation_nodes(tree) for n in ast.walk(root) if isinstance(n, ast.Name)} - known
    assert not unknown, f"{stub}: annotations use unbound names {sorted(unknown)}"


# ---- (a) names: runtime <-> stubs ------------------------------------------------------------------------------


def _runtime_public(module):
    names = _public(dir(module))
    if module is lpsim.training:  # its imports (np, os, Path, annotations...) are not its API
        names = {n for n in names if n.isupper() or getattr(getattr(module, n), "__module__", None) == module.__name__}
    # lpsim's own subpackages appear as attributes once imported; their stubs are their own .pyi (or none: torch).
    return {n for n in names if not (inspect.ismodule(getattr(module, n)) and
                                     getattr(module, n).__name__.startswith("lpsim."))}


@pytest.mark.parametrize("stub", STUB_FILES)
def test_every_public_name_has_a_stub(stub):
    module = MODULES[stub]
    missing = _runtime_public(module) - _top_names(STUBS[stub])
    assert not missing, f"{module.__name__} names missing from {stub}: {sorted(missing)}"


@pytest.mark.parametrize("stub", STUB_FILES)
def test_every_stub_name_exists(stub):
    module = MODULES[stub]
    extra = {n for n in _public(_top_names(STUBS[stub])) | {"__version__"} & _top_names(STUBS[stub])
             if not hasattr(module, n)}
    assert not extra, f"{stub} names that {module.__name__} lacks: {sorted(extra)}"


@pytest.mark.parametrize("stub", ["__init__.pyi", "training.pyi"])
def test_stub_all_matches(stub):
    tree, module = STUBS[stub], MODULES[stub]
    (node,) = [n for n in tree.body if "__all__" in _target_names(n)]
    assert ast.literal_eval(node.value) == module.__all__


def test_reexports_are_the_same_objects():
    for node in STUBS["__init__.pyi"].body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in ("_core", "training"):
            source = {"_core": _core, "training": lpsim.training}[node.module]
            for a in node.names:
                assert getattr(lpsim, a.asname) is getattr(source, a.name), a.name


def _runtime_members(cls):
    return {n: v for n, v in vars(cls).items() if not n.startswith("_")}


@pytest.mark.parametrize("name", sorted(_classes(STUBS["_core.pyi"])))
def test_stub_class_members_match(name):
    stub = _classes(STUBS["_core.pyi"])[name]
    if name.startswith("_"):  # TypedDicts and other typing-only helpers
        assert not hasattr(_core, name)
        return
    cls = getattr(_core, name)
    assert inspect.isclass(cls)
    bases = [b.id for b in stub.bases if isinstance(b, ast.Name)]
    assert [b.__name__ for b in cls.__bases__ if b.__module__ == "builtins" and b is not object] == bases

    fns = _functions(stub.body)
    attrs = {t for node in stub.body for t in _target_names(node)}
    members = _runtime_members(cls)
    stub_public = _public(fns) | _public(attrs)
    assert set(members) - stub_public == set(), f"{name}: members missing from the stub"
    assert stub_public - set(members) == set(), f"{name}: stub members the class lacks"
    for n in _public(attrs):  # an annotated attribute: a writable property
        assert isinstance(members[n], property) and members[n].fset is not None, f"{name}.{n} is not writable"
    for n, defs in fns.items():
        if n.startswith("_"):
            assert n in vars(cls), f"{name}.{n} is in the stub, not in the class"
        elif _is_property(defs[0]):
            assert isinstance(members[n], property) and members[n].fset is None, f"{name}.{n}: not a read-only property"
        else:
            assert callable(members[n]) and not isinstance(members[n], property), f"{name}.{n} is not a method"


def test_training_stub_classes_match():
    stub = _classes(STUBS["training.pyi"])["SweepError"]
    assert [b.id for b in stub.bases] == [b.__name__ for b in lpsim.training.SweepError.__bases__]
    e = lpsim.training.SweepError({}, {}, "out.h5", 0)
    for node in stub.body:
        for n in _target_names(node):
            assert hasattr(e, n), n


# ---- (e) signatures: stub parameters <-> runtime ---------------------------------------------------------------

_HAS_DEFAULT = object()  # a default that is no literal (compared for presence only)
_NO_DEFAULT = inspect.Parameter.empty


def _literal(text_or_node):
    try:
        return ast.literal_eval(text_or_node)
    except (ValueError, SyntaxError, TypeError):
        return _HAS_DEFAULT


def _stub_params(fn):
    a = fn.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [_NO_DEFAULT] * (len(positional) - len(a.defaults)) + [_literal(d) for d in a.defaults]
    for i, (arg, d) in enumerate(zip(positional, defaults)):
        out.append((arg.arg, "posonly" if i < len(a.posonlyargs) else "pos", d))
    if a.vararg:
        out.append((a.vararg.arg, "var", _NO_DEFAULT))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "kwonly", _NO_DEFAULT if d is None else _literal(d)))
    if a.kwarg:
        out.append((a.kwarg.arg, "varkw", _NO_DEFAULT))
    return out


def _split_top(text):
    """Split at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _pybind_params(obj, name):
    """The parameters of a pybind11 function from its docstring's signature line."""
    doc = obj.__doc__ or ""
    first = doc.lstrip().split("\n", 1)[0]
    assert first.startswith(name + "("), f"{name}: no pybind11 signature line (overloaded?): {first!r}"
    depth, end = 0, None
    for i, ch in enumerate(first[len(name):], len(name)):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            end = i
            break
    out, kind = [], "pos"
    for part in _split_top(first[len(name) + 1:end]):
        if part == "*":
            kind = "kwonly"
            continue
        if part == "/":
            out = [(n, "posonly", d) for n, _, d in out]
            continue
        head, eq, default_text = part.partition(" = ")  # pybind11 writes "name: type = default"
        pname = head.split(":")[0].strip()
        default = _literal(default_text.strip()) if eq else _NO_DEFAULT
        if pname.startswith("**"):
            out.append((pname[2:], "varkw", _NO_DEFAULT))
        elif pname.startswith("*"):
            out.append((pname[1:], "var", _NO_DEFAULT))
            kind = "kwonly"
        else:
            out.append((pname, kind, default))
    return out


def _python_params(fn):
    kinds = {inspect.Parameter.POSITIONAL_ONLY: "posonly", inspect.Parameter.POSITIONAL_OR_KEYWORD: "pos",
             inspect.Parameter.VAR_POSITIONAL: "var", inspect.Parameter.KEYWORD_ONLY: "kwonly",
             inspect.Parameter.VAR_KEYWORD: "varkw"}
    return [(p.name, kinds[p.kind], p.default) for p in inspect.signature(fn).parameters.values()]


def _runtime_params(obj, name):
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return _python_params(obj)
    return _pybind_params(obj, name)


def _assert_same(stub_params, runtime_params, what):
    assert [(n, k) for n, k, _ in stub_params] == [(n, k) for n, k, _ in runtime_params], what
    for (n, _, sd), (_, _, rd) in zip(stub_params, runtime_params):
        assert (sd is _NO_DEFAULT) == (rd is _NO_DEFAULT), f"{what}: {n}'s default: stub {sd!r}, runtime {rd!r}"
        if sd is not _HAS_DEFAULT and rd is not _HAS_DEFAULT and sd is not _NO_DEFAULT:
            assert sd == rd and type(sd) is type(rd), f"{what}: {n}'s default: stub {sd!r}, runtime {rd!r}"


def _signature_cases():
    cases = []
    for stub, tree in STUBS.items():
        module = MODULES[stub]
        for n, defs in _functions(tree.body).items():
            cases.extend(pytest.param(stub, None, n, i, id=f"{stub}:{n}#{i}") for i in range(len(defs)))
        for cname, cnode in _classes(tree).items():
            if cname.startswith("_"):
                continue
            for n, defs in _functions(cnode.body).items():
                if not _is_property(defs[0]) and n in vars(getattr(module, cname)):
                    cases.append(pytest.param(stub, cname, n, 0, id=f"{stub}:{cname}.{n}"))
    return cases


# lpsim.matmul/conv2d wrap _core's (functools.wraps): their signature is the wrapped function's.
def _unwrap(obj):
    return inspect.unwrap(obj)


@pytest.mark.parametrize("stub,cls,name,overload", _signature_cases())
def test_stub_signature_matches(stub, cls, name, overload):
    tree, module = STUBS[stub], MODULES[stub]
    body = tree.body if cls is None else _classes(tree)[cls].body
    fn = _functions(body)[name][overload]
    owner = module if cls is None else getattr(module, cls)
    obj = _unwrap(vars(owner)[name] if cls else getattr(owner, name))
    if cls is not None and name == "__init__" and inspect.isfunction(obj):  # a Python class
        obj = getattr(owner, name)
    _assert_same(_stub_params(fn), _runtime_params(obj, name), f"{stub}: {cls + '.' if cls else ''}{name}")


def test_signature_parser_catches_a_mismatch():
    # The comparison above is only worth something if it can fail.
    (fn,) = ast.parse("def matmul(a, b, mac='fp16', seed=0, stream=0, error=False, depth=-1, tag='', golden=False, "
                      "counts=False, c=None, scale_a=None, scale_b=None): ...").body
    with pytest.raises(AssertionError, match="default"):
        _assert_same(_stub_params(fn), _pybind_params(_core.matmul, "matmul"), "matmul")
    (fn,) = ast.parse("def vectors(mac='fp32', k=16, count=1000, dist='mixed', scale=1.0, addend='none', seed=1, "
                      "exhaustive=False, specials=False): ...").body
    with pytest.raises(AssertionError):
        _assert_same(_stub_params(fn), _pybind_params(_core.vectors, "vectors"), "vectors")


# ---- (b) documentation -----------------------------------------------------------------------------------------


def _doc_text(obj):
    """The docstring without pybind11's signature lines."""
    if isinstance(obj, property):
        text = obj.__doc__ or ""
        if not text.strip() and obj.fget is not None:
            text = obj.fget.__doc__ or ""
        obj_doc = text
    else:
        obj_doc = obj.__doc__ or ""
    lines = [ln for ln in obj_doc.strip().splitlines()
             if not re.match(r"^\s*(\d+\. )?[\w.]*\(.*\) -> .*$", ln) and ln.strip() != "Overloaded function."]
    return "\n".join(lines).strip()


def _documented_members(cls):
    for n, v in vars(cls).items():
        if isinstance(v, property) or type(v).__name__ in ("instancemethod", "builtin_function_or_method") or \
                isinstance(v, (staticmethod, classmethod)):
            yield n, v


def test_core_functions_are_documented():
    assert _doc_text(_core)
    bare = [n for n in _public(dir(_core)) if callable(getattr(_core, n)) and not _doc_text(getattr(_core, n))]
    assert not bare, f"undocumented _core functions: {bare}"


def test_package_functions_are_documented():
    for module in (lpsim, lpsim.training):
        bare = [n for n in module.__all__ if callable(getattr(module, n)) and not _doc_text(getattr(module, n))]
        assert not bare, f"undocumented {module.__name__} names: {bare}"


@pytest.mark.parametrize("name", sorted(n for n in _public(dir(_core)) if inspect.isclass(getattr(_core, n))))
def test_core_class_members_are_documented(name):
    cls = getattr(_core, name)
    assert _doc_text(cls), f"{name} has no docstring"
    bare = [n for n, v in _documented_members(cls) if not _doc_text(v)]
    assert not bare, f"undocumented members of {name}: {bare}"


def test_doc_text_strips_signatures():
    # A pybind11 function without a docstring still has its signature line; that alone is no documentation.
    def bare():
        pass
    bare.__doc__ = "stats(self: lpsim._core.LinearOp) -> dict\n"
    assert _doc_text(bare) == ""
    assert _doc_text(_core.MacConfig.a).startswith("Operand A's format")
    assert _doc_text(_core.Format.__init__).startswith("Parse a format spelling")


# ---- (c) MacConfig's fields ------------------------------------------------------------------------------------

MACS = ["fp32", "in=fp16,acc=fp32,order=chunk32", "hopper.fp8", "h800.fp8", "blackwell.mxfp8", "cdna3.fp8",
        "int8.int32", "in=bf16,acc=fp32,order=pairwise,out=bf16,out_round=rz"]


def test_mac_fields_are_properties():
    fields = _core.MacConfig("fp32").fields
    stub = _classes(STUBS["_core.pyi"])["MacConfig"]
    stub_props = {n for n, d in _functions(stub.body).items() if _is_property(d[0])}
    for k in fields:
        prop = vars(_core.MacConfig).get(k)
        assert isinstance(prop, property), f"MacConfig.{k} is no property"
        assert _doc_text(prop), f"MacConfig.{k} is undocumented"
        assert k in stub_props, f"MacConfig.{k} is not in the stub"
    assert stub_props - set(fields) == {"spelling", "fields", "chunk", "result"}


@pytest.mark.parametrize("spelling", MACS + [p["name"] for p in _core.mac_presets()][::7])
def test_mac_fields_round_trip(spelling):
    c = _core.MacConfig(spelling)
    f = c.fields
    assert isinstance(f, dict) and f
    for k, v in f.items():
        assert getattr(c, k) == v and type(getattr(c, k)) is type(v), k
        assert v is None or isinstance(v, (str, int)), (k, v)
    again = _core.MacConfig(c.spelling)
    assert again == c and hash(again) == hash(c) and again.fields == f
    assert eval(repr(c), {"MacConfig": _core.MacConfig}) == c
    assert lpsim.MacConfig(str(c)) == c
    assert c.result in (f["out"], f["outer"], f["acc"])


def test_mac_fields_read_the_spelling():
    c = _core.MacConfig("in=fp16,acc=fp32,order=chunk32")
    assert (c.a, c.b, c.acc, c.order, c.promote, c.chunk) == ("e5m10", "e5m10", "e8m23", "chunk", 32, 32)
    assert c != _core.MacConfig("in=fp16,acc=fp32,order=chunk16")
    assert _core.MacConfig("fp32").a is None
    assert (_core.MacConfig("fp32") == "fp32") is False
    with pytest.raises(AttributeError, match="fields"):
        _core.MacConfig("fp32").no_such_knob


# ---- (d) GemmStats' repr ---------------------------------------------------------------------------------------


def test_gemm_stats_repr_shows_sqnr():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((8, 32), dtype=np.float32), rng.standard_normal((32, 4), dtype=np.float32)
    _, s = _core.matmul(a, b, "fp16.fp16", error=True, counts=True, tag="fc", depth=3)
    assert s.has_error and np.isfinite(s.sqnr_db) and s.sqnr_db > 0
    r = repr(s)
    assert f"sqnr_db={s.sqnr_db!r}" in r, r
    assert f"max_rel_error={s.max_rel_error!r}" in r and "tag='fc'" in r and "depth=3" in r
    assert r.startswith("GemmStats(m=8, n=4, k=32,") and f"additions={s.counts['additions']}" in r
    _, exact = _core.matmul(a, b, error=True)
    assert "sqnr_db=" in repr(exact)
    _, plain = _core.matmul(a, b)
    assert "sqnr_db" not in repr(plain) and not plain.has_error
    _, conv = lpsim.conv2d(rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), "bf16.fp32",
                           error=True)
    assert f"sqnr_db={conv.sqnr_db!r}" in repr(conv)


# ---- the stubs' TypedDicts against what the functions return ---------------------------------------------------


def _typed_dict_keys(name):
    required, optional = set(), set()
    for node in _classes(STUBS["_core.pyi"])[name].body:
        if isinstance(node, ast.AnnAssign):
            is_optional = isinstance(node.annotation, ast.Subscript) and getattr(
                node.annotation.value, "id", None) == "NotRequired"
            (optional if is_optional else required).add(node.target.id)
    return required, optional


def test_typed_dicts_match_the_runtime():
    required, optional = _typed_dict_keys("_Counts")
    _, s = _core.matmul(np.ones((2, 3)), np.ones((3, 2)), counts=True)
    assert set(s.counts) == required and not optional
    required, optional = _typed_dict_keys("_MacPreset")
    assert all(set(p) == required for p in _core.mac_presets()) and not optional
    required, optional = _typed_dict_keys("_Vectors")
    without = set(_core.vectors("fp16.fp32", k=2, count=3))
    with_addend = set(_core.vectors("fp16.fp32", k=2, count=3, addend="normal"))
    assert required <= without <= with_addend <= required | optional
    assert with_addend - without == optional

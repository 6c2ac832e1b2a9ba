"""lpsim.matmul / conv2d against a pure-Python exact model on small inputs."""
import math

import numpy as np
import pytest

import lpsim
from exact_model import dot_seq, round_fixed, round_float


def _operands(rng, m, k, n, fmt, scale=1.0):
    a = lpsim.quantize((rng.standard_normal((m, k)) * scale).astype(np.float32), fmt)
    b = lpsim.quantize((rng.standard_normal((k, n)) * scale).astype(np.float32), fmt)
    return a, b


def _model(a, b, dot):
    return np.array([[dot(a[i, :], b[:, j]) for j in range(b.shape[1])] for i in range(a.shape[0])])


def test_fp16_accumulator_matches_exact_model():
    rng = np.random.default_rng(0)
    a, b = _operands(rng, 5, 300, 7, "fp16", 4.0)
    c, stats = lpsim.matmul(a, b, "in=fp16,acc=fp16")
    want = _model(a, b, lambda x, y: dot_seq(x, y, lambda v: round_float(v, 5, 10)))
    assert c.dtype == np.float32 and c.shape == (5, 7)
    assert np.array_equal(c, want)
    assert stats.k == 300 and stats.usage_a == 7 and stats.usage_b == 5


def test_chunked_truncating_accumulator_matches_exact_model():
    rng = np.random.default_rng(1)
    a, b = _operands(rng, 3, 257, 4, "fp8e4m3")
    # e8m13 RZ after every addition inside chunks of 128, fp32 RNE outside (h800.fp8 before 2026-12)
    c, _ = lpsim.matmul(a, b, "in=fp8e4m3,acc=e8m13,acc_round=rz,order=chunk128,outer=fp32")
    want = _model(a, b, lambda x, y: dot_seq(x, y, lambda v: round_float(v, 8, 13, "rz"), 128,
                                             lambda v: round_float(v, 8, 23)))
    assert np.array_equal(c, want)


def test_wrapping_fixed_point_accumulator_matches_exact_model():
    rng = np.random.default_rng(2)
    a, b = _operands(rng, 4, 64, 3, "fx8.4", 3.0)
    c, stats = lpsim.matmul(a, b, "in=fx8.4,acc=fx9.3:wrap", counts=True)
    want = _model(a, b, lambda x, y: dot_seq(x, y, lambda v: round_fixed(v, 9, 3, wrap=True)))
    assert np.array_equal(c, want)
    assert stats.counts["overflows"] > 0  # the narrow accumulator did wrap


def test_fp32_path_equals_golden_and_numpy_is_close():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((33, 65)).astype(np.float32)
    b = rng.standard_normal((65, 17)).astype(np.float32)
    fast, _ = lpsim.matmul(a, b)
    golden, _ = lpsim.matmul(a, b, golden=True)
    assert np.array_equal(fast, golden)
    assert np.allclose(fast, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-4)


def test_error_statistics_grow_as_the_accumulator_narrows():
    rng = np.random.default_rng(4)
    a, b = _operands(rng, 4, 2048, 4, "bf16")
    errs = [lpsim.matmul(a, b, f"in=bf16,acc={acc}", error=True)[1].sqnr_db for acc in ("fp32", "e8m10", "bf16")]
    assert errs[0] > errs[1] > errs[2]


def test_conv2d_matches_matmul_of_the_lowered_input():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y, st = lpsim.conv2d(x, w, "in=fp16,acc=fp16", padding=1)
    assert y.shape == (2, 4, 6, 6) and st.k == 27
    # Output (b=1, co=2, 3, 4) is the dot product of the kernel with its window.
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    window = xp[1, :, 3:6, 4:7].reshape(-1, 1)
    ref, _ = lpsim.matmul(w[2].reshape(1, -1), window, "in=fp16,acc=fp16")
    assert y[1, 2, 3, 4] == ref[0, 0]


def test_presets_and_bitops():
    names = {p["name"] for p in lpsim.mac_presets()}
    assert {"int8.int32", "fp16.fp32", "h800.fp8", "volta.fp16"} <= names
    assert lpsim.bitops("int8.int32", 2, 3, 4) == 2 * 3 * 4 * 8 * 8
    assert str(lpsim.MacConfig("volta.fp16")) == lpsim.MacConfig(str(lpsim.MacConfig("volta.fp16"))).spelling


def test_bad_input_names_what_was_wrong():
    with pytest.raises(ValueError, match="do not align: 3 != 4"):
        lpsim.matmul(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="unknown key \"acc_width\""):
        lpsim.matmul(np.ones((2, 2)), np.ones((2, 2)), "acc=fp16,acc_width=3")
    with pytest.raises(ValueError, match="groups=2 must divide cin=3"):
        lpsim.conv2d(np.ones((1, 3, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32), groups=2)


def test_counts_off_takes_the_vector_paths_with_the_same_values():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((9, 70)).astype(np.float32)
    b = rng.standard_normal((70, 21)).astype(np.float32)
    for mac, path in [("fp16.fp16", "float-lanes"), ("volta.fp16", "fused-lanes"), ("int8.int32", "integer")]:
        assert lpsim.gemm_path(mac) == path
        counted, st = lpsim.matmul(a, b, mac=mac, counts=True)
        fast, st_fast = lpsim.matmul(a, b, mac=mac)  # the default: no counts
        golden, _ = lpsim.matmul(a, b, mac=mac, golden=True)
        assert st.counts["additions"] > 0 and st_fast.counts["additions"] == 0
        np.testing.assert_array_equal(fast.view(np.uint32), golden.view(np.uint32))
        np.testing.assert_array_equal(counted.view(np.uint32), golden.view(np.uint32))


def test_mac_config_fields_are_introspectable():
    m = lpsim.MacConfig("cdna3.fp8")
    assert (m.order, m.fused_n, m.align, m.c_late, m.split, m.c_drop, m.zero_exp) == ("fused", 16, 24, 31, 2, 25, -126)
    assert m.a == m.b == "e4m3fnuz" and m.prod is None and m.acc == "e8m23" and m.prod_overflow == "inf"
    h = lpsim.MacConfig("hopper.fp16.f16out")
    assert h.nan == 0x7fffe000 and h.overflow == "ieee" and h.acc == "e5m10"
    assert lpsim.MacConfig("hopper.fp16").overflow == "inf"
    nv = lpsim.MacConfig("blackwell.nvfp4")
    assert (nv.scale, nv.block, nv.subsum, nv.align) == ("ue4m3", 16, 16, 35)
    assert lpsim.MacConfig("cdna1.fp16").align == "exact"
    assert lpsim.MacConfig("h800.fp8").outer == "e8m23" and lpsim.MacConfig("h800.fp8").promote == 128
    c = lpsim.MacConfig("in=fp16,acc=e5m10,acc_round=sr4,order=chunk32,outer=fp32,out=bf16")
    assert (c.order, c.acc_round, c.promote, c.out) == ("chunk", "sr4", 32, "e8m7")


def _grammar_keys():
    import re
    try:
        lpsim.MacConfig("no_such_key=1")
    except ValueError as e:
        listed = re.search(r"\(keys: ([^)]*)\)", str(e)).group(1)
    keys = set(re.findall(r"[a-z_]+", listed.replace("each with _round", ""))) - {"each", "with"}
    return keys


def test_every_grammar_key_is_a_field():  # in= and guard= are spellings of a/b and align
    fields = lpsim.MacConfig("fp32").fields
    for key in _grammar_keys() - {"in", "guard"}:
        assert key in fields, key
        for base in ("a", "b", "prod", "acc", "outer", "out"):
            assert base + "_round" in fields
    s = str(lpsim.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), error=True)[1])
    assert "sqnr_db=inf" in s
    with pytest.raises(AttributeError, match="MacConfig has no field 'foo'"):
        lpsim.MacConfig("fp32").foo

"""One ISA-dispatch switch (arith/isa.hpp): every level the host supports gives the golden model's bits,
LPSIM_ISA forces a lower level for a process, and a bad level is named."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lpsim

LEVELS = ["scalar", "avx2", "avx512", "amx"]


def levels():
    return LEVELS[:LEVELS.index(lpsim.host_isa()) + 1]


@pytest.fixture
def restore_isa():
    yield
    lpsim.set_isa(lpsim.host_isa())


def bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def test_the_level_in_use_and_the_host_flags():
    assert lpsim.isa() in LEVELS and lpsim.host_isa() in LEVELS
    assert LEVELS.index(lpsim.isa()) <= LEVELS.index(lpsim.host_isa())
    if lpsim.host_isa() != "scalar":
        assert "avx2" in lpsim.cpu_flags().split()


@pytest.mark.parametrize("mac", ["fp32", "bf16.fp32", "fp16.fp16", "int8.int32", "volta.fp16", "hopper.fp8",
                                 "h800.fp8", "in=fp16,acc=e5m7,acc_round=ru", "ampere.fp16.f16out"])
def test_every_level_gives_the_golden_bits(mac, restore_isa):
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((9, 70)) * 4).astype(np.float32)
    b = (rng.standard_normal((70, 13)) * 4).astype(np.float32)
    if mac == "int8.int32":
        a, b = np.round(a * 8), np.round(b * 8)
    c = rng.standard_normal((9, 13)).astype(np.float32)
    want, _ = lpsim.matmul(a, b, mac, golden=True)
    want_c, _ = lpsim.matmul(a, b, mac, c=c, golden=True)
    paths = set()
    for level in levels():
        assert lpsim.set_isa(level) == level
        paths.add(lpsim.gemm_path(mac))
        for counts in (False, True):
            got, _ = lpsim.matmul(a, b, mac, counts=counts)
            assert np.array_equal(bits(got), bits(want)), (mac, level, counts)
            got_c, _ = lpsim.matmul(a, b, mac, c=c, counts=counts)
            assert np.array_equal(bits(got_c), bits(want_c)), (mac, level, counts)
    if len(levels()) > 1 and mac in ("volta.fp16", "fp16.fp16"):
        assert len(paths) == 2  # the vector lanes at AVX2, the golden arithmetic's path at scalar


@pytest.mark.parametrize("fmt,rounding", [("bf16", "rne"), ("fp8e4m3", "rz"), ("e5m2", "sr"), ("fp16", "sr4"),
                                          ("e4m3fnuz", "rd"), ("fx8.4", "rna")])
def test_quantize_is_the_same_at_every_level(fmt, rounding, restore_isa):
    x = (np.random.default_rng(2).standard_normal(5000) * 30).astype(np.float32)
    out = []
    for level in levels():
        lpsim.set_isa(level)
        out.append(bits(lpsim.quantize(x, fmt, rounding=rounding, seed=3)))
    assert all(np.array_equal(o, out[0]) for o in out)


def test_set_isa_names_a_bad_level(restore_isa):
    with pytest.raises(ValueError, match=r'set_isa: unknown ISA level "sse9" \(expected scalar, avx2, avx512 or amx\)'):
        lpsim.set_isa("sse9")
    assert lpsim.set_isa("amx") == lpsim.host_isa()  # never above the host


def test_lpsim_isa_environment_variable():
    env = dict(os.environ, LPSIM_ISA="scalar")
    r = subprocess.run([sys.executable, "-c", "import lpsim; print(lpsim.isa(), lpsim.gemm_path('volta.fp16'))"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["scalar", "fused"], r.stderr
    env["LPSIM_ISA"] = "avx9000"
    r = subprocess.run([sys.executable, "-c", "import lpsim"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and 'LPSIM_ISA: unknown ISA level "avx9000"' in r.stderr

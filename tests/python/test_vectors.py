"""lpsim.vectors(): the golden test vectors of `lpsim vectors` as NumPy columns (docs/vectors.md), equal to the
CLI's file for the same arguments, with values that decode the codes and the CLI's argument checks."""
import os
import subprocess

import numpy as np
import pytest

import lpsim

CLI = os.environ.get("LPSIM_CLI", "")
needs_cli = pytest.mark.skipif(not CLI, reason="LPSIM_CLI (path of the lpsim tool) not set")


def _cli_csv(tmp_path, *args):
    out = tmp_path / "v.csv"
    if out.exists():
        out.unlink()
    subprocess.run([CLI, "vectors", *map(str, args), "--flags", "-o", str(out)], check=True, capture_output=True)
    lines = out.read_text().splitlines()
    head = lines[1].split(",")
    return lines[0][2:], head, np.array([[int(w, 16) for w in l.split(",")] for l in lines[2:]], np.uint64)


@needs_cli
@pytest.mark.parametrize("mac,k,count,kw", [
    ("in=fp16,acc=fp32", 4, 120, {}),
    ("hopper.fp16", 8, 60, {"dist": "corners", "addend": "normal", "seed": 3, "scale": 4.0}),
    ("in=fp8e4m3,acc=fp16", 3, 90, {"dist": "codes", "addend": "codes", "seed": 2 ** 64 - 1}),
    ("int8.int32", 5, 50, {"dist": "near-overflow"}),
    ("ampere.fp16.f16out", 6, 80, {"specials": True, "addend": "zero"}),
    ("in=e2m1,acc=e5m2", 1, 1, {"exhaustive": True, "addend": "all"}),
])
def test_vectors_equal_the_cli(tmp_path, mac, k, count, kw):
    v = lpsim.vectors(mac, k, count, **kw)
    args = ["--mac", mac, "--k", k, "--count", count]
    for key, value in kw.items():
        if value is True:
            args.append("--" + key)
        else:
            args += ["--" + key, value]
    header, head, codes = _cli_csv(tmp_path, *args)
    assert v["header"] == header
    k = v["a"].shape[1]
    n = len(codes)
    assert v["a"].shape == v["b"].shape == (n, k) and v["a"].dtype == np.uint64
    assert np.array_equal(v["a"], codes[:, :k]) and np.array_equal(v["b"], codes[:, k:2 * k])
    j = 2 * k
    if "addend" in head:
        assert np.array_equal(v["addend"], codes[:, j])
        j += 1
    else:
        assert "addend" not in v
    assert np.array_equal(v["c"], codes[:, j])
    for i, name in enumerate(["overflow", "saturation", "inexact", "nan", "swamped"]):
        assert np.array_equal(v[name].astype(np.uint64), codes[:, j + 1 + i]), name
    assert v["flags"].dtype == np.uint8 and ((v["flags"] & 1) == v["inexact"]).all()
    # values decode the codes in their formats (a NaN without a code as NaN)
    np.testing.assert_array_equal(v["a_value"], lpsim.decode(v["a"].ravel(), v["a_format"]).reshape(n, k))
    ok = v["c"] != np.uint64(2 ** 64 - 1)
    np.testing.assert_array_equal(v["c_value"][ok], lpsim.decode(v["c"][ok], v["c_format"]))
    assert np.isnan(v["c_value"][~ok]).all()


def test_vectors_take_a_mac_config_and_repeat():
    a = lpsim.vectors(lpsim.MacConfig("volta.fp16"), 4, 30, dist="ties", seed=9)
    b = lpsim.vectors("volta.fp16", 4, 30, dist="ties", seed=9)
    assert all(np.array_equal(a[x], b[x]) for x in ("a", "b", "c", "flags"))
    assert a["a_format"] == lpsim.Format("fp16").spelling and a["c_format"] == lpsim.Format("fp32").spelling


@pytest.mark.parametrize("kw,error,message", [
    ({"dist": "uniform"}, ValueError, '"uniform" is not one of'),
    ({"addend": "ones"}, ValueError, '"ones" is not one of'),
    ({"addend": "all"}, ValueError, "needs --exhaustive"),
    ({"k": 0}, ValueError, "vectors: k must be an integer in [1,"),
    ({"count": 2 ** 29}, ValueError, "vectors: count"),
    ({"scale": -1.0}, ValueError, "--scale must be positive"),
    ({"seed": -1}, ValueError, "vectors: seed"),
    ({"mac": "in=fp16,acc=fp16", "exhaustive": True, "addend": "all"}, ValueError, "at most 24 bits"),
    ({"mac": 3}, TypeError, "mac must be a str"),
    ({"dist": None}, TypeError, "dist must be a str"),
])
def test_bad_arguments_raise_naming_them(kw, error, message):
    args = {"mac": "in=fp16,acc=fp32", "k": 2, "count": 3, **kw}
    with pytest.raises(error, match=None) as e:
        lpsim.vectors(**args)
    assert message in str(e.value)

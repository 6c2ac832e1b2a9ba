"""Python parity with the CLI and the training quantizers (issue 19, item 5): scaled and MX formats in
lpsim.quantize, float16 in and out, narrow encode dtypes, the CLI's flag names as overrides, and the
public keys/resolve_config/merge."""
import os

import numpy as np
import pytest

import lpsim

HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")


def test_scaled_and_mx_quantize_as_the_training_quantizers():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 64)).astype(np.float32)
    for fmt in ("mxfp8e4m3", "mxint8", "e4m3/absmax/block16", "int8/minmax/tensor"):
        np.testing.assert_array_equal(lpsim.quantize(x, fmt), lpsim._core.quantize_tensor(x, fmt))
    # MX blocks of 32 along the last axis: the largest magnitude of each block keeps its scale 2^k
    y = lpsim.quantize(x, "mxfp8e4m3")
    assert y.dtype == np.float32 and y.shape == x.shape
    assert not np.array_equal(y, x) and np.max(np.abs(y - x) / np.abs(x)) < 2 ** -3
    # blocks along another axis: the same as quantizing the transpose
    np.testing.assert_array_equal(lpsim.quantize(x.T.copy(), "mxfp8e4m3", axis=0), y.T)
    # per-channel: axis 0 by default (each row its own range), axis 1 = each column
    w = lpsim.quantize(x, "int8/minmax/channel")
    np.testing.assert_array_equal(w[2], lpsim.quantize(x[2:3], "int8/minmax/channel")[0])
    c = lpsim.quantize(x, "int8/minmax/channel", axis=1)
    np.testing.assert_array_equal(c[:, 5], lpsim.quantize(x[:, 5:6].T.copy(), "int8/minmax/channel")[0])
    # stochastic rounding: keyed, reproducible, different seeds differ
    a = lpsim.quantize(x, "int4/absmax/tensor", "sr", seed=1)
    np.testing.assert_array_equal(a, lpsim.quantize(x, "int4/absmax/tensor", "sr", seed=1))
    assert not np.array_equal(a, lpsim.quantize(x, "int4/absmax/tensor", "sr", seed=2))
    out = np.empty_like(x)
    assert lpsim.quantize(x, "mxfp8e4m3", out=out) is out and np.array_equal(out, y)
    with pytest.raises(ValueError, match="whole tensor: no axis"):
        lpsim.quantize(x, "int8/minmax/tensor", axis=1)
    with pytest.raises(ValueError, match="axis 2 of a 2-D"):
        lpsim.quantize(x, "mxfp8e4m3", axis=2)
    with pytest.raises(ValueError, match="index0"):
        lpsim.quantize(x, "mxfp8e4m3", index0=5)
    with pytest.raises(ValueError, match="axis applies to scaled"):
        lpsim.quantize(x, "e4m3", axis=0)
    with pytest.raises(TypeError, match="out must be a float32"):
        lpsim.quantize(x, "mxfp8e4m3", out=np.empty(x.shape))


def test_float16_in_float16_out_where_the_format_fits():
    x = np.random.default_rng(1).standard_normal(300).astype(np.float16)
    ref = lpsim.quantize(x.astype(np.float64), "e5m2", "sr", seed=4)
    r = lpsim.quantize(x, "e5m2", "sr", seed=4)
    assert r.dtype == np.float16 and np.array_equal(r.astype(np.float64), ref)
    for fmt in ("e4m3", "int8", "fp16", "fx8.4"):
        assert lpsim.quantize(x, fmt).dtype == np.float16, fmt
    # bf16 and e8m3 have values float16 cannot hold (range): float32, exact
    for fmt in ("bf16", "e8m3"):
        r = lpsim.quantize(x, fmt)
        assert r.dtype == np.float32, fmt
        np.testing.assert_array_equal(r.astype(np.float64), lpsim.quantize(x.astype(np.float64), fmt))
    out = np.empty_like(x)
    assert lpsim.quantize(x, "e4m3", out=out) is out


def test_encode_returns_the_narrowest_unsigned_dtype_and_decode_reads_it_back():
    v = np.array([1.0, -2.5, 0.375])
    for fmt, dtype in (("e4m3", np.uint8), ("e2m1", np.uint8), ("bf16", np.uint16), ("fp32", np.uint32),
                       ("fp64", np.uint64), ("e8m12", np.uint32)):
        codes = lpsim.encode(lpsim.quantize(v, fmt), fmt)
        assert codes.dtype == dtype, fmt
        np.testing.assert_array_equal(lpsim.decode(codes, fmt), lpsim.quantize(v, fmt))


def test_cli_flag_names_are_overrides_and_the_key_table_is_public():
    assert lpsim.resolve_config(None, lr=0.3) == lpsim.resolve_config(None, schedule__lr=0.3)
    assert lpsim.resolve_config(None, e_round="rne", mac_fwd="fp16.fp32") == \
        lpsim.resolve_config(None, precision__e_round="rne", precision__mac_fwd="fp16.fp32")
    assert "keep_first_last = false" in lpsim.resolve_config(None, quantize_first_last=True)
    assert lpsim.resolve_config(None, quantize_first_last=False) == lpsim.resolve_config(None)
    with pytest.raises(ValueError, match="switch"):
        lpsim.resolve_config(None, quantize_first_last="yes")
    with pytest.raises(ValueError, match="unknown key"):
        lpsim.resolve_config(None, learning_rate=0.1)
    keys = lpsim.keys()
    assert keys["schedule.lr"][0] == "0.1" and keys["policy.keep_fp32"][0] == ""
    assert keys["precision.mac"][0] is None  # an alias
    # every key of the resolved defaults is in the table, with the default it prints
    section = ""
    for line in lpsim.resolve_config(None).splitlines():
        if line.startswith("["):
            section = line.strip("[]") + "."
        elif " = " in line:
            k, v = line.split(" = ", 1)
            assert section + k in keys, section + k


@pytest.mark.skipif(not HAVE_DATA, reason="Fashion-MNIST not installed")
def test_merge_copies_runs_and_refuses_a_duplicate(tmp_path):
    tiny = {"model": {"arch": "mlp", "hidden": 16}, "epochs": 1, "batch": 64, "train_subset": 128,
            "test_subset": 64, "threads": 1}
    lpsim.train(tiny, output=tmp_path / "a.h5", group="a", progress=False)
    lpsim.train(tiny, output=tmp_path / "b.h5", group="b", progress=False)
    lpsim.merge(tmp_path / "m.h5", tmp_path / "a.h5", tmp_path / "b.h5")
    assert set(lpsim.load(tmp_path / "m.h5")) == {"a", "b"}
    with pytest.raises(Exception, match="already in"):
        lpsim.merge(tmp_path / "m.h5", tmp_path / "a.h5")
    with pytest.raises(ValueError, match="at least one"):
        lpsim.merge(tmp_path / "m.h5")

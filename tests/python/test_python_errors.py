"""The Python API never answers wrongly in silence: `out=` arguments, odd
arrays, out-of-range integers, and sweeps with failing points."""
import gzip
import math
import struct
import time

import numpy as np
import pytest

import lpsim

# ---- quantize(out=...) ------------------------------------------------------------------------------------


def _x(n=100_000, dtype=np.float32, seed=0):
    return (np.random.default_rng(seed).standard_normal(n) * 10).astype(dtype)


@pytest.mark.parametrize("x_dtype,out_dtype", [(np.float32, np.float64), (np.float32, np.int32),
                                               (np.float64, np.float32), (np.float64, np.int64),
                                               (np.float32, np.float16), (np.int16, np.float32),
                                               (np.float32, ">f4"), (np.float64, np.complex128)])
def test_out_of_another_dtype_is_refused_and_left_alone(x_dtype, out_dtype):
    x = np.arange(10).astype(x_dtype)
    out = np.zeros(10, out_dtype)
    with pytest.raises(TypeError, match=r"out has dtype .*but the result is float(32|64)"):
        lpsim.quantize(x, "bf16", out=out)
    assert not out.any()


@pytest.mark.parametrize("make_out,message", [
    (lambda: np.zeros((2, 5), np.float32), r"out has shape \(2, 5\), x has shape \(10,\)"),
    (lambda: np.zeros(11, np.float32), r"out has shape \(11,\)"),
    (lambda: np.zeros((10, 1), np.float32), r"out has shape \(10, 1\)"),
    (lambda: np.zeros(20, np.float32)[::2], "C-contiguous"),
    (lambda: np.zeros(10, np.float32)[::-1], "C-contiguous"),
    (lambda: np.frombuffer(bytearray(41), np.float32, 10, offset=1), "read-only|aligned"),
    (lambda: np.frombuffer(bytes(40), np.float32), "read-only"),
])
def test_out_of_the_wrong_shape_or_layout_is_refused(make_out, message):
    out = make_out()
    before = out.copy()
    with pytest.raises(ValueError, match=message):
        lpsim.quantize(np.arange(10, dtype=np.float32), "bf16", out=out)
    np.testing.assert_array_equal(out, before)


def test_unaligned_writeable_out_is_refused():
    buf = bytearray(41)
    out = np.frombuffer(buf, np.uint8)[1:].view(np.float32)  # writeable, not aligned
    assert out.flags.writeable and not out.flags.aligned
    with pytest.raises(ValueError, match="not aligned"):
        lpsim.quantize(np.arange(10, dtype=np.float32), "bf16", out=out)


@pytest.mark.parametrize("out", [[0.0] * 10, (0.0,) * 10, 3.0, "y"])
def test_out_that_is_not_an_array_is_refused(out):
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        lpsim.quantize(np.arange(10, dtype=np.float64), "bf16", out=out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_is_x_rounds_in_place(dtype):
    x = _x(dtype=dtype)
    want = lpsim.quantize(x, "e4m3fn", "sr", seed=5)
    ptr = x.ctypes.data
    got = lpsim.quantize(x, "e4m3fn", "sr", seed=5, out=x)
    assert got is x and x.ctypes.data == ptr
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("shift", [1, 3, 7, 8, 16, 1000, -1, -5, -999])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partly_overlapping_out_is_computed_as_from_a_copy(shift, dtype):
    n = 100_000
    buf = _x(n + abs(shift), dtype)
    x, out = (buf[:n], buf[shift:]) if shift > 0 else (buf[-shift:], buf[:n])
    want = lpsim.quantize(x.copy(), "bf16", "sr", seed=9)
    got = lpsim.quantize(x, "bf16", "sr", seed=9, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)


def test_out_beside_x_in_one_buffer_is_fine():
    buf = _x(200)
    x, out = buf[:100], buf[100:]
    want = lpsim.quantize(x.copy(), "fp16")
    lpsim.quantize(x, "fp16", out=out)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(x, _x(200)[:100])  # the input was not touched


def test_non_contiguous_x_overlapping_out_reads_the_original_values():
    buf = _x(20, np.float64)
    orig = buf.copy()
    x = buf[::2]          # non-contiguous: converted to a copy first
    out = buf[:10]        # overlaps x's memory
    lpsim.quantize(x, "e5m2", out=out)
    np.testing.assert_array_equal(out, lpsim.quantize(orig[::2], "e5m2"))


def test_zero_size_and_0d_arrays():
    for shape in [(0,), (3, 0), (0, 0, 2)]:
        x = np.zeros(shape, np.float32)
        y = lpsim.quantize(x, "bf16")
        assert y.shape == shape and y.dtype == np.float32
        out = np.zeros(shape, np.float32)
        assert lpsim.quantize(x, "bf16", out=out) is out
        assert lpsim.encode(np.zeros(shape), "e5m2").shape == shape
        assert lpsim.decode(np.zeros(shape, np.uint64), "e5m2").shape == shape
    y = lpsim.quantize(np.float32(1.1), "bf16")
    assert y.shape == () and y.dtype == np.float32 and y == lpsim.quantize(np.array([1.1], np.float32), "bf16")[0]
    assert lpsim.quantize(1.1, "bf16") == lpsim.quantize(np.array([1.1]), "bf16")[0]


# ---- dtypes of quantize / encode / decode / matmul / conv2d ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
                                   np.bool_, np.float16])
def test_exactly_convertible_inputs_give_the_float64_answer(dtype):
    v = np.array([0, 1, 2, 3, 100, 127], dtype=np.int64).astype(dtype)
    y = lpsim.quantize(v, "e4m3")
    assert y.dtype == (np.float16 if dtype == np.float16 else np.float64)  # float16 stays where e4m3 fits it
    np.testing.assert_array_equal(y, lpsim.quantize(v.astype(np.float64), "e4m3"))
    np.testing.assert_array_equal(lpsim.encode(lpsim.quantize(v, "e5m2"), "e5m2"),
                                  lpsim.encode(lpsim.quantize(v.astype(np.float64), "e5m2"), "e5m2"))


def test_non_contiguous_and_byte_swapped_inputs():
    x = _x(64, np.float64).reshape(8, 8)
    np.testing.assert_array_equal(lpsim.quantize(x.T, "bf16"), lpsim.quantize(np.ascontiguousarray(x.T), "bf16"))
    np.testing.assert_array_equal(lpsim.quantize(x[:, ::3], "bf16"), lpsim.quantize(x[:, ::3].copy(), "bf16"))
    be = x.astype(">f4")
    y = lpsim.quantize(be, "bf16")
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, lpsim.quantize(x.astype(np.float32), "bf16"))
    np.testing.assert_array_equal(lpsim.encode(np.ones((8, 8), ">f8")[:, ::2], "e5m2"), np.full((8, 4), 0x3C))


@pytest.mark.parametrize("big", [2**53 + 1, -(2**53 + 3), 2**63 - 1])
def test_integers_float64_cannot_hold_are_refused(big):
    x = np.array([1, big], np.int64)
    with pytest.raises(ValueError, match=r"element 1 .*" + str(big).replace("-", r"\-")):
        lpsim.quantize(x, "fp64", "rz")
    with pytest.raises(ValueError, match="element 1"):
        lpsim.encode(x, "fp64")
    assert lpsim.quantize(np.array([2**53, -(2**60)], np.int64), "fp64").tolist() == [2.0**53, -(2.0**60)]
    with pytest.raises(ValueError, match="element 0"):
        lpsim.quantize(np.array([2**64 - 1], np.uint64), "fp64")


@pytest.mark.parametrize("x", [np.array([1 + 2j]), np.array(["1.0"]), np.array([b"1"]), np.array([None, 1.0]),
                               np.array([1.0], np.longdouble), np.array(["2020-01-01"], "datetime64[D]"),
                               np.zeros(2, [("a", "f4")]), "1.5", None, [1.0, "a"]])
def test_unsupported_inputs_raise_type_error_naming_the_dtype(x):
    with pytest.raises(TypeError, match=r"x (has dtype|must be an array of numbers)"):
        lpsim.quantize(x, "bf16")
    with pytest.raises(TypeError, match=r"values (has dtype|must be an array of numbers)"):
        lpsim.encode(x, "bf16")


@pytest.mark.parametrize("a", [np.array([[1 + 2j]]), np.array([["1.0"]]), np.array([[None]]), np.array([["x"]], "S1")])
def test_matmul_and_conv2d_refuse_non_real_arrays(a):
    with pytest.raises(TypeError, match="matmul: a has dtype"):
        lpsim.matmul(a, np.ones((1, 1)))
    with pytest.raises(TypeError, match="matmul: b has dtype"):
        lpsim.matmul(np.ones((1, 1)), a)
    with pytest.raises(TypeError, match="conv2d: w has dtype"):
        lpsim.conv2d(np.ones((1, 1, 2, 2)), a.reshape(1, 1, 1, 1))


@pytest.mark.parametrize("codes,error,message", [
    (np.array([1.0, 2.0]), TypeError, "codes has dtype float64"),
    (np.array([True]), TypeError, "codes has dtype bool"),
    (np.array([-1], np.int8), ValueError, "code -1 at flat index 0 is negative"),
    (np.array([3, -7]), ValueError, "code -7 at flat index 1"),
    (np.array([256], np.uint64), ValueError, "0x100"),
    (np.array(["1"]), TypeError, "dtype <U1"),
])
def test_decode_takes_non_negative_integer_codes(codes, error, message):
    with pytest.raises(error, match=message):
        lpsim.decode(codes, "e5m2")
    np.testing.assert_array_equal(lpsim.decode([0, 0x3c], "e5m2"), [0.0, 1.0])


def test_matmul_and_conv2d_inputs():
    a = _x(12, np.float64).reshape(3, 4)
    b = _x(8, np.float64, seed=1).reshape(4, 2)
    want, _ = lpsim.matmul(a.astype(np.float32), b.astype(np.float32))  # float64 operands are read as float32
    for aa, bb in [(a, b), (np.asfortranarray(a), b), (a.astype(">f8"), b), (a[:, ::-1][:, ::-1], b.astype(np.longdouble))]:
        np.testing.assert_array_equal(lpsim.matmul(aa, bb)[0], want)
    ints, _ = lpsim.matmul(np.arange(6, dtype=np.int32).reshape(2, 3), np.ones((3, 1), np.uint8))
    np.testing.assert_array_equal(ints, [[3], [12]])
    with pytest.raises(ValueError, match=r"not exactly|cannot hold exactly"):
        lpsim.matmul(np.array([[2**24 + 1]], np.int32), np.ones((1, 1), np.float32))
    c, st = lpsim.matmul(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32))
    np.testing.assert_array_equal(c, np.zeros((2, 3)))
    assert lpsim.matmul(np.ones((0, 4)), np.ones((4, 3)))[0].shape == (0, 3)
    assert lpsim.matmul(np.ones((2, 4)), np.ones((4, 0)))[0].shape == (2, 0)
    with pytest.raises(ValueError, match=r"2-D, got 1-D and 2-D \(shapes \(3,\) and \(3, 2\)\)"):
        lpsim.matmul(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"x must be 4-D .*\(1, 4, 4\)"):
        lpsim.conv2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"x has shape \(0, 1, 4, 4\); every dimension must be positive"):
        lpsim.conv2d(np.ones((0, 1, 4, 4)), np.ones((1, 1, 3, 3)))
    x = _x(2 * 3 * 5 * 5, np.float64).reshape(2, 3, 5, 5)
    w = _x(4 * 3 * 3 * 3, np.float64, seed=2).reshape(4, 3, 3, 3)
    y64, _ = lpsim.conv2d(x, w, padding=1)
    y32, _ = lpsim.conv2d(x.astype(np.float32), w.astype(np.float32), padding=1)
    np.testing.assert_array_equal(y64, y32)
    ys, _ = lpsim.conv2d(x[:, :, ::-1, :], w, padding=1)  # a negative-stride view is read as its values
    np.testing.assert_array_equal(ys, lpsim.conv2d(x[:, :, ::-1, :].copy(), w, padding=1)[0])


# ---- integer arguments --------------------------------------------------------------------------------------

X = np.ones(4, np.float32)
A = np.ones((2, 3), np.float32)
XC, WC = np.ones((1, 2, 5, 5), np.float32), np.ones((2, 1, 3, 3), np.float32)

INTEGER_CASES = [
    ("quantize seed=-1", lambda: lpsim.quantize(X, "bf16", "sr", seed=-1), ValueError, r"seed .*\[0, 2\*\*64 - 1\], got -1"),
    ("quantize seed=2**64", lambda: lpsim.quantize(X, "bf16", "sr", seed=2**64), ValueError, r"seed .*got 18446744073709551616"),
    ("quantize seed=1.5", lambda: lpsim.quantize(X, "bf16", "sr", seed=1.5), TypeError, "seed must be an integer"),
    ("quantize seed=True", lambda: lpsim.quantize(X, "bf16", "sr", seed=True), TypeError, "seed must be an integer"),
    ("quantize seed='1'", lambda: lpsim.quantize(X, "bf16", "sr", seed="1"), TypeError, "seed must be an integer"),
    ("quantize stream=-1", lambda: lpsim.quantize(X, "bf16", "sr", stream=-1), ValueError, r"stream .*\[0, 2\*\*32 - 1\]"),
    ("quantize stream=2**32", lambda: lpsim.quantize(X, "bf16", "sr", stream=2**32), ValueError, "stream"),
    ("quantize index0=-1", lambda: lpsim.quantize(X, "bf16", "sr", index0=-1), ValueError, "index0"),
    ("quantize index0 wraps", lambda: lpsim.quantize(X, "bf16", "sr", index0=2**64 - 3), ValueError, "index0 \\+ x.size - 1"),
    ("matmul seed=-1", lambda: lpsim.matmul(A, A.T, seed=-1), ValueError, "matmul: seed"),
    ("matmul seed=2**64", lambda: lpsim.matmul(A, A.T, seed=2**64), ValueError, "matmul: seed"),
    ("matmul stream=2**32", lambda: lpsim.matmul(A, A.T, stream=2**32), ValueError, "matmul: stream"),
    ("matmul depth=-2", lambda: lpsim.matmul(A, A.T, depth=-2), ValueError, r"depth .*\[-1, 2\*\*31 - 1\]"),
    ("matmul depth=2**40", lambda: lpsim.matmul(A, A.T, depth=2**40), ValueError, "depth"),
    ("conv2d stride=0", lambda: lpsim.conv2d(XC, WC, groups=2, stride=0), ValueError, r"stride .*\[1, 2\*\*31 - 1\], got 0"),
    ("conv2d stride=-1", lambda: lpsim.conv2d(XC, WC, groups=2, stride=-1), ValueError, "stride"),
    ("conv2d stride=2**63", lambda: lpsim.conv2d(XC, WC, groups=2, stride=2**63), ValueError, "stride"),
    ("conv2d padding=-1", lambda: lpsim.conv2d(XC, WC, groups=2, padding=-1), ValueError, r"padding .*\[0, 2\*\*31 - 1\]"),
    ("conv2d padding=2**62", lambda: lpsim.conv2d(XC, WC, groups=2, padding=2**62), ValueError, "padding"),
    ("conv2d padding=2**31-1", lambda: lpsim.conv2d(XC, WC, groups=2, padding=2**31 - 1), (ValueError, MemoryError), "overflows|allocate|memory"),
    ("conv2d groups=0", lambda: lpsim.conv2d(XC, WC, groups=0), ValueError, "groups"),
    ("conv2d groups=3", lambda: lpsim.conv2d(XC, WC, groups=3), ValueError, "groups=3 must divide cin=2"),
    ("conv2d groups=2**62", lambda: lpsim.conv2d(XC, WC, groups=2**62), ValueError, "groups"),
    ("conv2d seed=-1", lambda: lpsim.conv2d(XC, WC, groups=2, seed=-1), ValueError, "conv2d: seed"),
    ("conv2d padding=1.0", lambda: lpsim.conv2d(XC, WC, groups=2, padding=1.0), TypeError, "padding must be an integer"),
    ("bitops m=-1", lambda: lpsim.bitops("fp32", -1, 2, 3), ValueError, r"bitops: m .*\[0, 2\*\*63 - 1\]"),
    ("bitops k=2**64", lambda: lpsim.bitops("fp32", 1, 2, 2**64), ValueError, "bitops: k"),
    ("bitops overflow", lambda: lpsim.bitops("fp32", 2**62, 2**62, 2**62), ValueError, "overflows"),
    ("format 5", lambda: lpsim.quantize(X, 5), TypeError, "format must be a str"),
    ("rounding 3", lambda: lpsim.quantize(X, "bf16", 3), TypeError, "rounding must be a str"),
    ("mac 5", lambda: lpsim.matmul(A, A.T, mac=5), TypeError, "mac must be a str"),
]


@pytest.mark.parametrize("call,error,message", [c[1:] for c in INTEGER_CASES], ids=[c[0] for c in INTEGER_CASES])
def test_integer_arguments_out_of_range(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_integer_arguments_at_their_limits_work():
    y = lpsim.quantize(X, "bf16", "sr", seed=2**64 - 1, stream=2**32 - 1, index0=2**64 - 4)
    assert y.shape == X.shape
    assert lpsim.quantize(X, "bf16", "sr", seed=np.uint64(2**64 - 1)).shape == X.shape  # NumPy integers too
    lpsim.matmul(A, A.T, seed=2**64 - 1, stream=np.uint32(7), depth=2**31 - 1)
    y, st = lpsim.conv2d(XC, WC, groups=np.int64(2), stride=np.int32(2), padding=3)
    assert y.shape == (1, 2, 5, 5) and st.k == 9
    assert lpsim.bitops("int8.int32", 0, 5, 7) == 0
    assert lpsim.bitops("int8.int32", 2**20, 2**20, 2**22) == 2.0**62 * 64


# ---- sweeps: every point runs, every finished point is written, one error names the failed ones -----------


def write_idx(path, magic_type, dims, payload, gz=False):
    head = struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    data = head + payload
    (gzip.open if gz else open)(path, "wb").write(data)


def fake_fashion_mnist(root, n_train=64, n_test=32, seed=0):
    """A tiny IDX dataset in the Fashion-MNIST layout (28x28 images, 10 classes)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte", 3, (n, 28, 28), rng.integers(0, 256, n * 784, np.uint8).tobytes())
        write_idx(root / f"{prefix}-labels-idx1-ubyte", 1, (n,), rng.integers(0, 10, n, np.uint8).tobytes())
    return root


@pytest.fixture
def datasets(tmp_path):
    good = fake_fashion_mnist(tmp_path / "good")
    bad = fake_fashion_mnist(tmp_path / "bad")
    # The header claims 1000 images, the file holds 64: found only when a worker loads it.
    write_idx(bad / "train-images-idx3-ubyte", 3, (1000, 28, 28), bytes(64 * 784))
    return good, bad


TINY = {"model": {"arch": "mlp", "hidden": 8}, "epochs": 1, "batch": 32, "threads": 1}


def _check_sweep_failure(err, output, good, bad, n_ok=2):
    assert isinstance(err, lpsim.SweepError) and isinstance(err, RuntimeError)
    failed = sorted(err.failures)
    assert len(failed) == 2 and all(str(bad).replace("/", "%2F") in n for n in failed)
    for name in failed:
        assert name in str(err)
    assert "images-idx3-ubyte" in str(err)  # the reason, naming the file
    runs = lpsim.load(output)
    assert set(runs) == set(err.results) and len(runs) == n_ok
    assert all(r["attrs"]["status"] == "finished" for r in runs.values())
    assert all(str(good).replace("/", "%2F") in n for n in runs)


@pytest.mark.parametrize("processes", [1, 2])
def test_process_sweep_waits_for_every_point_and_names_every_failure(datasets, tmp_path, processes):
    good, bad = datasets
    out = tmp_path / f"sweep{processes}.h5"
    grid = {"data_dir": [str(bad), str(good)], "seed": [0, 1]}  # the failing points come first
    with pytest.raises(lpsim.SweepError) as e:
        lpsim.sweep(TINY, grid, output=out, processes=processes, progress=False)
    _check_sweep_failure(e.value, out, good, bad)
    # A rerun skips the finished points and tries the failed ones again.
    t = time.time()
    with pytest.raises(lpsim.SweepError) as again:
        lpsim.sweep(TINY, grid, output=out, processes=processes, progress=False)
    # the finished points come back from the file, untrained
    assert sorted(again.value.failures) == sorted(e.value.failures) and set(again.value.results) == set(e.value.results)
    assert time.time() - t < 30


def test_dask_sweep_waits_for_every_point_and_names_every_failure(datasets, tmp_path):
    distributed = pytest.importorskip("distributed")
    good, bad = datasets
    out = tmp_path / "dask.h5"
    grid = {"data_dir": [str(bad), str(good)], "seed": [0, 1]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with pytest.raises(lpsim.SweepError) as e:
            lpsim.sweep(TINY, grid, output=out, client=client, progress=False)
    _check_sweep_failure(e.value, out, good, bad)


def test_sweep_refuses_bad_points_before_training_and_names_each(tmp_path):
    out = tmp_path / "s.h5"
    grid = {"precision.w": ["int8/minmax/planet", "e4m3fn", "e0m3"], "schedule.lr": [0.1, -1.0]}
    with pytest.raises(ValueError) as e:
        lpsim.sweep(TINY, grid, output=out, progress=False)
    msg = str(e.value)
    assert "5 of 6 sweep points are invalid" in msg, msg
    assert "planet" in msg and "e0m3" in msg and "schedule.lr" in msg
    assert not out.exists()


@pytest.mark.parametrize("kwargs,error,message", [
    ({"grid": {}}, ValueError, "non-empty dict"),
    ({"grid": {"seed": "01"}}, ValueError, r"grid\['seed'\] must be a list"),
    ({"grid": {"seed": []}}, ValueError, "has no values"),
    ({"grid": {"seed": [1, 1]}}, ValueError, "repeated grid value"),
    ({"grid": {"threads": [1, 2]}}, ValueError, "cannot vary \"threads\""),
    ({"grid": {"output": ["a.h5"]}}, ValueError, "cannot vary \"output\""),
    ({"processes": 0}, ValueError, r"processes must be an integer in \[1, 1024\], got 0"),
    ({"processes": -3}, ValueError, "processes"),
    ({"processes": 100000}, ValueError, "processes"),
    ({"processes": 2.0}, TypeError, "processes must be an integer"),
    ({"threads_per_run": 0}, ValueError, "threads_per_run"),
    ({"threads_per_run": 100000}, ValueError, "threads_per_run"),
    ({"output": None}, ValueError, "output must be a results file path"),
    ({"seed": -1}, ValueError, "seed"),
    ({"threads": 100000}, ValueError, "threads"),
])
def test_sweep_arguments(tmp_path, kwargs, error, message):
    args = {"grid": {"seed": [0]}, "output": tmp_path / "s.h5", "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        lpsim.sweep(TINY, **args)
    assert list(tmp_path.iterdir()) == []


def test_sweep_error_pickles():
    import pickle
    e = lpsim.SweepError({"seed=1": ValueError("boom")}, {}, "out.h5", 2)
    f = pickle.loads(pickle.dumps(e))
    assert str(f).startswith("1 of 1 sweep points failed") and "boom" in str(f) and list(f.failures) == ["seed=1"]
    assert math.isclose(len(f.failures), 1)

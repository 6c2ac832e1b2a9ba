"""Bad input, table-driven: every case of the command line and of the Python API
must be refused with the documented exit code (1 bad input, 2 usage error; see
README) or exception type, with a message naming the offending value, key or
file, and without creating or changing any file. A few cases that look odd but
are valid (subnormal numbers, unusual spellings) must be accepted.

Each CLI case runs in a fresh directory of its own; the test records every
file there (name, size, bytes) before and after the run, so an output file
that appears, or an existing one that changes, fails the case."""
import gzip
import hashlib
import os
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pytest

import lpsim

CLI = os.environ.get("LPSIM_CLI", "")
needs_cli = pytest.mark.skipif(not CLI, reason="LPSIM_CLI (path of the lpsim tool) not set")
TIMEOUT = 30  # seconds per command: every case fails (or succeeds) long before

# ---- files the cases read --------------------------------------------------------------------------------


def npy_bytes(header, data=b"", version=1, header_len=None):
    """A .npy file with a literal header dict (so it can lie)."""
    h = header.encode("latin1")
    pre = 10 if version == 1 else 12
    pad = (-(pre + len(h) + 1)) % 64
    h = h + b" " * pad + b"\n"
    n = len(h) if header_len is None else header_len
    size = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


def idx_bytes(type_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def fake_fashion_mnist(root, n_train=64, n_test=32, seed=0):
    """A tiny dataset in the Fashion-MNIST IDX layout (28x28, 10 classes)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(8, (n, 28, 28), rng.integers(0, 256, n * 784, np.uint8).tobytes()))
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(8, (n,), rng.integers(0, 10, n, np.uint8).tobytes()))
    return root


def lying_idx(name, content):
    """A setup: a fake dataset in d/data whose file `name` is replaced by `content` (bytes or callable(d))."""
    def setup(d):
        fake_fashion_mnist(d / "data")
        (d / "data" / name).write_bytes(content)
    return setup


def files(**named):
    """A setup writing files: {name: bytes | str | callable(d)}."""
    def setup(d_):
        for name, content in named.items():
            p = d_ / name.replace("__", ".")
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode()
            p.write_bytes(content)
    return setup


def both(*setups):
    def setup(d):
        for s in setups:
            s(d)
    return setup


GOOD_A = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", np.ones((2, 3), "<f4").tobytes())
GOOD_B = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", np.ones((3, 2), "<f8").tobytes())
MATS = files(a__npy=GOOD_A, b__npy=GOOD_B)


def npy_case(header, data=b"", **kw):
    return both(MATS, files(bad__npy=npy_bytes(header, data, **kw)))


# Tiny runs, so that a case that is wrongly accepted trains for a second, not for minutes.
TINY = ["model.arch=mlp", "model.hidden=8", "epochs=1", "batch=32", "threads=1", "data_dir={d}/data"]
DATA = lambda d: fake_fashion_mnist(d / "data")  # noqa: E731

# ---- the CLI table ----------------------------------------------------------------------------------------


@dataclass
class Cli:
    id: str
    args: Sequence[str]
    codes: Sequence[int] = (1,)
    names: Sequence[str] = ()           # substrings the error message (stderr) must contain; "{d}": the directory
    setup: Optional[Callable] = None
    stdin: str = ""
    stdout: Sequence[str] = ()          # accepted cases: substrings of stdout
    creates: Sequence[str] = field(default_factory=tuple)  # accepted cases: files that must appear


def fmt_cases():
    out = []
    for spelling, name in [("e4m3fnx", "e4m3fnx"), ("e0m3", "e0m3"), ("fx8.2000", "fx8.2000"), ("fx8", "fx8"),
                           ("fx.4", "fx.4"), ("int0", "int0"),
                           ("int8/minmax/planet", "planet"), ("e4m3:sat:sat", "sat"), ("e99m3", "e99m3"),
                           ("int65", "int65"), ("fx0.0", "fx0.0"), ("e4m3fn:bias=99999999999999999999", "bias"),
                           ("e5m2:nonan", "nonan"), ("int8/minmax/block0", "block0"), ("mxfp9", "mxfp9"),
                           ("e11m52fn", "e11m52fn")]:
        out.append(Cli(f"info {spelling}", ["info", spelling], (1,), [name]))
    out += [
        Cli("quantize e4m3fnx", ["quantize", "e4m3fnx", "1"], (1,), ["e4m3fnx"]),
        Cli("quantize int0", ["quantize", "int0", "1"], (1,), ["int0"]),
        Cli("quantize scaled format", ["quantize", "int8/minmax/planet", "1"], (1,), ["planet"]),
        Cli("quantize bad rounding", ["quantize", "e5m2", "1", "-r", "rnx"], (1,), ["rnx"]),
        Cli("quantize bad value", ["quantize", "e5m2", "1", "abc"], (1,), ["abc"]),
        Cli("quantize bad stdin value", ["quantize", "e5m2"], (1,), ["0x1y"], stdin="1 2 0x1y\n"),
        Cli("quantize --seed -1", ["quantize", "bf16", "1", "-r", "sr", "--seed", "-1"], (1, 2), ["seed", "-1"]),
        Cli("quantize --seed 2^64", ["quantize", "bf16", "1", "-r", "sr", "--seed", "18446744073709551616"], (1, 2),
            ["seed", "18446744073709551616"]),
        Cli("quantize --stream 2^32", ["quantize", "bf16", "1", "-r", "sr", "--stream", "4294967296"], (1, 2),
            ["stream", "4294967296"]),
    ]
    return out


def mac_cases():
    out = []
    for mac, name in [("acc=zz", "zz"), ("in=fp16,acc=fp32,order=chunk0", "chunk0"),
                      ("in=fp16,acc=fp32,order=sideways", "sideways"), ("in=fp16,acc_width=3", "acc_width"),
                      ("in=fp16,acc", "acc"), ("nonexistent.preset", "nonexistent.preset"),
                      ("in=fp16,acc=fp32,order=chunk-5", "chunk-5"), ("in=fp16,acc=fp16:wrap", "wrap")]:
        out.append(Cli(f"matmul --mac {mac}", ["matmul", "a.npy", "b.npy", "--mac", mac, "-o", "c.npy"], (1,), [name],
                       MATS))
    out.append(Cli("vectors --mac acc=e5m99", ["vectors", "--mac", "acc=e5m99", "-o", "v.csv"], (1,), ["e5m99"]))
    return out


def config_cases():
    out = []
    toml = [("unknown key", "epoch = 2\n", ["epoch", "c.toml", "1"]),
            ("unknown key in table", "[optimizer]\nlearning_rate = 0.1\n", ["optimizer.learning_rate", "c.toml", "2"]),
            ("wrong type string", 'epochs = "two"\n', ["epochs", "c.toml"]),
            ("wrong type float", "batch = 2.5\n", ["batch", "c.toml"]),
            ("lr nan", "[schedule]\nlr = nan\n", ["schedule.lr", "c.toml"]),
            ("syntax error", "epochs = = 2\n", ["c.toml", "1"]),
            ("duplicate key", "epochs = 2\nepochs = 3\n", ["epochs", "c.toml"]),
            ("huge integer", "seed = 18446744073709551616\n", ["18446744073709551616", "c.toml"])]
    for name, text, names in toml:
        out.append(Cli(f"toml {name}", ["train", "c.toml", *TINY, "-o", "out.h5"], (1,), names,
                       both(DATA, files(c__toml=text))))
    for o, name in [("schedule.lr=nan", "schedule.lr"), ("schedule.lr=inf", "schedule.lr"), ("schedule.lr=-1", "schedule.lr"),
                    ("epochs=0", "epochs"), ("batch=0", "batch"), ("threads=100000", "threads"), ("threads=-1", "threads"),
                    ("seed=-1", "seed"), ("seed=18446744073709551616", "seed"), ("precision.w=e4m3fnx", "e4m3fnx"),
                    ("precision.mac_fwd=acc=zz", "zz"), ("model.arch=resnet21", "resnet21"), ("optimizer.kind=sgdd", "sgdd"),
                    ("no_such_key=1", "no_such_key")]:
        out.append(Cli(f"override {o}", ["train", *TINY, o, "-o", "out.h5"], (1,), [name.split("=")[0]], DATA))
    out += [
        Cli("config is a directory", ["train", "confdir", *TINY, "-o", "out.h5"], (1,), ["confdir"],
            both(DATA, lambda d: (d / "confdir").mkdir())),
        Cli("config not UTF-8", ["train", "c.toml", *TINY, "-o", "out.h5"], (1,), ["c.toml"],
            both(DATA, files(c__toml=b"epochs = 1\n# caf\xe9 \xff\xfe\n"))),
        Cli("config missing", ["train", "missing.toml", *TINY, "-o", "out.h5"], (1,), ["missing.toml"], DATA),
        Cli("train -o existing text file", ["train", *TINY, "-o", "ex.h5"], (1,), ["ex.h5"],
            both(DATA, files(ex__h5="not a results file\n"))),
        Cli("sweep bad grid format", ["sweep", *TINY, "--grid", "precision.e=int8/minmax/tensor,e0m3", "-o", "out.h5"],
            (1,), ["e0m3"], DATA),
        Cli("sweep grid threads", ["sweep", *TINY, "--grid", "threads=1,2", "-o", "out.h5"], (1,), ["threads"], DATA),
        Cli("sweep --shard 2/2", ["sweep", *TINY, "--grid", "seed=0,1", "--shard", "2/2", "-o", "out.h5"], (1, 2), ["2/2"], DATA),
        Cli("sweep --shard 0/0", ["sweep", *TINY, "--grid", "seed=0,1", "--shard", "0/0", "-o", "out.h5"], (1, 2), ["0/0"], DATA),
        Cli("sweep without -o", ["sweep", *TINY, "--grid", "seed=0,1"], (2,), ["-o"], DATA),
        Cli("merge missing input", ["merge", "out.h5", "missing.h5"], (1,), ["missing.h5"]),
        Cli("merge output is input", ["merge", "out.h5", "out.h5"], (1,), ["out.h5"]),
        Cli("merge text input", ["merge", "out.h5", "t.h5"], (1,), ["t.h5"], files(t__h5="text\n")),
    ]
    return out


def usage_cases():
    def results_file(d):  # a finished run "run" in res.h5, made by the CLI itself
        DATA(d)
        subprocess.run([os.path.abspath(CLI), "train", *[a.replace("{d}", str(d)) for a in TINY], "-q", "-o", "res.h5"],
                       cwd=d, check=True, capture_output=True, timeout=TIMEOUT)

    return [
        Cli("unknown subcommand", ["frobnicate"], (2,), ["frobnicate"]),
        Cli("unknown option", ["matmul", "a.npy", "b.npy", "--bogus"], (2,), ["--bogus"], MATS),
        Cli("quantize without format", ["quantize"], (2,), ["format"]),
        Cli("train --resume without -o", ["train", *TINY, "--resume"], (2,), ["--resume"], DATA),
        Cli("sweep grid key twice", ["sweep", *TINY, "--grid", "seed=0", "--grid", "seed=1", "-o", "out.h5"], (1,),
            ["seed", "twice"], DATA),
        Cli("sweep grid output", ["sweep", *TINY, "--grid", "output=a.h5,b.h5", "-o", "out.h5"], (1,), ["output"], DATA),
        Cli("sweep grid no values", ["sweep", *TINY, "--grid", "seed=", "-o", "out.h5"], (1, 2), ["seed"], DATA),
        Cli("toml unknown layer key", ["train", "c.toml", *TINY, "-o", "out.h5"], (1,), ["c.toml", "frob"],
            both(DATA, files(c__toml='[[layers]]\nname = "fc1"\nfrob = 1\n'))),
        Cli("data_dir is a file", ["train", *TINY, "data_dir={d}/f", "-o", "out.h5"], (1,), ["f"],
            files(f="not a directory\n")),
        Cli("train -o a directory", ["train", *TINY, "-o", "outdir"], (1,), ["outdir"],
            both(DATA, lambda d: (d / "outdir").mkdir())),
        Cli("train -o finished results file", ["train", *TINY, "-o", "res.h5"], (1,), ["res.h5"], results_file),
        Cli("merge into a text file", ["merge", "t.txt", "res.h5"], (1,), ["t.txt"],
            both(results_file, files(t__txt="precious\n"))),
        Cli("matmul -o a directory", ["matmul", "a.npy", "b.npy", "-o", "outdir"], (1,), ["outdir"],
            both(MATS, lambda d: (d / "outdir").mkdir())),
        Cli("matmul -o dangling symlink", ["matmul", "a.npy", "b.npy", "-o", "link.npy"], (1,), ["link.npy"],
            both(MATS, lambda d: os.symlink(d / "nowhere.npy", d / "link.npy"))),
        Cli("quantize empty value", ["quantize", "e5m2", ""], (1,), ['""']),
    ]


def npy_cases():
    H = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
    ones24 = np.ones(8, "<f4").tobytes()
    cases = [
        ("truncated data", npy_case(H % ("<f4", "False", "(2, 4)"), ones24[:-4]), ["bad.npy"]),
        ("shape (2^62, 4)", npy_case(H % ("<f4", "False", "(4611686018427387904, 4)"), ones24), ["bad.npy", "4611686018427387904"]),
        ("shape (2^63, 1)", npy_case(H % ("<f4", "False", "(9223372036854775808, 1)"), ones24), ["bad.npy", "9223372036854775808"]),
        ("negative dims", npy_case(H % ("<f4", "False", "(-2, 4)"), ones24), ["bad.npy", "-2"]),
        ("wrong dtype <i4", npy_case(H % ("<i4", "False", "(2, 4)"), ones24), ["bad.npy", "<i4"]),
        ("big-endian >f4", npy_case(H % (">f4", "False", "(2, 4)"), ones24), ["bad.npy", ">f4"]),
        ("header lies: bigger shape", npy_case(H % ("<f4", "False", "(3, 4)"), ones24), ["bad.npy"]),
        ("header lies: smaller shape", npy_case(H % ("<f4", "False", "(1, 4)"), ones24), ["bad.npy"]),
        ("3-D shape", npy_case(H % ("<f4", "False", "(2, 2, 2)"), ones24), ["bad.npy", "(2, 2, 2)"]),
        ("no descr", npy_case("{'fortran_order': False, 'shape': (2, 4), }", ones24), ["bad.npy", "descr"]),
        ("fortran_order Maybe", npy_case(H % ("<f4", "Maybe", "(2, 4)"), ones24), ["bad.npy", "Maybe"]),
        ("version 9", npy_case(H % ("<f4", "False", "(2, 4)"), ones24, version=9), ["bad.npy", "9"]),
        ("header length past the end", npy_case(H % ("<f4", "False", "(2, 4)"), b"", header_len=60000), ["bad.npy"]),
        ("shape not a tuple", npy_case(H % ("<f4", "False", "[2, 4]"), ones24), ["bad.npy", "[2, 4]"]),
    ]
    out = [Cli(f"npy {name}", ["matmul", "a.npy", "bad.npy", "-o", "c.npy"], (1,), names, setup)
           for name, setup, names in cases]
    out.append(Cli("npy magic only", ["matmul", "bad.npy", "b.npy", "-o", "c.npy"], (1,), ["bad.npy"],
                   both(MATS, files(bad__npy=b"\x93NUMPY"))))
    return out


def text_cases():
    return [
        Cli("text ragged rows", ["matmul", "a.npy", "t.txt", "-o", "c.npy"], (1,), ["t.txt", "line 2"],
            both(MATS, files(t__txt="1 2\n3\n4 5\n"))),
        Cli("text word", ["matmul", "a.npy", "t.txt", "-o", "c.npy"], (1,), ["t.txt", "x"],
            both(MATS, files(t__txt="1 2\n3 x\n4 5\n"))),
        Cli("text float32 overflow", ["matmul", "a.npy", "t.txt", "-o", "c.npy"], (1,), ["t.txt", "1e39"],
            both(MATS, files(t__txt="1 2\n3 1e39\n4 5\n"))),
        Cli("text empty", ["matmul", "a.npy", "t.txt", "-o", "c.npy"], (1,), ["t.txt"],
            both(MATS, files(t__txt="# nothing\n\n"))),
        Cli("matrix is a directory", ["matmul", "a.npy", "m", "-o", "c.npy"], (1,), ["m"],
            both(MATS, lambda d: (d / "m").mkdir())),
        Cli("matrix missing", ["matmul", "a.npy", "missing.npy", "-o", "c.npy"], (1,), ["missing.npy"], MATS),
        Cli("shapes do not align", ["matmul", "a.npy", "a.npy", "-o", "c.npy"], (1,), ["do not align"], MATS),
    ]


def output_cases():
    return [
        Cli("matmul -o existing .npy", ["matmul", "a.npy", "b.npy", "-o", "c.npy"], (1,), ["c.npy"],
            both(MATS, files(c__npy=b"precious"))),
        Cli("matmul -o existing .txt", ["matmul", "a.npy", "b.npy", "-o", "c.txt"], (1,), ["c.txt"],
            both(MATS, files(c__txt="precious\n"))),
        Cli("matmul -o missing directory", ["matmul", "a.npy", "b.npy", "-o", "nodir/c.npy"], (1,), ["nodir/c.npy"], MATS),
        Cli("vectors -o existing", ["vectors", "--k", "2", "--count", "2", "-o", "v.csv"], (1,), ["v.csv"],
            files(v__csv="precious\n")),
        Cli("vectors -o existing .h5", ["vectors", "--k", "2", "--count", "2", "-o", "v.h5"], (1,), ["v.h5"],
            files(v__h5="precious\n")),
        Cli("vectors --count 2^62", ["vectors", "--k", "4", "--count", "4611686018427387904", "-o", "v.csv"], (1,),
            ["4611686018427387904"]),
        Cli("vectors --k 2^40", ["vectors", "--k", "1099511627776", "--count", "1", "-o", "v.csv"], (1,), ["1099511627776"]),
        Cli("vectors --k 0", ["vectors", "--k", "0", "-o", "v.csv"], (1, 2), ["--k"]),
        Cli("vectors --k -1", ["vectors", "--k", "-1", "-o", "v.csv"], (1, 2), ["-1"]),
        Cli("vectors --dist uniform", ["vectors", "--dist", "uniform", "-o", "v.csv"], (1,), ["uniform"]),
        Cli("vectors --scale -1", ["vectors", "--dist", "normal", "--scale", "-1", "-o", "v.csv"], (1, 2), ["scale"]),
        Cli("vectors --scale nan", ["vectors", "--dist", "normal", "--scale", "nan", "-o", "v.csv"], (1, 2), ["scale"]),
        Cli("matmul --c wrong shape", ["matmul", "a.npy", "b.npy", "--c", "a.npy", "-o", "c.npy"], (1,),
            ["a.npy is 2x3", "A.B is 2x2"], MATS),
        Cli("matmul --c missing", ["matmul", "a.npy", "b.npy", "--c", "missing.npy", "-o", "c.npy"], (1,), ["missing.npy"],
            MATS),
        Cli("matmul --c bad npy", ["matmul", "a.npy", "b.npy", "--c", "bad.npy", "-o", "c.npy"], (1,), ["bad.npy", "<i4"],
            npy_case("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", bytes(16))),
        Cli("vectors --addend ones", ["vectors", "--k", "2", "--count", "2", "--addend", "ones", "-o", "v.csv"], (1,),
            ["--addend", "ones"]),
    ]


def idx_cases():
    px = bytes(64 * 784)
    cases = [
        ("images header lies (1000 images)", "train-images-idx3-ubyte", idx_bytes(8, (1000, 28, 28), px)),
        ("images count 2^32-1", "train-images-idx3-ubyte", idx_bytes(8, (2**32 - 1, 28, 28), px)),
        ("images sides 2^31", "train-images-idx3-ubyte", idx_bytes(8, (64, 2**31, 2**31), px)),
        ("images zero count", "train-images-idx3-ubyte", idx_bytes(8, (0, 28, 28), b"")),
        ("images 2-D", "train-images-idx3-ubyte", idx_bytes(8, (64, 784), px)),
        ("images wrong magic", "train-images-idx3-ubyte", b"\x01\x02" + idx_bytes(8, (64, 28, 28), px)[2:]),
        ("images float type", "train-images-idx3-ubyte", idx_bytes(0x0D, (64, 28, 28), px)),
        ("images trailing bytes", "train-images-idx3-ubyte", idx_bytes(8, (64, 28, 28), px + b"xx")),
        ("images 14x14", "train-images-idx3-ubyte", idx_bytes(8, (64, 14, 14), bytes(64 * 196))),
        ("labels count mismatch", "train-labels-idx1-ubyte", idx_bytes(8, (63,), bytes(63))),
        ("labels value 10", "train-labels-idx1-ubyte", idx_bytes(8, (64,), bytes(63) + b"\x0a")),
        ("labels header lies", "train-labels-idx1-ubyte", idx_bytes(8, (2**31,), bytes(64))),
        ("test images truncated", "t10k-images-idx3-ubyte", idx_bytes(8, (32, 28, 28), bytes(100))),
        ("header only 3 bytes", "train-images-idx3-ubyte", b"\x00\x00\x08"),
    ]
    out = [Cli(f"idx {name}", ["train", *TINY, "-o", "out.h5"], (1,), [file], lying_idx(file, content))
           for name, file, content in cases]

    def gz_garbage(d):
        fake_fashion_mnist(d / "data")
        os.remove(d / "data" / "train-images-idx3-ubyte")
        (d / "data" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")

    def gz_truncated(d):
        fake_fashion_mnist(d / "data")
        raw = (d / "data" / "train-images-idx3-ubyte").read_bytes()
        os.remove(d / "data" / "train-images-idx3-ubyte")
        (d / "data" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw)[:200])

    out += [Cli("idx gzip garbage", ["train", *TINY, "-o", "out.h5"], (1,), ["train-images-idx3-ubyte"], gz_garbage),
            Cli("idx gzip truncated", ["train", *TINY, "-o", "out.h5"], (1,), ["train-images-idx3-ubyte"], gz_truncated),
            Cli("data_dir missing", ["train", *TINY, "data_dir={d}/nowhere", "-o", "out.h5"], (1,), ["nowhere"])]
    return out


def accepted_cases():
    return [
        Cli("ok quantize e4m3fn 1e-45", ["quantize", "e4m3fn", "1e-45"], (0,), stdout=["0x00"]),
        Cli("ok quantize fp32 1e-45", ["quantize", "fp32", "1e-45"], (0,), stdout=["0x00000001"]),
        Cli("ok quantize fp64 4.9e-324", ["quantize", "fp64", "4.9e-324"], (0,), stdout=["0x0000000000000001"]),
        Cli("ok quantize fp64 -4.9e-324 stdin", ["quantize", "fp64"], (0,), stdin="-4.9e-324 2.2250738585072014e-308\n",
            stdout=["0x8000000000000001", "0x0010000000000000"]),
        Cli("ok quantize bf16 1e-40", ["quantize", "bf16", "1e-40", "-r", "rz"], (0,), stdout=["0x0001"]),
        Cli("ok quantize --seed 2^64-1", ["quantize", "bf16", "1.1", "-r", "sr", "--seed", "18446744073709551615"], (0,)),
        Cli("ok info e11m52", ["info", "e11m52"], (0,), stdout=["e11m52"]),
        Cli("ok info e8m23fn", ["info", "e8m23fn"], (0,), stdout=["e8m23fn"]),
        Cli("ok info e10m52fn", ["info", "e10m52fn"], (0,), stdout=["e10m52fn"]),
        Cli("ok info e5m10fn:sat", ["info", "e5m10fn:sat"], (0,)),
        # docs/formats.md: F fraction bits of W in all, F in -1024..1074: fx8.9 holds -0.25 .. 127/512.
        Cli("ok info fx8.9", ["info", "fx8.9"], (0,), stdout=["0.248047"]),
        Cli("ok text matrix with 1e-40", ["matmul", "t.txt", "u.txt", "-o", "c.npy"], (0,),
            setup=files(t__txt="1e-40 1\n", u__txt="1\n1e-45\n"), creates=["c.npy"]),
        Cli("ok matmul to a new file", ["matmul", "a.npy", "b.npy", "-o", "c.npy"], (0,), setup=MATS, creates=["c.npy"]),
        Cli("ok train threads=0 print-config", ["train", *TINY, "threads=0", "--print-config"], (0,), stdout=["threads = 0"]),
        Cli("ok train relative -o", ["train", *TINY, "-q", "-o", "rel.h5"], (0,), setup=DATA, creates=["rel.h5"]),
    ]


CLI_CASES = fmt_cases() + mac_cases() + config_cases() + usage_cases() + npy_cases() + text_cases() + output_cases() + idx_cases() + \
    accepted_cases()


def snapshot(d):
    def entry(p):
        if p.is_symlink():
            return ("link", os.readlink(p))
        return ("dir", "") if p.is_dir() else ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return {str(p.relative_to(d)): entry(p) for p in sorted(d.rglob("*"))}


@needs_cli
@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli(case, tmp_path):
    d = tmp_path
    if case.setup:
        case.setup(d)
    before = snapshot(d)
    args = [a.replace("{d}", str(d)) for a in case.args]
    try:
        r = subprocess.run([os.path.abspath(CLI), *args], capture_output=True, text=True, errors="replace", cwd=d,
                           input=case.stdin, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"lpsim {' '.join(args)} ran past {TIMEOUT} s")
    report = f"lpsim {' '.join(args)}\nexit {r.returncode}\nstderr: {r.stderr.strip()[-600:]}\nstdout: {r.stdout.strip()[-300:]}"
    assert r.returncode in case.codes, report
    for name in case.names:
        assert name.replace("{d}", str(d)) in r.stderr, f"message does not name {name!r}\n{report}"
    for text in case.stdout:
        assert text in r.stdout, report
    after = snapshot(d)
    created = sorted(set(after) - set(before) - set(case.creates))
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    removed = sorted(set(before) - set(after))
    assert not (created or changed or removed), f"files created {created}, changed {changed}, removed {removed}\n{report}"
    for c in case.creates:
        assert c in after, report


# ---- the Python API table -------------------------------------------------------------------------------

PY_TINY = {"model": {"arch": "mlp", "hidden": 8}, "epochs": 1, "batch": 32, "threads": 1}


def train(d, config=None, **kw):
    cfg = dict(PY_TINY, data_dir=str(d / "data")) if config is None else config
    return lpsim.train(cfg, output=d / "out.h5", progress=False, **kw)


@dataclass
class Py:
    id: str
    call: Callable          # call(d)
    error: type
    names: Sequence[str]
    setup: Optional[Callable] = None


X = np.ones(8, np.float32)
PY_CASES = [
    *[Py(f"Format {s}", lambda d, s=s: lpsim.Format(s), ValueError, [n])
      for s, n in [("e4m3fnx", "e4m3fnx"), ("e0m3", "e0m3"), ("fx8.2000", "fx8.2000"), ("int0", "int0"),
                   ("int8/minmax/planet", "planet")]],
    Py("quantize e4m3fnx", lambda d: lpsim.quantize(X, "e4m3fnx"), ValueError, ["e4m3fnx"]),
    Py("MacConfig acc=zz", lambda d: lpsim.MacConfig("acc=zz"), ValueError, ["zz"]),
    Py("matmul mac order=sideways", lambda d: lpsim.matmul(X.reshape(2, 4), X.reshape(4, 2), "in=fp16,order=sideways"),
       ValueError, ["sideways"]),
    Py("quantize out float64", lambda d: lpsim.quantize(X, "bf16", out=np.zeros(8)), TypeError, ["out", "float64", "float32"]),
    Py("quantize out int32", lambda d: lpsim.quantize(X, "bf16", out=np.zeros(8, np.int32)), TypeError, ["int32"]),
    Py("quantize out shape", lambda d: lpsim.quantize(X, "bf16", out=np.zeros((2, 4), np.float32)), ValueError, ["(2, 4)", "(8,)"]),
    Py("quantize seed -1", lambda d: lpsim.quantize(X, "bf16", "sr", seed=-1), ValueError, ["seed", "-1"]),
    Py("quantize seed 2^64", lambda d: lpsim.quantize(X, "bf16", "sr", seed=2**64), ValueError, ["seed", "18446744073709551616"]),
    Py("matmul seed -1", lambda d: lpsim.matmul(X.reshape(2, 4), X.reshape(4, 2), seed=-1), ValueError, ["seed"]),
    Py("conv2d padding -1", lambda d: lpsim.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=-1), ValueError, ["padding"]),
    Py("conv2d stride 0", lambda d: lpsim.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=0), ValueError, ["stride"]),
    Py("decode float codes", lambda d: lpsim.decode(np.array([1.5]), "e5m2"), TypeError, ["float64"]),
    Py("train unknown key", lambda d: train(d, dict(PY_TINY, epoch=2)), ValueError, ["epoch"], DATA),
    Py("train wrong type", lambda d: train(d, dict(PY_TINY, epochs="two")), ValueError, ["epochs"], DATA),
    *[Py(f"train {k}={v!r}", lambda d, k=k, v=v: train(d, **{k: v}), ValueError, [k.replace("__", ".")], DATA)
      for k, v in [("schedule__lr", float("nan")), ("schedule__lr", float("inf")), ("schedule__lr", -1.0),
                   ("epochs", 0), ("batch", 0), ("threads", 100000), ("threads", -1), ("seed", -1), ("seed", 2**64),
                   ("precision__w", "int8/minmax/planet")]],
    Py("train config directory", lambda d: lpsim.train(str(d / "confdir"), progress=False), IsADirectoryError, ["confdir"],
       lambda d: (d / "confdir").mkdir()),
    Py("train config not UTF-8", lambda d: lpsim.train(str(d / "c.toml"), progress=False), ValueError, ["c.toml", "line 2"],
       files(c__toml=b"epochs = 1\n# caf\xe9\n")),
    Py("train lying IDX", lambda d: train(d), RuntimeError, ["train-images-idx3-ubyte"],
       lying_idx("train-images-idx3-ubyte", idx_bytes(8, (1000, 28, 28), bytes(64 * 784)))),
    Py("train group empty", lambda d: train(d, group=""), ValueError, ["group"], DATA),
    Py("sweep bad grid value", lambda d: lpsim.sweep(dict(PY_TINY, data_dir=str(d / "data")), {"precision.e": ["e5m2", "e0m3"]},
                                                     output=d / "out.h5", progress=False), ValueError, ["e0m3"], DATA),
    Py("sweep output is a directory", lambda d: lpsim.sweep(PY_TINY, {"seed": [0]}, output=d / "outdir", progress=False),
       IsADirectoryError, ["outdir"], lambda d: (d / "outdir").mkdir()),
    Py("train output is a directory", lambda d: lpsim.train(dict(PY_TINY, data_dir=str(d / "data")), output=d / "outdir",
                                                            progress=False), (OSError, ValueError, RuntimeError), ["outdir"],
       both(DATA, lambda d: (d / "outdir").mkdir())),
    Py("quantize x complex", lambda d: lpsim.quantize(np.ones(2, complex), "bf16"), TypeError, ["complex128"]),
    Py("quantize int64 not exact", lambda d: lpsim.quantize(np.array([2**53 + 1]), "fp64"), ValueError, ["9007199254740993"]),
    Py("bitops negative", lambda d: lpsim.bitops("fp32", -1, 2, 3), ValueError, ["bitops: m"]),
    Py("sweep processes 0", lambda d: lpsim.sweep(PY_TINY, {"seed": [0]}, output=d / "out.h5", processes=0), ValueError,
       ["processes"]),
    Py("matmul c shape", lambda d: lpsim.matmul(X.reshape(2, 4), X.reshape(4, 2), c=X.reshape(4, 2)), ValueError,
       ["matmul: c", "(4, 2)", "(2, 2)"]),
    Py("matmul c 1-D", lambda d: lpsim.matmul(X.reshape(2, 4), X.reshape(4, 2), c=X[:4]), ValueError, ["matmul: c", "(4,)"]),
    Py("matmul c complex", lambda d: lpsim.matmul(X.reshape(2, 4), X.reshape(4, 2), c=np.ones((2, 2), complex)), TypeError,
       ["matmul: c", "complex128"]),
]


@pytest.mark.parametrize("case", PY_CASES, ids=[c.id for c in PY_CASES])
def test_python(case, tmp_path):
    if case.setup:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as e:
        case.call(tmp_path)
    for name in case.names:
        assert name in str(e.value), f"{type(e.value).__name__}: {e.value} does not name {name!r}"
    assert snapshot(tmp_path) == before, "files created or changed"


def test_the_tables_are_large_enough():
    bad = [c for c in CLI_CASES if 0 not in c.codes]
    assert len(bad) + len(PY_CASES) >= 60 and len(CLI_CASES) - len(bad) >= 10

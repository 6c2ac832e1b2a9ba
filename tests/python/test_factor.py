"""Factor-study experiments (experiments/factor): run with --quick, check the behaviour they must show,
and execute the notebook headless."""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTOR = os.path.join(ROOT, "experiments", "factor")


def _run(script, *args, check=True):
    r = subprocess.run([sys.executable, os.path.join(FACTOR, script), *args], capture_output=True, text=True,
                       env=dict(os.environ), timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def acc_file(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("factor") / "acc.h5")
    _run("accumulation.py", "--quick", "--quiet", "--out", p)
    return p


@pytest.fixture(scope="module")
def usage_file(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("factor") / "usage.h5")
    _run("usage.py", "--quick", "--quiet", "--out", p)
    return p


@pytest.fixture(scope="module")
def training_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("factor_training")
    sens, accw = str(d / "training.h5"), str(d / "accwidth.h5")
    _run("training.py", "sensitivity", "--quick", "--quiet", "--out", sens)
    _run("training.py", "depth", "--quick", "--quiet", "--seeds", "0,1", "--out", sens)
    _run("training.py", "accwidth", "--quick", "--quiet", "--widths", "8", "--out", accw)
    return sens, accw


def _col(f, key, col):
    return f["accumulation"][key][col][()]


def test_accumulation_low_precision_accumulator_error_grows_with_k(acc_file):
    with h5py.File(acc_file, "r") as f:
        g = f["accumulation"]
        assert g.attrs["script"] == "experiments/factor/accumulation.py" and "date" in g.attrs and "seed" in g.attrs
        ks = _col(f, "fp16.fp16seq/gauss", "k")
        assert len(ks) >= 3 and np.all(np.diff(ks) > 0)
        for dist in ("gauss", "relu"):
            seq = _col(f, f"fp16.fp16seq/{dist}", "acc_sqnr_db")
            wide = _col(f, f"fp16.fp32/{dist}", "acc_sqnr_db")
            # the fp16 accumulator loses accuracy as K grows; the fp32 one stays far better throughout
            assert seq[-1] < seq[0] - 6, seq
            assert np.all(wide > seq + 20), (wide, seq)
            total_seq = _col(f, f"fp16.fp16seq/{dist}", "total_rel_fro")
            assert total_seq[-1] > 2 * total_seq[0]
        # with a wide accumulator the total error of zero-mean operands is the operand noise: flat in K
        flat = _col(f, "fp16.fp32/gauss", "total_rel_fro")
        assert flat.max() < 2 * flat.min(), flat


def test_accumulation_nonnegative_sums_average_out_operand_noise(acc_file):
    # the paper's claim: more accumulation, more tolerance to (operand) quantization noise
    with h5py.File(acc_file, "r") as f:
        for cfg in ("fp8.fp32", "fp16.fp32", "bf16.fp32"):
            e = _col(f, f"{cfg}/relu", "total_rel_fro")
            assert np.all(np.diff(e) < 0), (cfg, e)


def test_accumulation_swamping_rises_with_k(acc_file):
    with h5py.File(acc_file, "r") as f:
        for key in ("fp16.fp16seq/relu", "bf16.bf16seq/relu", "bf16.bf16seq/gauss"):
            s = _col(f, key, "swamped_frac")
            assert s[-1] > s[0] and s[-1] > 0, (key, s)
        assert np.all(_col(f, "fp32.fp32/gauss", "swamped") <= _col(f, "bf16.bf16seq/gauss", "swamped"))


def test_accumulation_fixed_wrap_and_sat_differ_once_range_exceeded(acc_file):
    with h5py.File(acc_file, "r") as f:
        wrap_err = _col(f, "int8.int16wrap/relu", "total_rel_fro")
        sat_err = _col(f, "int8.int16sat/relu", "total_rel_fro")
        over = _col(f, "int8.int16wrap/relu", "overflows")
        sats = _col(f, "int8.int16sat/relu", "saturations")
        exceeded = over > 0
        assert exceeded.any() and not exceeded.all(), over  # quick K range crosses the int16 range
        assert np.all(wrap_err[~exceeded] == 0) and np.all(sat_err[~exceeded] == 0)
        assert np.all(sats[exceeded] > 0)
        # saturation clips to the largest value; wrapping folds around: far worse
        assert np.all(wrap_err[exceeded] > sat_err[exceeded]), (wrap_err, sat_err)
        # int32 never overflows here: exact integer results
        assert np.all(_col(f, "int8.int32/relu", "total_rel_fro") == 0)


def test_usage_per_output_flat_aggregate_grows(usage_file):
    with h5py.File(usage_file, "r") as f:
        g = f["usage_matmul"]
        for fmt in ("fp8e4m3", "bf16", "fp16"):
            for dist in ("gauss", "relu"):
                c = g[f"{fmt}/{dist}"]
                n = c["n"][()]
                assert np.array_equal(c["usage_a"][()], n)  # lpsim reports the usage frequency it was given
                po = c["per_output_rel"][()]
                agg = c["agg_rel"][()]
                assert po.max() < 1.6 * po.min(), (fmt, dist, po)  # independent of N
                assert np.all(np.diff(agg) > 0), (fmt, dist, agg)  # the aggregate's error grows with reuse
            # nonnegative B: the N copies of an element's error add coherently (gain ~ sqrt(N))
            gain = g[f"{fmt}/relu"]["correlation_gain"][()]
            assert gain[-1] > 0.5 * np.sqrt(n[-1]) and np.all(np.diff(gain) > 0), gain
            # zero-mean B: no coherence, the gain stays near 1
            assert g[f"{fmt}/gauss"]["correlation_gain"][()].max() < 2.0
        cv = f["usage_conv"]["fp8e4m3/relu"]
        assert np.all(np.diff(cv["usage_w"][()]) > 0)
        po = cv["per_output_rel"][()]
        assert po.max() < 1.6 * po.min()
        assert np.all(np.diff(cv["agg_rel"][()]) > 0)


def test_resume_skips_finished_and_rejects_other_parameters(tmp_path):
    p = str(tmp_path / "u.h5")
    _run("usage.py", "--quick", "--quiet", "--out", p, "--n", "1,4")
    with h5py.File(p, "a") as f:  # an interrupted configuration: no 'complete' mark
        f["usage_matmul"]["fp16/relu"].attrs["complete"] = False
        f["usage_matmul"]["fp16/gauss"].attrs["marker"] = 7
    _run("usage.py", "--quick", "--quiet", "--out", p, "--n", "1,4", "--resume")
    with h5py.File(p, "r") as f:
        assert f["usage_matmul"]["fp16/gauss"].attrs["marker"] == 7  # finished: kept
        assert f["usage_matmul"]["fp16/relu"].attrs["complete"]  # redone
    r = _run("usage.py", "--quick", "--quiet", "--out", p, "--n", "1,8", "--resume", check=False)
    assert r.returncode != 0 and "other parameters" in r.stderr


def test_training_sensitivity_and_depth_runs(training_files):
    sens, _ = training_files
    with h5py.File(sens, "r") as f:
        names = set(f)
        base = f["baseline,seed=0"]
        layers = [n.decode() for n in base["layers/name"][()]]
        interior = layers[1:-1]
        assert {f"layer={n},seed=0" for n in interior} <= names  # every interior layer alone
        # depth: the stage-1 convolutions (not the shortcut) over a second seed, with its baseline
        stage1 = [n for n in interior if n.startswith("stage1.")]
        assert stage1 and {f"layer={n},seed=1" for n in stage1} | {"baseline,seed=1"} <= names
        assert all(f[n].attrs["status"] == "finished" for n in names)
        # only the named layer is quantized: 2-bit W there, fp32 elsewhere
        for i, n in enumerate(interior, start=1):
            bits = f[f"layer={n},seed=0"]["layers/bits_w"][0]
            assert bits[i] == 2 and all(b == 32 for j, b in enumerate(bits) if j != i), (n, bits)
        assert np.all(base["layers/bits_w"][0] == 32)
        k = base["layers/k"][0, :, 0]
        assert k[1] == 16 * 9  # stage1.block1.conv1: 16 channels x 3 x 3
    r = _run("training.py", "report", "--sens", sens)
    assert "| stage1.block1.conv1 | 1 | 144 |" in r.stdout
    assert "Spearman rank correlation" in r.stdout and "| k |" in r.stdout
    assert "### Depth (seeds 0,1)" in r.stdout


def test_training_accumulator_width_runs(training_files):
    _, accw = training_files
    with h5py.File(accw, "r") as f:
        assert sorted(f) == sorted(["acc=fp32", "acc=int32", "acc=int8:wrap", "acc=int8:sat"])
        loss = {n: f[n]["epochs/train_loss"][0] for n in f}
        assert "a=int4,b=uint4,acc=int8:wrap" in f["acc=int8:wrap"].attrs["config"]
    # an 8-bit accumulator overflows on 4-bit codes (K >= 16): the runs differ from the exact int32 one
    assert loss["acc=int8:wrap"] != loss["acc=int32"] and loss["acc=int8:sat"] != loss["acc=int32"]
    r = _run("training.py", "report", "--acc", accw)
    assert "| int32 |" in r.stdout and "worst case needs" in r.stdout


@pytest.mark.parametrize("script,args,msg", [
    ("accumulation.py", ["--k", "16,x"], "comma-separated positive integers"),
    ("accumulation.py", ["--k", "0,16"], "comma-separated positive integers"),
    ("accumulation.py", ["--configs", "fp16.fp17"], "unknown fp16.fp17"),
    ("usage.py", ["--k", "0"], "--k must be positive"),
    ("usage.py", ["--out", "/nonexistent-dir/x.h5"], "does not exist"),
    ("plot.py", [], "give --acc and/or --usage"),
    ("training.py", ["accwidth"], "accwidth needs --out"),
    ("training.py", ["accwidth", "--out", "x.h5", "--widths", "1"], "accumulator bits must be in [2, 64]"),
    ("training.py", ["depth", "--out", "x.h5", "--seeds", "a"], "comma-separated integers"),
])
def test_bad_arguments_are_named(script, args, msg):
    r = _run(script, *args, check=False)
    assert r.returncode != 0 and msg in r.stderr, r.stderr


def test_plots_and_notebook(acc_file, usage_file, training_files, tmp_path, monkeypatch):
    r = _run("plot.py", "--acc", acc_file, "--usage", usage_file, "--outdir", str(tmp_path))
    pngs = r.stdout.split()
    assert len(pngs) == 5
    for p in pngs:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    import nbclient  # Debian python3-nbclient, python3-nbformat, python3-ipykernel (scripts/deps.sh)
    import nbformat
    nb = nbformat.read(os.path.join(ROOT, "notebooks", "factor_study.ipynb"), as_version=4)
    monkeypatch.setenv("LPSIM_ROOT", ROOT)
    # the notebook loads the files the fixtures made (its --quick fallback runs the same scripts)
    shutil.copy(acc_file, tmp_path / "factor_accumulation.h5")
    shutil.copy(usage_file, tmp_path / "factor_usage.h5")
    shutil.copy(training_files[0], tmp_path / "factor_training.h5")
    shutil.copy(training_files[1], tmp_path / "factor_accwidth.h5")
    monkeypatch.setenv("LPSIM_FACTOR_DIR", str(tmp_path))
    monkeypatch.delenv("LPSIM_FACTOR_QUICK", raising=False)
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger warns about frozen modules
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 8  # every plot of plot.py and of training.py's report, drawn in the notebook
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "fp16.fp16seq" in text and "per-output" in text
    assert "Spearman rank correlation" in text and "### Accumulator width" in text

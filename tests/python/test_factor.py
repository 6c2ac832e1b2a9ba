"""Factor-study experiments (experiments/factor): run with --quick, check the behaviour they must show,
and execute the notebook headless."""
import os
import re
import shutil
import subprocess
import sys

import math

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTOR = os.path.join(ROOT, "experiments", "factor")
sys.path.insert(0, FACTOR)
import training  # noqa: E402  (experiments/factor/training.py: its statistics, tested directly)
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import claims_table  # noqa: E402


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
    assert "Spearman rank correlation" in r.stdout and "| k |" in r.stdout and "| depth |" in r.stdout
    assert "### Depth (seeds 0,1)" in r.stdout
    # one sensitivity seed: no interval; the depth table's two seeds give each layer a paired interval and p
    assert "| n/a | n/a |" in r.stdout
    runs = training.lpsim.load(sens, status="finished")
    drows = training.depth_table(runs, [0, 1])
    layer = next(d for d in drows if d["depth"] >= 0)
    d = [100 * (runs[f"baseline,seed={s}"]["epochs"]["test_acc"][-1] -
                runs[f"layer={layer['layer']},seed={s}"]["epochs"]["test_acc"][-1]) for s in (0, 1)]
    assert layer["drop"] == pytest.approx(np.mean(d)) and sorted(layer["drops"]) == [0, 1]
    if d[0] != d[1]:  # t(1) 0.975 = 12.706: mean -/+ 12.706 |d0 - d1| / 2
        half = 12.706 * abs(d[0] - d[1]) / 2
        assert layer["ci"] == pytest.approx((np.mean(d) - half, np.mean(d) + half), abs=1e-6)
    # the slope of the drop on depth, intercept per seed: with ResNet-8's two stage-1 layers (depths 1, 2) and
    # two seeds it is the mean over the seeds of drop(depth 2) - drop(depth 1); df = 4 pairs - 2 seeds - 1
    d1, d2 = (next(r for r in drows if r["depth"] == k) for k in (1, 2))
    slope = np.mean([d2["drops"][s] - d1["drops"][s] for s in (0, 1)])
    m = re.search(r"Slope of the paired drop on depth over 4 \(layer, seed\) pairs: ([-+]\d+\.\d+) pp per layer, "
                  r"95 % CI \[[^]]*\] \(df 1\)", r.stdout)
    assert m and float(m.group(1)) == pytest.approx(slope, abs=5e-4), r.stdout[-600:]
    assert "Spearman(depth" not in r.stdout  # two layers: rho is +-1 whatever the data, not printed


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
    ("training.py", ["isolate"], "isolate needs --out"),
    ("training.py", ["isolate", "--out", "x.h5", "--batches", "0"], "batch sizes must be positive"),
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


# ---- the report's statistics against values worked by hand --------------------------------------

def test_incomplete_beta_and_t_distribution_known_values():
    assert training.betainc(1, 1, 0.3) == pytest.approx(0.3, abs=1e-14)  # uniform
    assert training.betainc(2.5, 1, 0.4) == pytest.approx(0.4 ** 2.5, abs=1e-14)  # I_x(a, 1) = x^a
    # I_0.4(2, 3) = sum_{j=2..4} C(4, j) 0.4^j 0.6^(4-j) = 0.3456 + 0.1536 + 0.0256
    assert training.betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-14)
    assert training.betainc(3, 2, 0.6) == pytest.approx(1 - 0.5248, abs=1e-14)  # symmetry
    assert training.t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-14)  # Cauchy: 1/2 + atan(1)/pi
    assert training.t_cdf(1.0, 2) == pytest.approx(0.5 + 1 / (2 * math.sqrt(3)), abs=1e-14)  # t/(2 sqrt(2+t^2))
    assert training.t_cdf(-1.0, 2) == pytest.approx(0.5 - 1 / (2 * math.sqrt(3)), abs=1e-14)
    assert training.t_cdf(0.0, 7) == 0.5
    # printed tables: t_{0.975, df}, t_{0.95, 10}
    for df, q in ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (30, 2.042), (120, 1.980)):
        assert training.t_quantile(0.975, df) == pytest.approx(q, abs=5e-4), df
        assert training.t_p_two_sided(q, df) == pytest.approx(0.05, abs=2e-4), df
    assert training.t_quantile(0.95, 10) == pytest.approx(1.812, abs=5e-4)
    assert training.t_quantile(0.025, 4) == pytest.approx(-2.776, abs=5e-4)
    # the claims table's t (a table and a numerical integral) agrees where it is exact
    for df in range(1, 11):
        assert training.t_quantile(0.975, df) == pytest.approx(claims_table.t_quantile_975(df), abs=6e-4)
        assert training.t_p_two_sided(2.5, df) == pytest.approx(claims_table.t_two_sided_p(2.5, df), abs=1e-6)
    with pytest.raises(ValueError):
        training.t_quantile(1.0, 3)


def _run_dict(acc, loss=0.5):
    return {"epochs": {"test_acc": np.array([acc]), "train_loss": np.array([loss])}}


def test_paired_drop_interval_by_hand():
    # drops 1, 2, 3 pp: mean 2, sd 1, 95 % CI 2 -/+ 4.303 / sqrt(3), t = 2 sqrt(3) with 2 df: p = 0.0742
    base = {0: _run_dict(0.75), 1: _run_dict(0.76), 2: _run_dict(0.77), 3: _run_dict(0.80)}
    quant = {0: _run_dict(0.74), 1: _run_dict(0.74), 2: _run_dict(0.74)}
    st = training.drop_stats(base, quant)
    assert st["n"] == 3 and st["mean"] == pytest.approx(2.0)
    assert st["ci"] == pytest.approx((2 - 4.303 / math.sqrt(3), 2 + 4.303 / math.sqrt(3)), abs=1e-6)
    assert st["p"] == pytest.approx(0.0742, abs=5e-4)
    assert st["drops"] == pytest.approx({0: 1.0, 1: 2.0, 2: 3.0})
    assert training.drop_stats(base, {7: _run_dict(0.5)})["n"] == 0  # no common seed


def test_permutation_spearman_exact_and_monte_carlo():
    # perfectly ordered: only the two monotone orders of 4 values reach |rho| = 1: p = 2 / 4!
    assert training.spearman_test([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx((1.0, 2 / 24))
    assert training.spearman_test([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx((-1.0, 2 / 120))
    # rho = 1 - sum d^2 / 20 = 0.8 for n = 5: |rho| >= 0.8 iff sum d^2 <= 4 (or >= 36): the identity, 4 adjacent
    # swaps, 3 pairs of disjoint adjacent swaps, and their 8 reverses: p = 16 / 120
    assert training.spearman_test([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx((0.8, 16 / 120))
    # 20 values: Monte Carlo; a perfect order is never reached by a random order: p = 1 / (n_perm + 1)
    rho, p = training.spearman_test(range(20), np.arange(20) ** 2, n_perm=999)
    assert rho == 1.0 and p == pytest.approx(1 / 1000)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=20), rng.normal(size=20)
    a, b = training.spearman_test(x, y, n_perm=2000), training.spearman_test(x, y, n_perm=2000)
    assert a == b  # seeded: deterministic
    assert training.spearman_test(x, y, n_perm=2000, seed=1) != a  # another seed, another sample of orders
    assert 0.05 < a[1] <= 1
    rho, p = training.spearman_test([1, 1, 2, 2], [1, 2, 3, 4])  # ties share their rank
    assert rho == pytest.approx(np.corrcoef([0.5, 0.5, 2.5, 2.5], [0, 1, 2, 3])[0, 1])
    assert math.isnan(training.spearman_test([1, 1, 1], [1, 2, 3])[1])


def test_slope_with_an_intercept_per_seed_by_hand():
    # seed 0: y = x (slope 1), seed 1: y = 8 + 2x (slope 2). Centred per seed: Sxx = 4, Sxy = 2 + 4: slope 1.5;
    # residuals +-0.5 (4 of them): SSR 1, df 6 - 2 - 1 = 3, se sqrt(1/3/4); 95 %: 1.5 -/+ 3.182 se.
    f = training.slope_test([1, 2, 3, 1, 2, 3], [1, 2, 3, 10, 12, 14], [0, 0, 0, 1, 1, 1])
    se = math.sqrt(1 / 3 / 4)
    assert f["slope"] == pytest.approx(1.5) and f["df"] == 3
    assert f["ci"] == pytest.approx((1.5 - 3.182 * se, 1.5 + 3.182 * se), abs=1e-3)
    assert f["p"] == pytest.approx(claims_table.t_two_sided_p(1.5 / se, 3), abs=1e-6)
    # over the seeds: slopes 1 and 2, mean 1.5, se 0.5, t(1) 0.975 = 12.706
    assert f["seeds"] == 2 and f["seed_ci"] == pytest.approx((1.5 - 6.353, 1.5 + 6.353), abs=1e-9)
    # the seeds' offsets do not enter: a plain regression would see the jump from 3 to 10
    assert training.slope_test([1, 2], [1, 2], [0, 1]) is None  # no x variation within a seed
    sd, df = training.pooled_sd([[1, 2, 3], [5, 7]])
    assert (sd, df) == (pytest.approx(math.sqrt(4 / 3)), 3)
    # the report's noise of a paired difference: drops (1, 3) and (2, 2) over 2 seeds: SS 2 + 0, df 2, sd 1;
    # half-width of a layer's 95 % interval t(2) / sqrt(2) = 4.303 / 1.414
    sd, df, half = training.paired_noise([{"drops": {0: 1.0, 1: 3.0}, "seeds": 2}, {"drops": {0: 2.0, 1: 2.0}, "seeds": 2}])
    assert (sd, df) == (pytest.approx(1.0), 2) and half == pytest.approx(4.303 / math.sqrt(2), abs=1e-3)


def _layers(names, ks, usage):
    n = len(names)
    return {"name": np.array(names), "depth": np.arange(n), "params": np.full(n, 9),
            "k": np.array([[[k, k, k] for k in ks]]), "usage_a": np.array([[[u, u, u] for u in usage]]),
            "usage_b": np.ones((1, n, 3))}


def test_isolate_table_signs_and_pairing():
    names = ["stem.conv", "stage1.block1.conv1", "stage2.block1.conv1", "stage2.block1.shortcut.conv",
             "stage3.block1.conv1", "stage3.block1.shortcut.conv", "fc"]
    runs = {}
    base = {0: 0.70, 1: 0.72, 2: 0.74}
    for s, b in base.items():
        for batch, u in ((64, 1.0), (128, 2.0), (256, 4.0)):
            L = _layers(names, [9, 144, 144, 16, 288, 32, 64], [u * 100] * 7)
            runs[f"baseline,batch={batch},seed={s}"] = dict(_run_dict(b), layers=L)
            # usage layer: drop 0.5, 1.0, 1.5 pp at 64, 128, 256 (+ 0.1 s for seed s)
            drop = {64: 0.5, 128: 1.0, 256: 1.5}[batch] + 0.1 * s
            runs[f"layer=stage1.block1.conv1,batch={batch},seed={s}"] = dict(_run_dict(b - drop / 100), layers=L)
        L = runs[f"baseline,batch=128,seed={s}"]["layers"]
        for n, drop in (("stage2.block1.conv1", 1.0), ("stage2.block1.shortcut.conv", 2.0 + s),
                        ("stage3.block1.conv1", 0.5), ("stage3.block1.shortcut.conv", 0.5)):
            runs[f"layer={n},batch=128,seed={s}"] = dict(_run_dict(b - drop / 100), layers=L)
    t = training.iso_table(runs)
    p2, p3 = t["k"]
    assert (p2["big"], p2["small"]) == ("stage2.block1.conv1", "stage2.block1.shortcut.conv")
    # drop(K 144) - drop(K 16) = 1 - (2 + s) = -1, -2, -3 pp: mean -2, sd 1
    m, ci, p, n = p2["contrast"]
    half = 4.303 / math.sqrt(3)
    assert (m, n) == (pytest.approx(-2.0), 3) and ci == pytest.approx((-2 - half, -2 + half), abs=1e-3)
    assert p3["contrast"][0] == pytest.approx(0.0, abs=1e-9)
    assert t["k_pooled"][0] == pytest.approx(-1.0)  # the pairs averaged within each seed: -0.5, -1, -1.5
    u = t["usage"]
    assert [r["batch"] for r in u] == [64, 128, 256] and [r["usage_w"] for r in u] == [100, 200, 400]
    assert [r["mean"] for r in u] == pytest.approx([0.6, 1.1, 1.6])
    assert t["usage_contrast"][0] == pytest.approx(1.0)  # drop(256) - drop(64)
    f = t["usage_fit"]  # +0.5 pp per doubling of usage, exactly, in every seed
    assert f["slope"] == pytest.approx(0.5) and f["ci"] == pytest.approx((0.5, 0.5), abs=1e-6)
    text = "\n".join(training.report_isolate(t))
    assert "| 256 | 144 | 9 | 400 |" in text and "the paper predicts < 0" in text


def test_isolate_quick_runs_resumes_and_reports(tmp_path):
    out = str(tmp_path / "iso.h5")
    args = ("isolate", "--quick", "--iso-seeds", "0", "--batches", "64", "--out", out)
    first = _run("training.py", *args)
    assert first.stdout.count(" test ") == 8  # batch 64: baseline + usage layer; 128: baseline + 4 K + usage layer
    with h5py.File(out, "r") as f:
        names = set(f)
        assert names == {"baseline,batch=64,seed=0", "baseline,batch=128,seed=0",
                         "layer=stage1.block1.conv1,batch=64,seed=0", "layer=stage1.block1.conv1,batch=128,seed=0",
                         *(f"layer={n},batch=128,seed=0" for p in training.ISO_K_PAIRS for n in p)}
        assert all(f[n].attrs["status"] == "finished" for n in names)
        layers = [n.decode() for n in f["baseline,batch=128,seed=0/layers/name"][()]]
        for n in names - {"baseline,batch=64,seed=0", "baseline,batch=128,seed=0"}:
            q = n.split(",")[0][6:]
            bits_w, bits_a, bits_e = (f[n][f"layers/bits_{t}"][0] for t in "wae")
            i = layers.index(q)
            assert bits_w[i] == 2 and all(b == 32 for j, b in enumerate(bits_w) if j != i), (n, bits_w)
            assert np.all(bits_a == 32) and np.all(bits_e == 32)  # W only
        k = dict(zip(layers, f["baseline,batch=128,seed=0/layers/k"][0, :, 0]))
        assert k["stage2.block1.conv1"] == 144 and k["stage2.block1.shortcut.conv"] == 16
        i = layers.index("stage1.block1.conv1")
        u64, u128 = (f[f"layer=stage1.block1.conv1,batch={b},seed=0/layers/usage_a"][0, i, 0] for b in (64, 128))
        assert u128 == 2 * u64 == 128 * 28 * 28  # usage of a weight: batch x output positions; K unchanged
        acc = {n: f[n]["epochs/test_acc"][()].tolist() for n in names}
    again = _run("training.py", *args)
    assert again.stdout.count("finished before: skipped") == 8 and " test " not in again.stdout
    with h5py.File(out, "r") as f:
        assert {n: f[n]["epochs/test_acc"][()].tolist() for n in f} == acc  # nothing rerun or rewritten
    r = _run("training.py", "report", "--iso", out)
    assert "### Isolating accumulation length" in r.stdout and "### Isolating usage frequency" in r.stdout
    assert "| 64 | 144 | 2304 | 50176 |" in r.stdout and "(n = 1)" in r.stdout

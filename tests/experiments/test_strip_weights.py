"""experiments/strip_weights.py (the committed snapshot of results/claims): a copy without the final weights
of finished runs, everything else equal, and a sweep resumed on the copy skips its finished runs and
finishes the rest."""
import os
import subprocess
import sys

import h5py
import numpy as np

from lpsim_cli import TINY, lpsim

SCRIPT = os.path.join(os.path.dirname(__file__), "../../experiments/strip_weights.py")


def _tree(path):
    """Every dataset's values and every attribute of a results file, by path."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = dict(f.attrs)

        def visit(name, obj):
            out[name] = obj[()] if isinstance(obj, h5py.Dataset) else dict(obj.attrs)
        f.visititems(visit)
    return out


def test_strip_drops_only_finished_weights_and_a_sweep_resumes_on_the_copy(tmp_path):
    src, dst = tmp_path / "s.h5", tmp_path / "d.h5"
    base = ["--model", "mlp", "--epochs", "1", *TINY]
    lpsim("-q", "sweep", *base, "--grid", "seed=0,1", "-o", src)
    subprocess.run([sys.executable, SCRIPT, str(src), str(dst)], check=True)
    a, b = _tree(src), _tree(dst)
    dropped = {k for k in a if k not in b}
    assert dropped and all("/weights" in k for k in dropped)
    assert {k.split("/")[0] for k in dropped if k.endswith("/weights")} == {"seed=0", "seed=1"}
    for k, v in b.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == a[k].dtype, k
            if v.dtype == object:  # strings
                assert v.tolist() == a[k].tolist(), k
            else:
                assert v.tobytes() == a[k].tobytes(), k  # bit for bit
        else:
            assert v == a[k], k
    # The copy resumes: the finished points are skipped, a new one runs.
    r = lpsim("sweep", *base, "--grid", "seed=0,1,2", "-o", dst)
    assert r.stdout.count("skipped") == 2, r.stdout
    with h5py.File(dst, "r") as f:
        assert f["seed=2"].attrs["status"] == "finished" and "weights" in f["seed=2"]


def test_strip_refuses_bad_input_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    for args, says in ([str(bad), str(tmp_path / "out.h5")], "not a readable HDF5"), \
                      ([str(tmp_path / "none.h5"), str(tmp_path / "out.h5")], "no such results file"), \
                      ([str(bad), str(bad)], "same file"), ([str(bad)], "usage"):
        r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
        assert r.returncode != 0 and says in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.h5"]

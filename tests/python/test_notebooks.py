"""The notebooks of notebooks/ execute headless on their quick settings, draw every figure inline (image/png
outputs of the executed notebook), print the quick-mode banner, and write quick-mode files of their own;
factor_study also runs when copied out of the repository."""
import glob
import os
import shutil

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")
BANNER = "QUICK MODE: tiny settings, numbers are illustrative only"
NOTEBOOKS = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def _execute(path, cwd, timeout=600):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs)
    return images, text


def _quick_env(monkeypatch, out):
    monkeypatch.setenv("LPSIM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("LPSIM_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger warns about frozen modules


def test_every_notebook_is_covered_and_follows_the_rules():
    import json
    assert set(NOTEBOOKS) == {"formats_explorer", "precision_sensitivity", "policy_comparison", "factor_study",
                              "torch_bridge"}
    for name in NOTEBOOKS:
        nb = json.load(open(os.path.join(ROOT, "notebooks", f"{name}.ipynb")))
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        # stored without outputs; figures inline (no forced Agg backend); one quick-mode variable
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), name
        assert 'matplotlib.use("Agg")' not in code and "%matplotlib inline" in code, name
        assert "LPSIM_NOTEBOOK_QUICK" in code and "LPSIM_FACTOR_QUICK" not in code, name
        assert BANNER in code and '"_quick" if QUICK' in code, name
        assert "plt.show()" in code, name
        # the settings cell says how long each mode takes
        assert "Time on 2 cores" in code and "quick about" in code and ("full about" in code or "full several" in code), name


@pytest.mark.parametrize("name, figures, results, needs_data", [
    ("formats_explorer", ["formats_error", "formats_modes", "formats_sr_bias"], [], False),
    ("precision_sensitivity", ["sensitivity"], ["sensitivity"], True),
    ("policy_comparison", ["policies"], ["policies"], True),
    ("torch_bridge", ["torch_bridge_lm"], [], False),
])
def test_notebook_runs(name, figures, results, needs_data, tmp_path, monkeypatch):
    if needs_data and not HAVE_DATA:
        pytest.skip("Fashion-MNIST (dataset-fashion-mnist) not installed")
    if name == "torch_bridge":
        pytest.importorskip("torch")
        if not os.path.exists("/usr/share/games/fortunes/fortunes"):
            pytest.skip("Debian's fortunes-min (the text corpus) not installed")
    _quick_env(monkeypatch, tmp_path)
    images, text = _execute(os.path.join(ROOT, "notebooks", f"{name}.ipynb"), tmp_path)
    assert len(images) >= len(figures) >= 1, len(images)  # every figure displayed inline
    assert BANNER in text
    for f in figures:  # the saved copies carry the quick suffix: a full run never finds them
        assert (tmp_path / f"{f}_quick.png").stat().st_size > 1000, f
        assert not (tmp_path / f"{f}.png").exists(), f
    for r in results:
        assert (tmp_path / f"{r}_quick.h5").exists(), r
        assert not (tmp_path / f"{r}.h5").exists(), r


def test_factor_study_runs_copied_out_of_the_repository(tmp_path, monkeypatch):
    # only the lpsim package on PYTHONPATH says where the source tree is: no LPSIM_ROOT, not run from the tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nb = shutil.copy(os.path.join(ROOT, "notebooks", "factor_study.ipynb"), elsewhere)
    _quick_env(monkeypatch, elsewhere)
    for v in ("LPSIM_ROOT", "LPSIM_FACTOR_DIR"):
        monkeypatch.delenv(v, raising=False)
    images, text = _execute(nb, elsewhere, timeout=900)
    assert len(images) == 8, len(images)  # K: error, swamping, fixed point; N: matmul, conv; sensitivity, depth, width
    assert BANNER in text and f"source tree: {ROOT}" in text
    assert "fp16.fp16seq" in text and "per-output" in text
    assert "Spearman rank correlation" in text and "### Accumulator width" in text
    for k in ("accumulation", "usage", "training", "accwidth"):
        assert (elsewhere / f"factor_{k}_quick.h5").exists(), k
        assert not (elsewhere / f"factor_{k}.h5").exists(), k

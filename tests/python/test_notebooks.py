"""The notebooks of notebooks/ execute headless on their quick settings and draw their figures."""
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "../..")
HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("name, figures, needs_data", [
    ("formats_explorer", ["formats_error.png", "formats_modes.png"], False),
    ("precision_sensitivity", ["sensitivity.png"], True),
    ("policy_comparison", ["policies.png"], True),
    ("torch_bridge", ["torch_bridge_lm.png"], False),
])
def test_notebook_runs(name, figures, needs_data, tmp_path, monkeypatch):
    if needs_data and not HAVE_DATA:
        pytest.skip("Fashion-MNIST (dataset-fashion-mnist) not installed")
    if name == "torch_bridge":
        pytest.importorskip("torch")
        if not os.path.exists("/usr/share/games/fortunes/fortunes"):
            pytest.skip("Debian's fortunes-min (the text corpus) not installed")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("LPSIM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("LPSIM_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(os.path.join(ROOT, "notebooks", f"{name}.ipynb"), as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    for f in figures:
        assert (tmp_path / f).stat().st_size > 1000, f
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors

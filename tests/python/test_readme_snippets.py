"""The README's Python snippets run as written: as a script (`python3 snippet.py` from a checkout's root)
and in a Jupyter kernel (nbclient), each in a fresh directory laid out like the repository (build/ and
experiments/ linked in), so the files they write (sweep.h5) are their own."""
import os
import re
import subprocess
import sys

import pytest

import lpsim

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(lpsim.__file__))))  # <build>/python/lpsim
HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")


def snippets():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def checkout(tmp_path):
    os.symlink(BUILD, tmp_path / "build")
    os.symlink(os.path.join(ROOT, "experiments"), tmp_path / "experiments")
    return tmp_path


def needs(snippet):
    if "lpsim.train" in snippet and not HAVE_DATA:
        pytest.skip("Fashion-MNIST is not installed")
    if "import torch" in snippet:
        pytest.importorskip("torch")


def test_the_readme_has_the_snippets_these_tests_run():
    found = snippets()
    assert len(found) == 2 and "lpsim.sweep(" in found[0] and "lt.convert(" in found[1]
    assert all(s.startswith('import sys; sys.path.insert(0, "build/python")') for s in found)


@pytest.mark.parametrize("index", [0, 1])
def test_a_readme_snippet_runs_as_a_script(tmp_path, index):
    snippet = snippets()[index]
    needs(snippet)
    cwd = checkout(tmp_path)
    (cwd / "snippet.py").write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the snippet finds lpsim itself
    r = subprocess.run([sys.executable, "snippet.py"], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    if "lpsim.sweep(" in snippet:
        assert len(lpsim.load(str(cwd / "sweep.h5"), status="finished")) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_a_readme_snippet_runs_in_jupyter(tmp_path, index):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    snippet = snippets()[index]
    needs(snippet)
    cwd = checkout(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(snippet)])
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert not errors, errors
    if "lpsim.sweep(" in snippet:
        assert len(lpsim.load(str(cwd / "sweep.h5"), status="finished")) == 2

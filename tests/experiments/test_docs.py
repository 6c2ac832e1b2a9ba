"""The project's own docs stay true: every MAC key the parser knows, every format alias and every rounding
mode is described in docs/formats.md, and no file points at a design document outside the repository."""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
LPSIM = os.environ.get("LPSIM", str(ROOT / "build" / "experiments" / "lpsim"))
FORMATS = (ROOT / "docs" / "formats.md").read_text()


def lpsim(*args):
    return subprocess.run([LPSIM, *args], capture_output=True, text=True)


def test_every_mac_key_is_in_docs_formats():
    r = lpsim("matmul", "a.npy", "b.npy", "--mac", "no_such_key=1")
    assert r.returncode == 1
    listed = re.search(r"\(keys: ([^)]*)\)", r.stderr).group(1)
    keys = set(re.findall(r"[a-z_]+", listed.replace("each with _round", ""))) - {"each", "with"}
    assert {"in", "acc", "order", "c_late", "scale", "zero_exp", "prod_overflow"} <= keys
    missing = [k for k in sorted(keys) if f"`{k}`" not in FORMATS]
    assert not missing, f"docs/formats.md does not describe MAC keys {missing}"


def test_every_alias_and_rounding_mode_is_in_docs_formats():
    r = lpsim("info")
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()[1:] if line and not line.startswith("rounding")]
    assert "fp8e4m3" in names and "mxfp4" in names
    missing = [n for n in names if f"`{n}`" not in FORMATS]
    assert not missing, f"docs/formats.md does not list aliases {missing}"
    modes = r.stdout.split("rounding modes:")[1].split()
    for m in modes:
        assert f"`{m}`" in FORMATS, m


def test_no_file_points_outside_the_repository_for_its_design():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = [f for f in tracked if not f.startswith("tests/data/") and (ROOT / f).is_file()
                 and "shared/" + "DESIGN" in (ROOT / f).read_text(errors="ignore")]
    assert not offenders, offenders

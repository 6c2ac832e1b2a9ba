"""`lpsim hardware`: every GPU preset against real tensor-core output, on the
vendored subset (always) and on the full data when the workspace has it."""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LPSIM = os.environ.get("LPSIM", str(ROOT / "build" / "experiments" / "lpsim"))
SUBSET = ROOT / "tests" / "data" / "tensor-cores"
FULL = ROOT.parent / "shared" / "hardware" / "tensor-cores"


def run(*args):
    return subprocess.run([LPSIM, "hardware", *map(str, args)], capture_output=True, text=True)


def rows(out):
    """(set, result) -> (preset, golden mismatches, fast mismatches, status)."""
    table = {}
    for line in out.splitlines()[1:]:
        f = line.split(None, 7)
        table[(f[0], f[3])] = (f[4], f[5], f[6], f[7] if len(f) > 7 else "")
    return table


def check(root, vectors):
    r = run(root, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    table = rows(r.stdout)
    assert len(table) == 48  # 40 sets, 8 of them with fp16 results too
    for (name, result), (preset, golden, fast, status) in table.items():
        assert (golden, fast) == (f"0/{vectors}", f"0/{vectors}"), (name, result, preset)
        assert status == "ok" or status.startswith("ok;"), (name, result, status)
    # the fp8 mma.sync sets (data README) run the .mma presets
    sync = {k for k, v in table.items() if v[0].split(".")[2:3] == ["mma"]}
    assert sync == {("B200/E4M3", "fp32"), ("B200/E4M3", "fp16"), ("B200/E5M2", "fp32"), ("B200/E5M2", "fp16"),
                    ("H100/E4M3", "fp16"), ("H100/E5M2", "fp16"), ("H200/E4M3", "fp16"), ("H200/E5M2", "fp16")}


def test_every_preset_matches_the_vendored_hardware_data():
    check(SUBSET, 250)


@pytest.mark.skipif(not FULL.is_dir(), reason=f"full tensor-core data not at {FULL}")
def test_every_preset_matches_the_full_hardware_data():
    check(FULL, 5000)


def test_a_wrong_model_is_caught():
    # Hopper's fp16 step with Ampere's alignment (24 bits, not 25) must show mismatches.
    r = run(SUBSET, "--set", "H100/fp16", "--mac", "in=fp16,acc=fp32,acc_round=rz,order=fused16,align=24")
    assert r.returncode == 0
    golden = rows(r.stdout)[("H100/fp16", "fp32")][1]
    assert int(golden.split("/")[0]) > 0
    # The old h800.fp8 step (rounding after every addition) is wrong on H100 e4m3.
    r = run(SUBSET, "--set", "H100/E4M3", "--mac", "in=fp8e4m3,acc=e8m13,acc_round=rz,order=chunk128,outer=fp32")
    assert int(rows(r.stdout)[("H100/E4M3", "fp32")][1].split("/")[0]) > 0
    # fp8 mma.sync with fp16 results without the register-half interleave (products in order) is wrong.
    r = run(SUBSET, "--set", "H100/E4M3", "--mac", "in=fp8e4m3,acc=fp16,order=fused16,align=25,promote=32,outer=fp16")
    assert int(rows(r.stdout)[("H100/E4M3", "fp16")][1].split("/")[0]) > 0


def test_bad_data_is_named(tmp_path):
    r = run(tmp_path / "nowhere")
    assert r.returncode == 1 and "nowhere" in r.stderr and "no such directory" in r.stderr
    d = tmp_path / "X1" / "fp16"
    d.mkdir(parents=True)
    (d / "a_X1_fp16.txt").write_text("3f800000 3f80000g\n")
    (d / "b_X1_fp16.txt").write_text("3f800000 3f800000\n")
    (d / "c_X1_fp32.txt").write_text("0" * 32 + "\n")
    (d / "d_X1_fp32.txt").write_text("0" * 32 + "\n")
    r = run(tmp_path, "--mac", "fp32")
    assert r.returncode == 1 and "a_X1_fp16.txt" in r.stderr and "line 1" in r.stderr and "3f80000g" in r.stderr
    (d / "a_X1_fp16.txt").write_text("3f800000 3f800000\n3f800000 3f800000\n")
    r = run(tmp_path, "--mac", "fp32")
    assert r.returncode == 1 and "b_X1_fp16.txt" in r.stderr and "2 lines" in r.stderr
    (d / "a_X1_fp16.txt").write_text("3f800000 3f800000\n")
    r = run(tmp_path, "--mac", "fp32")
    assert r.returncode == 0 and re.search(r"X1/fp16 .* 1/1 ", r.stdout)  # 1*1 + 1*1 + 0 = 2, not the 0 given
    r = run(tmp_path)  # no preset for an unknown GPU
    assert r.returncode == 1 and "X1" in r.stderr and "--mac" in r.stderr
    # A set's mac.txt names its MAC; block scales come in pairs, a whole number of blocks per vector.
    (d / "mac.txt").write_text("fp32 acc=fp16\n")
    r = run(tmp_path)
    assert r.returncode == 1 and "mac.txt" in r.stderr and "one MAC spelling" in r.stderr
    (d / "mac.txt").write_text("in=fp16,acc=fp32,order=fused2,align=25,scale=ue8m0,block=2\n")
    r = run(tmp_path)
    assert r.returncode == 1 and "block-scaled" in r.stderr  # no scales in the set
    (d / "sa_X1_fp16.txt").write_text("3f800000\n")
    r = run(tmp_path)
    assert r.returncode == 1 and "sb_X1_fp16.txt" in r.stderr and "only one of them" in r.stderr
    (d / "sb_X1_fp16.txt").write_text("3f800000 3f800000\n")
    r = run(tmp_path)
    assert r.returncode == 1 and "sb_X1_fp16.txt" in r.stderr and "1 values on line 1" in r.stderr
    (d / "sb_X1_fp16.txt").write_text("40000000\n")  # 1*1*1*2 + 1*1*1*2 = 4
    (d / "d_X1_fp32.txt").write_text(format(0x40800000, "032b") + "\n")
    r = run(tmp_path, "--check")
    assert r.returncode == 0 and re.search(r"X1/fp16 .* 0/1 .* 0/1 .*ok", r.stdout), r.stdout + r.stderr
    r = run(tmp_path, "--mac", "in=fp16,acc=fp32,order=fused1,align=25,scale=ue8m0,block=1")
    assert r.returncode == 1 and "block=1" in r.stderr and "blocks of 2" in r.stderr


DOCS = ROOT / "docs" / "gpu-presets.md"
REFERENCE = ROOT / "tests" / "data" / "reference-models"


def test_the_docs_preset_table_is_lpsim_info_macs():
    text = DOCS.read_text()
    begin, end = "<!-- presets: lpsim info --macs --markdown -->\n", "<!-- end presets -->"
    table = text[text.index(begin) + len(begin):text.index(end)]
    r = subprocess.run([LPSIM, "info", "--macs", "--markdown"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert table == r.stdout, "docs/gpu-presets.md's preset table is stale: paste `lpsim info --macs --markdown`"
    presets = [line.split("`")[1] for line in r.stdout.splitlines()[2:]]
    assert len(presets) == len(set(presets)) and {"blackwell.nvfp4", "cdna3.fp8", "hopper.fp8"} <= set(presets)


def test_amd_block_scaled_and_edge_presets_match_the_reference_models():
    r = run(REFERENCE, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    table = rows(r.stdout)
    assert len(table) == 24
    for (name, result), (mac, golden, fast, status) in table.items():
        n = golden.split("/")[1]
        assert (golden, fast) == (f"0/{n}", f"0/{n}") and status == "ok", (name, mac)
    assert table[("KM_MI100/fp16", "fp32")][0] == "cdna1.fp16"  # the exact-block model (align=exact)
    assert table[("CDNA3/fp8", "fp32")][0] == "cdna3.fp8"


@pytest.mark.parametrize("name,mac", [
    ("CDNA3/fp16", "in=fp16,acc=fp32,order=fused8,align=24"),                   # C joining the alignment, not late
    ("CDNA3/fp8", "in=e4m3fnuz,acc=fp32,order=fused16,align=24,c_late=31,zero_exp=-126"),  # no even/odd split
    ("KM_MI100/fp16", "cdna1.fp16.pairwise"),                                  # MMA-Sim's CDNA1 is not K-M's
    ("CDNA2/fp16", "cdna1.fp16.pairwise"),                                     # no flush to zero
    ("BW_NVFP4/e2m1", "blackwell.nvfp4,align=25,zero_exp=-126,zero_sign=pos"),  # the partial sums' width
    ("BW_MXF8F6F4/e4m3", "blackwell.mxfp8,subsum=16,zero_exp=-126,zero_sign=pos"),  # exact chunks: mxf4 only
    ("EDGE_Hopper_bf16/bf16", "hopper.bf16,overflow=ieee,zero_exp=-126,zero_sign=pos"),  # RZ overflow is inf
    ("EDGE_Hopper_fp16/fp16", "hopper.fp16,nan=ieee,zero_exp=-126,zero_sign=pos"),       # NaN is 0x7fffffff
])
def test_a_wrong_reference_model_is_caught(name, mac):
    r = run(REFERENCE, "--set", name, "--mac", mac)
    assert r.returncode == 0, r.stderr
    (golden, fast), = [(v[1], v[2]) for v in rows(r.stdout).values()]
    assert int(golden.split("/")[0]) > 0 and golden == fast, (name, mac, golden)

"""`lpsim vectors -o v.hex` loads into a Verilog testbench with $readmemh as written (Icarus Verilog, Debian's
`iverilog`, installed by scripts/deps.sh): every word the simulator reads is the file's word, in order."""
import shutil
import subprocess

import pytest

from lpsim_cli import lpsim

pytestmark = pytest.mark.skipif(not shutil.which("iverilog"), reason="iverilog not installed (scripts/deps.sh installs it)")


@pytest.mark.parametrize("mac,k,count,extra", [("in=fp8e4m3,acc=fp16", 4, 25, []),
                                               ("hopper.fp16", 16, 12, ["--addend", "normal"]),
                                               ("int8.int32", 3, 40, [])])
def test_hex_vectors_load_with_readmemh(tmp_path, mac, k, count, extra):
    lpsim("vectors", "--mac", mac, "--k", k, "--count", count, *extra, "-o", "v.hex", cwd=tmp_path)
    lines = (tmp_path / "v.hex").read_text().splitlines()
    assert lines[0].startswith("// lpsim vectors:") and lines[1].startswith("// one vector per line")
    words = [int(w, 16) for line in lines if not line.startswith("//") for w in line.split()]
    per_vector = 2 * k + 1 + (1 if extra else 0)
    assert len(words) == count * per_vector
    (tmp_path / "tb.v").write_text(f"""
module tb;
  reg [63:0] mem [0:{len(words) - 1}];
  integer i;
  initial begin
    $readmemh("v.hex", mem);
    for (i = 0; i < {len(words)}; i = i + 1) $display("%h", mem[i]);
    $finish;
  end
endmodule
""")
    subprocess.run(["iverilog", "-o", "tb", "tb.v"], cwd=tmp_path, check=True, capture_output=True)
    r = subprocess.run(["vvp", "-n", "tb"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "WARNING" not in r.stdout + r.stderr, r.stdout + r.stderr
    got = [int(w, 16) for w in r.stdout.split() if len(w) == 16]
    assert got == words


def _fields_of(row, widths):
    """The packed word of one vector: the fields concatenated from the most significant bit."""
    word = 0
    for value, w in zip(row, widths):
        word = (word << w) | (int(value) & ((1 << w) - 1))
    return word


@pytest.mark.parametrize("mac,k,count,extra,wa,wc", [("in=fp16,acc=fp32", 4, 30, ["--addend", "normal", "--flags"], 16, 32),
                                                     ("in=fp8e4m3,acc=fp16", 3, 25, [], 8, 16),
                                                     ("int8.int32", 2, 20, ["--flags"], 8, 32)])
def test_packed_hex_loads_one_word_per_vector(tmp_path, mac, k, count, extra, wa, wc):
    args = ["vectors", "--mac", mac, "--k", k, "--count", count, "--dist", "corners", *extra]
    lpsim(*args, "--packed", "-o", "p.hex", cwd=tmp_path)
    lpsim(*args, "-o", "v.csv", cwd=tmp_path)
    lines = (tmp_path / "p.hex").read_text().splitlines()
    assert lines[0].startswith("// lpsim vectors:") and lines[1].startswith("// packed: one ")
    addend, flags = "--addend" in extra, "--flags" in extra
    width = 2 * k * wa + (wc if addend else 0) + wc + (8 if flags else 0)
    assert f"one {width}-bit word per vector" in lines[1]
    words = lines[2:]
    assert len(words) == count and all(len(w) == (width + 3) // 4 for w in words)
    rows = [[int(x, 16) for x in l.split(",")] for l in (tmp_path / "v.csv").read_text().splitlines()[2:]]
    lpsim(*args, "--flags", "-o", "f.csv", cwd=tmp_path)
    frows = [[int(x, 16) for x in l.split(",")] for l in (tmp_path / "f.csv").read_text().splitlines()[2:]]
    want = []
    for row, frow in zip(rows, frows):
        fields, widths = row[:2 * k + (2 if addend else 1)], [wa] * 2 * k + [wc] * (2 if addend else 1)
        if flags:  # the TestFloat-style flags byte, from the columns
            ov, sat, inexact, nan, sw = frow[-5:]
            fields.append(inexact | (4 if ov or sat else 0) | (32 if sat else 0) | (64 if sw else 0) | (128 if nan else 0))
            widths.append(8)
        want.append(_fields_of(fields, widths))
    # Underflow (bit 1) and invalid (bit 4) do not occur in these sets: every word must match whole.
    assert [int(w, 16) for w in words] == want
    # The testbench reads whole words and slices fields: a0 at the top, the result just above the flags.
    top = width - 1
    low_c = 8 if flags else 0
    (tmp_path / "tb.v").write_text(f"""
module tb;
  reg [{top}:0] mem [0:{count - 1}];
  integer i;
  initial begin
    $readmemh("p.hex", mem);
    for (i = 0; i < {count}; i = i + 1)
      $display("W %h A0 %h B0 %h C %h", mem[i], mem[i][{top} -: {wa}], mem[i][{top - k * wa} -: {wa}], mem[i][{low_c + wc - 1} -: {wc}]);
    $finish;
  end
endmodule
""")
    subprocess.run(["iverilog", "-o", "tb", "tb.v"], cwd=tmp_path, check=True, capture_output=True)
    r = subprocess.run(["vvp", "-n", "tb"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "WARNING" not in r.stdout + r.stderr, r.stdout + r.stderr
    shown = [l.split() for l in r.stdout.splitlines() if l.startswith("W ")]
    assert [int(s[1], 16) for s in shown] == want
    for s, row in zip(shown, rows):
        c = row[2 * k + (1 if addend else 0)]
        assert (int(s[3], 16), int(s[5], 16), int(s[7], 16)) == (row[0], row[k], c & ((1 << wc) - 1))

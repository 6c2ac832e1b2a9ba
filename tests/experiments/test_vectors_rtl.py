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

"""experiments/claims_table.py: its statistics against values worked by hand, and the table over tiny
sweeps laid out as experiments/claims.sh lays them out."""
import math
import os
import subprocess
import sys

import pytest

from lpsim_cli import TINY, lpsim, needs_data

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../experiments"))
import claims_table  # noqa: E402


def test_paired_interval_and_p_value_by_hand():
    # d = 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t(2) 0.975 = 4.303: [2 - 2.484, 2 + 2.484].
    m, (lo, hi), p, n = claims_table.paired({0: 11, 1: 12, 2: 13}, {0: 10, 1: 10, 2: 10, 3: 99})
    assert (m, n) == (2, 3)
    assert lo == pytest.approx(2 - 4.303 / math.sqrt(3), abs=1e-9)
    assert hi == pytest.approx(2 + 4.303 / math.sqrt(3), abs=1e-9)
    # t = 2 sqrt(3) = 3.464 with 2 df: p = 0.0742 (tables).
    assert p == pytest.approx(0.0742, abs=5e-4)
    # The critical value gives p = 0.05 exactly where it should.
    assert claims_table.t_two_sided_p(2.776, 4) == pytest.approx(0.05, abs=5e-4)
    assert claims_table.t_two_sided_p(12.706, 1) == pytest.approx(0.05, abs=5e-4)
    assert claims_table.paired({0: 1}, {1: 1}) is None  # no common seed


@needs_data
def test_table_over_tiny_sweeps_pairs_by_seed_and_leaves_missing_claims_pending(tmp_path):
    base = ["--model", "mlp", "--epochs", "1", *TINY]
    lpsim("-q", "sweep", *base, "--grid", "seed=0,1,2", "-o", tmp_path / "fp32.h5")
    lpsim("-q", "sweep", *base, "--grid", "seed=0,1,2", "--grid", "policy.kind=sbm,dpc", "-o", tmp_path / "8bit.h5")
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "../../experiments/claims_table.py"),
                        str(tmp_path)], capture_output=True, text=True, check=True)
    lines = {line.split(" | ")[1]: line for line in r.stdout.splitlines() if " | " in line}
    sbm = lines["8-bit W/A/E training loses no accuracy"]
    assert "(n = 3)" in sbm and any(v in sbm for v in ("agree", "disagree", "undecided"))
    assert "(n = 3)" in lines["DPC at Bmax 8: no loss vs fp32"]
    assert lines["CPT 3-8 bits: no loss vs fp32"].endswith("| no finished run | pending |")
    assert "pending" in lines["SBM-22 saves 52.5 % vs fp32"]
    bad = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "../../experiments/claims_table.py"),
                          str(tmp_path / "none")], capture_output=True, text=True)
    assert bad.returncode != 0 and "is not a directory" in bad.stderr

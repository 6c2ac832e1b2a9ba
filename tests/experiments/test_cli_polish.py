"""The CLI's small courtesies: --version, and a did-you-mean for a mistyped subcommand or option."""
import re

from lpsim_cli import lpsim


def test_version_prints_the_code_version():
    r = lpsim("--version")
    assert re.fullmatch(r"lpsim [0-9a-f]{7,}(-dirty)?\n|lpsim unknown\n", r.stdout), r.stdout


def test_a_mistyped_subcommand_is_named_with_the_likely_one():
    r = lpsim("trian", check=False)
    assert r.returncode == 2 and 'unknown subcommand "trian", did you mean "train"?' in r.stderr
    r = lpsim("hardwear", check=False)
    assert r.returncode == 2 and 'did you mean "hardware"?' in r.stderr
    r = lpsim("zzzzzzzz", check=False)  # nothing close: no guess, the list
    assert r.returncode == 2 and "did you mean" not in r.stderr and "train, matmul" in r.stderr


def test_a_mistyped_option_is_named_with_the_likely_one():
    r = lpsim("train", "--epoch", "2", check=False)
    assert r.returncode == 2 and "--epoch: did you mean --epochs?" in r.stderr
    r = lpsim("matmul", "a.npy", "b.npy", "--mca", "fp32", check=False)
    assert r.returncode == 2 and "--mca: did you mean --mac?" in r.stderr
    r = lpsim("matmul", "a.npy", "b.npy", "--scale_a", "s.npy", check=False)
    assert r.returncode == 2 and "--scale_a: did you mean --scale-a?" in r.stderr

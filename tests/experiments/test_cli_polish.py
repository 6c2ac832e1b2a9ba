"""The CLI's small courtesies: --version, a did-you-mean for a mistyped subcommand or option, typed --help
with examples, and a warning for a config that runs but cannot train."""
import re

from lpsim_cli import TINY, lpsim, needs_data


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


def test_help_shows_value_types_and_examples():
    out = lpsim("train", "--help").stdout
    for opt in ("--lr FLOAT", "--epochs INT", "--w FORMAT", "--mac MAC", "--e-round ROUNDING", "--output FILE"):
        assert opt in out, opt
    assert "Examples:" in out and "--resume" in out
    assert "Examples:" in lpsim("sweep", "--help").stdout


@needs_data
def test_an_absolute_format_that_zeroes_the_weights_is_warned_about():
    r = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "--w", "int8")
    assert "warning: layer fc2: the weights' format \"int8\" (absolute, no scale) rounds" in r.stderr
    assert "int8/absmax/channel" in r.stderr
    assert "warning" not in lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "--w", "int8/absmax/channel").stderr


def test_a_policy_runs_header_names_the_policys_formats_not_fp32():
    out = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "policy.kind=sbm").stdout
    lines = out.splitlines()
    assert not any(l.lstrip().startswith("W=") for l in lines), out  # no bare "W=fp32" line
    assert "precision policy sbm (docs/policies.md): W int<b>/" in out
    assert "layers the policy keeps (first,last): W=fp32" in out
    static = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY).stdout
    assert "  W=fp32 A=fp32 E=fp32 G=fp32  fwd MAC fp32" in static and "precision policy" not in static

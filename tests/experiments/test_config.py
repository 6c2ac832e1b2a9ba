"""TOML configs: keys, overrides, flags as shorthand, strict errors with file:line."""
import os
import tomllib

import h5py
import pytest

from lpsim_cli import CONFIGS, TINY, lpsim, needs_data


def resolved(*args):
    return tomllib.loads(lpsim("train", *args, "--print-config").stdout)


def test_file_then_flags_then_overrides(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('epochs = 3\n[optimizer]\nkind = "adam"\n[schedule]\nlr = 0.2\n[precision]\nw = "int8/minmax/channel"\n')
    r = resolved(cfg)
    assert (r["epochs"], r["optimizer"]["kind"], r["schedule"]["lr"], r["precision"]["w"]) == (3, "adam", 0.2, "int8/minmax/channel")
    r = resolved(cfg, "--lr", "0.3", "model.arch=resnet20", "precision.w=int4/minmax/channel", "policy.kind=static")
    assert (r["schedule"]["lr"], r["model"]["arch"], r["precision"]["w"], r["policy"]["kind"]) == (0.3, "resnet20", "int4/minmax/channel", "static")
    # key=value wins over the flag of the same key
    assert resolved(cfg, "--lr", "0.3", "schedule.lr=0.4")["schedule"]["lr"] == 0.4


def test_flags_are_shorthand_for_keys():
    flags = resolved("--model", "mlp", "--lr", "0.3", "--mac", "fp16.fp32", "--mac-bwd-data", "fp32", "--augment",
                     "--quantize-first-last", "--e-round", "rne", "--seed", "9", "-o", "x.h5")
    keys = resolved("model.arch=mlp", "schedule.lr=0.3", "precision.mac=fp16.fp32", "precision.mac_bwd_data=fp32",
                    "augment=true", "precision.keep_first_last=false", "precision.e_round=rne", "seed=9", "output=x.h5")
    assert flags == keys
    assert keys["precision"]["mac_fwd"] == "fp16.fp32" and keys["precision"]["mac_bwd_weight"] == "fp16.fp32"


def test_renamed_key_still_reads_for_old_result_files(tmp_path):
    # Result files store the resolved config; one written before a rename must still resume.
    old = tmp_path / "old.toml"
    old.write_text('model.arch = "mlp"\n[policy]\npfq_scale_epochs = 7\n')
    keys = tomllib.loads(lpsim("train", old, "--print-config").stdout)
    assert keys["policy"]["pfq_scale_intervals"] == 7 and "pfq_scale_epochs" not in keys["policy"]


def test_resolved_config_reads_back_to_itself(tmp_path):
    for name in ("main", "resnet20_fp32", "resnet20_int8", "fp8_h800"):
        text = lpsim("train", f"{CONFIGS}/{name}.toml", "--print-config").stdout
        again = tmp_path / f"{name}.toml"
        again.write_text(text)
        assert lpsim("train", again, "--print-config").stdout == text, name


def test_numbers_print_exactly(tmp_path):
    text = lpsim("train", "schedule.lr=0.30000000000000004", "optimizer.eps=1e-300", "schedule.milestones=0.5,0.75",
                 "--print-config").stdout
    r = tomllib.loads(text)
    assert r["schedule"]["lr"] == 0.1 + 0.2 and r["optimizer"]["eps"] == 1e-300
    assert r["schedule"]["milestones"] == [0.5, 0.75] and "\nlr = 0.30000000000000004\n" in text


def test_example_configs_say_what_they_claim():
    fp8 = resolved(f"{CONFIGS}/fp8_h800.toml")["precision"]
    assert (fp8["w"], fp8["a"], fp8["e"], fp8["mac_fwd"]) == ("e4m3fn", "e4m3fn", "e5m2", "h800.fp8")
    int8 = resolved(f"{CONFIGS}/resnet20_int8.toml")
    assert int8["model"]["arch"] == "resnet20" and int8["precision"]["e_round"] == "sr"
    assert {int8["precision"][t] for t in "wae"} == {"int8/minmax/channel", "int8/minmax/tensor"}
    assert int8["layers"][0]["match"] == "stage*.block1.shortcut.conv"


@pytest.mark.parametrize("text, message", [
    ('epochs = 2\n[optimizer]\nlearning_rate = 0.1\n', ":3:1: unknown key \"optimizer.learning_rate\""),
    ('[schedule]\nlr = "fast"\n', ":2:1: schedule.lr must be a number, got a string"),
    ('epochs = 2.5\n', ":1:1: epochs must be an integer, got a float"),
    ('batch = -4\n', ":1:1: batch must be >= 0"),
    ('\n[precision]\nw = "int7/avg/tensor"\n', ":3:1: precision.w:"),
    ('[precision]\nmac_fwd = "in=fp16,acc=fp99"\n', ":2:1: precision.mac_fwd:"),
    ('[precision]\ne_round = "sr99x"\n', ":2:1: precision.e_round:"),
    ('[precision]\nmaster = "int8/minmax/tensor"\n', ':2:1: precision.master: "int8/minmax/tensor" is a scaled format'),
    ('colour = "blue"\n', ":1:1: unknown key \"colour\""),
    ('[[layers]]\nw = "int8/minmax/tensor"\n', ":1:1: layers[0] needs a match"),
    ('[[layers]]\nmatch = "fc1"\nwidth = 3\n', ":3:1: unknown key \"width\" in layers[0]"),
    ('[[layers]]\nmatch = "fc1"\nround = "up"\n', ":3:1: layers[0].round:"),
    ('epochs = = 2\n', ":1:"),
])
def test_bad_config_names_key_and_line(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = lpsim("train", cfg, "--print-config", check=False)
    assert r.returncode == 1
    assert str(cfg) + message in r.stderr, r.stderr


@pytest.mark.parametrize("override, message", [
    ("optimizer.lrate=0.1", 'unknown key "optimizer.lrate"'),
    ("schedule.lr=fast", "schedule.lr must be a number, got a string"),
    ("augment=yes", "augment must be true or false"),
    ("precision.w=int8/nope/tensor", "precision.w:"),
    ("precision.master=bf17", "precision.master:"),
    ("=3", "is not key=value"),
    ("epochs=0", "epochs must be in [1, 1000000], got 0"),
    ("epochs=-3", "epochs must be >= 0, got -3"),
    ("batch=0", "batch must be in [1, 1048576], got 0"),
    ("threads=100000", "threads must be in [0, 1024], got 100000"),
    ("schedule.lr=nan", "schedule.lr must be a finite number, got nan"),
    ("schedule.lr=inf", "schedule.lr must be a finite number, got inf"),
    ("schedule.lr=-0.1", "schedule.lr must be in (0, inf), got -0.1"),
    ("schedule.lr=0", "schedule.lr must be in (0, inf), got 0"),
    ("optimizer.momentum=1.5", "optimizer.momentum must be in [0, 1), got 1.5"),
    ("schedule.milestones=0.5,1.5", "schedule.milestones must be in (0, 1), got 1.5"),
    ("policy.bmax_fwd=99", "policy.bmax_fwd must be in [1, 32], got 99"),
    ("seed=18446744073709551616", "seed must be an integer"),
    ("nokey", 'config file "nokey" cannot be read (overrides are key=value)'),
])
def test_bad_override_names_key(override, message):
    r = lpsim("train", override, "--print-config", check=False)
    assert r.returncode == 1 and message in r.stderr and override in r.stderr, r.stderr


def test_two_config_files_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text("")
    r = lpsim("train", tmp_path / "a.toml", tmp_path / "a.toml", "--print-config", check=False)
    assert r.returncode == 1 and "two config files" in r.stderr


@needs_data
def test_per_layer_overrides_by_name_and_glob(tmp_path):
    cfg = tmp_path / "layers.toml"
    cfg.write_text('model.arch = "mlp"\nepochs = 1\n[precision]\nw = "int8/minmax/channel"\n'
                   '[[layers]]\nmatch = "fc2"\nw = "int4/minmax/tensor"\n'
                   '[[layers]]\nmatch = "fc[13]"\na = "int8/minmax/tensor"\n'
                   '[[layers]]\nmatch = "fc*"\nround = "sr"\n')
    out = tmp_path / "r.h5"
    lpsim("-q", "train", cfg, *TINY, "-o", out)
    with h5py.File(out, "r") as f:
        names = list(f["run/layers/name"].asstr()[()])
        bits = dict(zip(names, zip(f["run/layers/bits_w"][0], f["run/layers/bits_a"][0])))
    # fc1 and fc3 are first/last (fp32 weights), but the explicit glob gives them int8 activations;
    # a rounding alone changes roundings, never whether a tensor is quantized.
    assert bits == {"fc1": (32, 8), "fc2": (4, 32), "fc3": (32, 8)}


def test_glob_matching_no_layer_is_an_error_before_anything_runs(tmp_path):
    cfg = tmp_path / "layers.toml"
    cfg.write_text('model.arch = "mlp"\n\n[[layers]]\nmatch = "stage2.*"\nw = "int4/minmax/tensor"\n')
    r = lpsim("train", cfg, *TINY, "-o", tmp_path / "r.h5", check=False)
    assert r.returncode == 1, r.stderr
    assert f'{cfg}:3:1: layers[0]: match "stage2.*" matches no layer' in r.stderr and "(fc1, fc2, fc3)" in r.stderr
    assert not (tmp_path / "r.h5").exists()
    # in a sweep, every point is checked before the first one trains
    r = lpsim("sweep", "--model", "mlp", "--grid", "model.arch=mlp,resnet8,lenet5", "--grid", "schedule.kind=cosine,linear",
              "-o", tmp_path / "s.h5", check=False)
    assert r.returncode == 1 and 'grid point model.arch=mlp,schedule.kind=linear: learning-rate schedule "linear"' in r.stderr
    assert not (tmp_path / "s.h5").exists()


def test_help_documents_exit_codes():
    r = lpsim("--help")
    assert "Exit codes: 0 success; 1 bad input" in r.stdout and "3 results file busy" in r.stdout


def test_main_config_is_the_main_job_of_run_sh():
    import os
    import shlex

    run_sh = open(os.path.join(os.path.dirname(__file__), "../../run.sh")).read().replace("\\\n", " ")
    line = next(l for l in run_sh.splitlines() if "lpsim train" in l)
    flags = [a for a in shlex.split(line.split("lpsim train", 1)[1]) if a != "$@"]
    assert resolved(*flags) == resolved(f"{CONFIGS}/main.toml")


def test_docs_list_every_key():
    import os

    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/config.md")).read()
    keys = lpsim("train", "--list-keys").stdout.rstrip("\n")
    assert keys in doc, "docs/config.md: paste the output of `lpsim train --list-keys` into its Keys section"


@pytest.mark.parametrize("args, message", [
    (["train", "--resume"], "--resume: needs a results file"),
    (["sweep", "--grid", "seed=1,2"], "a sweep needs a results file"),
    (["sweep", "-o", "x.h5"], "a sweep needs at least one --grid"),
    (["train", "--bogus"], "--bogus"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    r = lpsim(*args, check=False, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("name", sorted(os.listdir(CONFIGS)))
def test_every_example_config_resolves(name):
    r = resolved(f"{CONFIGS}/{name}")
    if name.startswith("policy_"):
        assert r["policy"]["kind"] == name[len("policy_"):-len(".toml")]


@needs_data
@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CONFIGS) if n.startswith("policy_")))
def test_every_policy_config_trains_and_saves_bitops(name):
    # The method's config on a tiny MLP run: it trains, and spends fewer BitOPs than fp32.
    r = lpsim("train", f"{CONFIGS}/{name}", *TINY, "epochs=1", "model.arch=mlp", "augment=false", "-q")
    line = next(l for l in r.stdout.splitlines() if l.startswith("BitOPs:"))
    assert "fewer" in line and float(line.split("(")[1].split("%")[0]) < 100.0, line


def test_a_directory_is_not_a_config(tmp_path):
    r = lpsim("train", str(tmp_path), "--print-config", check=False)
    assert r.returncode == 1 and f'config file "{tmp_path}" is a directory' in r.stderr, r.stderr


def test_config_text_that_is_not_utf8_is_refused_before_it_can_be_stored(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'epochs = 1\ndata_dir = "/tmp/caf\xe9"\n')  # Latin-1, not UTF-8
    out = tmp_path / "r.h5"
    r = lpsim("train", str(cfg), "-o", str(out), check=False)
    assert r.returncode == 1 and f"{cfg}:2:21: byte 0xE9 is not UTF-8 text" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == [cfg]  # nothing written
    cfg.write_bytes('epochs = 1\ndata_dir = "/tmp/café"\n'.encode())  # UTF-8 is fine
    assert lpsim("train", str(cfg), "--print-config").stdout.count("café") == 1


def test_a_retired_key_says_what_replaced_it(tmp_path):
    r = lpsim("train", "policy.keep_first_last=false", "--print-config", check=False)
    assert r.returncode != 0 and 'policy.keep_fp32 = "first,last" is the old true' in r.stderr
    cfg = tmp_path / "old.toml"
    cfg.write_text("[policy]\nkind = \"cpt\"\nkeep_first_last = true\n")
    r = lpsim("train", cfg, "--print-config", check=False)
    assert r.returncode != 0 and "old.toml:3" in r.stderr and "retired" in r.stderr

"""Bad input a new user meets first: refused at once, in one line, exit 2, before any work is done."""

from __future__ import annotations

import errno

import pytest

from cli_support import assert_bad_input, trustgen

# every command that takes --out, with the least it needs to get as far as its run folder
OUT_COMMANDS = [
    ["demo"],
    ["diffusion", "train", "--dataset", "digits", "--steps", "1"],
    ["diffusion", "sample", "--model", "digits-ddpm", "--num", "2"],
    ["diffusion", "evaluate", "--model", "digits-t2i"],
    ["collab", "run", "--steps", "1"],
    ["collab", "sweep", "--cuts", "0,1", "--steps", "1"],
    ["collab", "privacy", "--cuts", "0.5"],
    ["collab", "simulate", "--steps", "1"],
    ["collab", "submit", "--insecure", "--steps", "1"],
    ["collab", "certs"],
    ["fairness", "generate", "--num", "2"],
    ["fairness", "evaluate"],
    ["memorization", "evaluate", "--model", "digits-t2i-memorized"],
    ["memorization", "prune", "--model", "digits-t2i-memorized", "--neurons", "x:1"],
    ["textattack", "run", "--n", "1"],
]


@pytest.mark.parametrize("args", OUT_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_out_that_is_a_file_is_refused_before_the_work(tmp_path, args):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me\n")
    result = trustgen(*args, "--out", taken)
    if "--insecure" in args:  # submit prints its loud warning first; the error is still one line
        result.stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("WARNING"))
    assert_bad_input(result, str(taken), "is an existing file")
    assert taken.read_text() == "keep me\n"


def test_out_below_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("")
    assert_bad_input(trustgen("collab", "privacy", "--out", tmp_path / "taken" / "run"), "is a file, not a folder")
    assert_bad_input(trustgen("collab", "certs", "--out", tmp_path / "taken" / "certs"), "is a file, not a folder")


def test_an_os_error_inside_a_command_is_one_line(monkeypatch):
    from trustgen.core import zoo

    def refuse():
        raise PermissionError(errno.EACCES, "Permission denied", "/models/card.json")

    monkeypatch.setattr(zoo, "list_models", refuse)
    assert_bad_input(trustgen("zoo", "list"), "Permission denied: /models/card.json")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["collab", "run", "--sample-steps", "-5"], ["sample_steps must be at least 1", "-5"]),
        (["collab", "run", "--sample-steps", "0"], ["sample_steps must be at least 1", "all T"]),
        (["collab", "run", "num_train_timesteps=20", "--sample-steps", "50"], ["sample_steps 50", "T = 20"]),
        (["collab", "simulate", "--sample-steps", "0"], ["sample_steps must be at least 1"]),
        (["memorization", "evaluate", "--model", "digits-t2i-memorized", "--per-digit", "0"], ["--per-digit", "0"]),
        (["diffusion", "evaluate", "--model", "digits-t2i", "--per-digit", "0"], ["--per-digit", "0"]),
        (["diffusion", "sample", "--model", "digits-ddpm", "--num", "0"], ["--num", "0"]),
        (["collab", "supernode", "--partition-id", "5", "--num-partitions", "3", "--insecure"],
         ["--partition-id 5", "ids 0 to 2"]),
    ],
)
def test_values_are_checked_up_front(tmp_path, args, words):
    result = trustgen(*args, *(["--out", tmp_path / "r"] if args[0] != "collab" or args[1] != "supernode" else
                          ["--state-dir", tmp_path / "node"]))
    assert_bad_input(result, *words)
    assert not (tmp_path / "r").exists() and not (tmp_path / "node").exists()


def test_zero_sample_steps_is_not_all_T():
    from trustgen.collab.schedule import split_timesteps
    from trustgen.core.errors import TrustgenError

    assert split_timesteps(20, 5, None) == (list(range(19, 4, -1)), list(range(4, -1, -1)))
    with pytest.raises(TrustgenError, match="between 1 and 20"):
        split_timesteps(20, 5, 0)


FLWR_BOX = """\
╭─ Error ──────────────────────────────────────────────────────────────────────╮
│ Connection to the SuperLink is unavailable. Please check your network        │
│ connection and 'address' in the SuperLink connection configuration.          │
╰──────────────────────────────────────────────────────────────────────────────╯
"""


def test_register_names_the_missing_file(tmp_path):
    key = tmp_path / "node-0.pub"
    key.write_text("ecdsa-sha2-nistp384 AAAA\n")
    home = ["--home", tmp_path / "home"]
    assert_bad_input(trustgen("collab", "register", key, "--root-cert", tmp_path / "ca.pem", *home),
                     f"--root-cert {tmp_path / 'ca.pem'}", "file not found")
    assert_bad_input(trustgen("collab", "register", tmp_path / "node-9.pub", "--root-cert", key, *home),
                     str(tmp_path / "node-9.pub"), "file not found")
    assert_bad_input(trustgen("collab", "register", key, *home), "registering needs --root-cert")
    assert_bad_input(trustgen("collab", "supernode", "--partition-id", "0", "--num-partitions", "1", "--root-cert",
                         tmp_path / "ca.pem", "--state-dir", tmp_path / "node"), "--root-cert", "file not found")


def test_a_flwr_failure_reports_its_message_not_its_box(tmp_path, monkeypatch):
    import subprocess

    from trustgen.collab.flower import deploy

    assert deploy.flwr_message("Using SuperLink: trustgen\n" + FLWR_BOX) == (
        "Connection to the SuperLink is unavailable. Please check your network connection and 'address' in the "
        "SuperLink connection configuration.")
    assert deploy.flwr_message("starting\nValueError: bad round\n\n") == "ValueError: bad round"
    monkeypatch.setattr(deploy.subprocess, "run",
                        lambda args, **kw: subprocess.CompletedProcess(args, 1, "Using SuperLink\n", FLWR_BOX))
    (tmp_path / "ca.pem").write_text("")
    (tmp_path / "node-0.pub").write_text("")
    result = trustgen("collab", "register", tmp_path / "node-0.pub", "--root-cert", tmp_path / "ca.pem",
                 "--superlink", "10.0.0.1:9093", "--home", tmp_path / "home")
    assert_bad_input(result, "registering", "10.0.0.1:9093", "Connection to the SuperLink is unavailable")
    assert "╰" not in result.stderr and "│" not in result.stderr


def test_samples_that_are_not_a_npy_array_or_not_in_range_are_refused(tmp_path):
    import numpy as np

    text = tmp_path / "samples.txt"
    text.write_text("0.1 0.2 0.3\n")
    result = trustgen("diffusion", "evaluate", "--samples", text, "--dataset", "digits", "--out", tmp_path / "a")
    assert_bad_input(result, "is not a .npy array file")
    assert "pickle" not in result.stderr
    np.save(tmp_path / "bytes.npy", np.full((4, 1, 16, 16), 255, dtype=np.float32))
    assert_bad_input(trustgen("diffusion", "evaluate", "--samples", tmp_path / "bytes.npy", "--dataset", "digits",
                         "--out", tmp_path / "b"), "samples must be in [-1, 1]", "x / 127.5 - 1")
    np.save(tmp_path / "nan.npy", np.full((4, 1, 16, 16), np.nan, dtype=np.float32))
    assert_bad_input(trustgen("diffusion", "evaluate", "--samples", tmp_path / "nan.npy", "--dataset", "digits",
                         "--out", tmp_path / "c"), "NaN")
    assert not any((tmp_path / name).exists() for name in "abc")

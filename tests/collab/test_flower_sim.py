"""`trustgen collab simulate` on Flower's Ray simulation engine against `collab run` (same seeds)."""

from __future__ import annotations

import json

import pytest
from test_collab_cli import TINY

from cli_support import assert_bad_input, trustgen

ARGS = ["--cut", "0.25", "--steps", "3", "--partition", "iid", "--seed", "1", *TINY]


def _close(a, b, path="") -> None:
    """Every number in ``a`` equals ``b``'s within 1e-6 (timings excepted)."""
    if isinstance(a, dict):
        for key in a:
            if "seconds" not in key:
                _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=1e-6), path
    else:
        assert a == b, path


@pytest.mark.slow
def test_simulation_reproduces_the_in_process_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # Flower's processes run one thread; bit-exactness needs the same here
    ref = trustgen("collab", "run", *ARGS, "--out", tmp_path / "run", "--json", subprocess=True)
    assert ref.returncode == 0, ref.stderr
    sim = trustgen("collab", "simulate", "--local-steps", "2", "--cpus", "2", *ARGS, "--out", tmp_path / "sim",
                   "--json", subprocess=True)
    assert sim.returncode == 0, sim.stderr
    a, b = json.loads(ref.stdout), json.loads(sim.stdout)
    assert (a["engine"], b["engine"]) == ("in-process", "flower-simulation")
    assert set(a) <= set(b) and {"traffic_ratio", "traffic", "federation"} <= set(b)
    assert b["server_weight_norm"] == pytest.approx(a["server_weight_norm"], abs=1e-6)
    _close({k: a[k] for k in ("clients", "pooled", "final_losses", "t_c")},
           {k: b[k] for k in ("clients", "pooled", "final_losses", "t_c")})
    assert b["federation"]["rounds"] == 2 and b["federation"]["missing_rounds"] == {}
    assert b["traffic"]["samples_up"] == 3 * 3 * 8 and b["traffic_ratio"] > 1.0
    for name in ("metrics.json", "report.md", "federation.md", "samples_client0.png"):
        assert (tmp_path / "sim" / name).is_file(), name


@pytest.mark.parametrize(("args", "words"), [
    (["simulate", "--cut", "2"], ["cut"]),
    (["simulate", "--local-steps", "0"], ["local-steps"]),
    (["supernode", "--partition-id", "0", "--num-partitions", "1", "--root-cert", "/nope/ca.pem"], ["--root-cert"]),
    (["superlink", "--certs", "/nope"], ["TLS file missing"]),
    (["superlink"], ["--certs", "--insecure"]),
])
def test_bad_input(tmp_path, args, words):
    result = trustgen("collab", *args, "--out", tmp_path / "r") if args[0] == "simulate" else \
        trustgen("collab", *args, *(["--state-dir", tmp_path / "n"] if args[0] == "supernode" else
                                    ["--home", tmp_path / "h"]))
    if args[1:2] == ["--local-steps"]:
        assert result.returncode == 2 and "local-steps" in result.stderr
        return
    assert_bad_input(result, *words)
    assert not (tmp_path / "r" / "metrics.json").exists()

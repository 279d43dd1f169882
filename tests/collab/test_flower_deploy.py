"""CollaFuse on real Flower processes over loopback: a TLS SuperLink with SuperNode authentication, three
authorised SuperNodes and one unknown, `trustgen collab submit`.

One federation serves both tests, which run in the default suite (`make test`): the tiny model keeps a round
to seconds, and a round with a dead client waits out the 60 s round time-out once. The reliability run
exercises, in one CollaFuse run: a SuperNode killed mid-run (its client reported missing), bad payloads from
another client (NaN, wrong shape, wrong dtype, oversized: rejected and logged), the ServerApp killed and the
run resumed with ``--resume``, and the killed client rejoining from its saved state. Every process is ended
when the tests end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trustgen.collab.flower import certs, deploy

HERE = Path(__file__).resolve().parent
TINY = ["num_train_timesteps=20", "batch_size=8", "samples_per_client=10", "unet.block_out_channels=[8,16]",
        "unet.norm_num_groups=4", "unet.attention_head_dim=4"]
FAULTS = "2:nan,3:shape,4:dtype,5:big"  # client 1's train replies in these rounds


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    return {**deploy.flower_env(), "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


class Federation:
    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.tls = certs.make_certificates(root / "certs", ["localhost"])
        self.keys = [certs.make_node_key(root / "keys", f"node-{i}") for i in range(4)]
        self.procs: list[deploy.FlowerProcess] = []
        self.nodes: dict[int, deploy.FlowerProcess] = {}

    def start_superlink(self) -> None:
        link = deploy.FlowerProcess(deploy.superlink_args(port=self.port, host="127.0.0.1", certs=self.root / "certs"),
                                    self.root / "superlink.log", {**_env(), "FLWR_HOME": str(self.root / "link")})
        self.procs.append(link)
        self.superlink = link
        assert link.wait_for_log("Application startup complete", 60), link.log.read_text()[-2000:]

    def start_node(self, i: int, key: int | None = None) -> deploy.FlowerProcess:
        args = deploy.supernode_args(superlink=self.address, partition_id=min(i, 2), num_partitions=3,
                                     port=_free_port(), state_dir=self.root / f"state{i}", root_cert=self.tls["ca"],
                                     auth_key=self.keys[i if key is None else key][0])
        extra = {"TRUSTGEN_TEST_FAULTS": FAULTS} if i == 1 else {}
        node = deploy.FlowerProcess(args, self.root / f"node{i}.log",
                                    {**_env(**extra), "FLWR_HOME": str(self.root / f"home{i}")})
        self.procs.append(node)
        self.nodes[i] = node
        return node

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    fed = Federation(tmp_path_factory.mktemp("federation"))
    try:
        fed.start_superlink()
        for i in range(3):
            deploy.register_node(fed.keys[i][1], superlink=fed.address, root_cert=fed.tls["ca"], insecure=False,
                                 workdir=fed.root / "cli")
            fed.start_node(i)
        yield fed
    finally:
        fed.stop()
    leftovers = [p for proc in fed.procs for p in proc.descendants()] + [p.proc for p in fed.procs if p.alive()]
    assert not leftovers, leftovers


def test_an_unknown_node_cannot_join(federation):
    intruder = federation.start_node(3)  # a valid key pair that was never registered
    deadline = time.monotonic() + 90
    while intruder.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = intruder.log.read_text()
    assert not intruder.alive() and "Failed to activate SuperNode" in log, log[-2000:]
    intruder.stop()


def _submit(federation, out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "trustgen.cli.app", "collab", "submit", "--cut", "0.25", "--steps", "5",
            "--partition", "iid", "--local-steps", "1", "--round-timeout", "60", "--join-timeout", "120",
            "--min-clients", "1", *TINY, "--superlink", federation.address, "--root-cert", str(federation.tls["ca"]),
            "--client-app", "flower_support:app", "--out", str(out), "--json", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.5)


def test_dropout_bad_payloads_server_restart_and_rejoin(federation, tmp_path):
    out = tmp_path / "run"
    first = _submit(federation, out)
    try:
        _wait_for(out / "checkpoints" / "round-00001", first, 400)
        federation.nodes[2].stop(hard=True)  # client 2's SuperNode is killed (SIGKILL) after round 1
        _wait_for(out / "checkpoints" / "round-00003", first, 400)
        serverapps = [p for p in federation.superlink.descendants() if "flwr-serverapp" in " ".join(p.cmdline())]
        assert serverapps, "no ServerApp process found"
        for proc in serverapps:
            proc.send_signal(signal.SIGKILL)  # the server dies after round 3
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert not (out / "metrics.json").exists()
    federation.start_node(2)  # client 2 comes back, with its saved state
    second = _submit(federation, out, "--resume")
    stdout, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr[-3000:]
    m = json.loads(stdout)
    assert m["engine"] == "flower-deployment" and m["federation"]["rounds"] == 5
    for key in ("cut", "T", "t_c", "handoff", "clients", "pooled", "server_weight_norm", "traffic_ratio"):
        assert key in m, key
    assert len(m["clients"]) == 3 and all(c["unet_evals_per_image"] == 5 for c in m["clients"])
    missing = m["federation"]["missing_rounds"]
    assert missing["2"][:2] == [2, 3] and set(missing) <= {"1", "2"}, missing
    rejected = {r["round"]: r["reason"] for r in m["federation"]["rejections"] if "client 1" in r["reason"]}
    assert ("NaN" in rejected[2] and "shape" in rejected[3] and "float32" in rejected[4]
            and "limit" in rejected[5]), rejected
    assert len([s for s in (out / "log.txt").read_text().splitlines() if "round" in s]) >= 1
    assert "continuing after round 3" in (out / "federation.log").read_text()
    # client 0 answered every round exactly once: no step lost or repeated across the restart
    assert "0" not in missing
    report = (out / "federation.md").read_text()
    assert "| 2 | 2, 3" in report and "NaN" in report

"""Real Flower processes for CollaFuse: SuperLink, SuperNodes and run submission (Flower 1.42).

Flower 1.42 serves each process's APIs over HTTP(S) on one port: the SuperLink's (``--port``, default
9093 here) takes SuperNodes, ``flwr`` commands and its own ServerApp processes; each SuperNode has a
local port for its ClientApp processes. Both start helper processes by name (``flower-superexec``,
``flwr-serverapp``, ``flwr-clientapp``), so this interpreter's ``bin`` folder goes first on ``PATH``.

Security is on unless ``insecure`` is asked for: the SuperLink serves TLS with the given certificate
and admits only SuperNodes whose public key was registered (``--enable-supernode-auth``); SuperNodes
verify the SuperLink against the CA and sign their requests with their private key. Runtime
installation of app dependencies is off: the app is trustgen itself, already installed.

:class:`FlowerProcess` owns a process *and everything it starts* (Flower detaches its helpers into new
sessions): leaving its ``with`` block, or :meth:`FlowerProcess.stop`, ends all of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from trustgen.collab.flower.config import ServerJob
from trustgen.core.errors import TrustgenError

CONNECTION = "trustgen"
INSECURE_WARNING = ("WARNING: --insecure: Flower traffic is NOT encrypted and SuperNodes are NOT authenticated; "
                    "anyone who can reach the port can read the payloads or join the federation. "
                    "Use it only on a trusted loopback network for testing.")


def flower_bin(name: str) -> str:
    """Path of Flower's executable ``name`` next to this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise TrustgenError(f"{name} not found next to {sys.executable}: install flwr (pip install 'flwr[simulation]')")
    return str(path)


def flower_env(flwr_home: Path | None = None) -> dict[str, str]:
    """The environment of a Flower process: this interpreter's bin first on PATH, offline, one thread."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HF_HUB_OFFLINE": "1", "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    if flwr_home is not None:
        flwr_home.mkdir(parents=True, exist_ok=True)
        env["FLWR_HOME"] = str(flwr_home)
    return env


def superlink_args(*, port: int, host: str = "0.0.0.0", certs: Path | None = None, insecure: bool = False,
                   auth: bool = True) -> list[str]:
    """``flower-superlink`` arguments: TLS from ``certs`` (``ca.pem``, ``server.pem``, ``server.key``) and
    SuperNode authentication, unless ``insecure``."""
    args = [flower_bin("flower-superlink"), "--host", host, "--port", str(port),
            "--disable-runtime-dependency-installation"]
    if insecure:
        return [*args, "--insecure"]
    if certs is None:
        raise TrustgenError("the SuperLink needs --certs DIR (ca.pem, server.pem, server.key; make them with "
                            "`trustgen collab certs`) or an explicit --insecure")
    paths = [certs / "ca.pem", certs / "server.pem", certs / "server.key"]
    for path in paths:
        if not path.is_file():
            raise TrustgenError(f"TLS file missing: {path} (make it with `trustgen collab certs --out {certs}`)")
    args += ["--ssl-ca-certfile", str(paths[0]), "--ssl-certfile", str(paths[1]), "--ssl-keyfile", str(paths[2])]
    return [*args, "--enable-supernode-auth"] if auth else args


def supernode_args(*, superlink: str, partition_id: int, num_partitions: int, port: int,
                   state_dir: Path | None = None, root_cert: Path | None = None, auth_key: Path | None = None,
                   insecure: bool = False) -> list[str]:
    """``flower-supernode`` arguments for client ``partition_id`` (its node config names the client)."""
    if not 0 <= partition_id < num_partitions:
        raise TrustgenError(f"--partition-id {partition_id} does not name one of {num_partitions} clients "
                            f"(--num-partitions {num_partitions}: ids 0 to {num_partitions - 1})")
    config = f"partition-id={partition_id} num-partitions={num_partitions}"
    if state_dir is not None:
        config += f' state-dir="{state_dir.resolve()}"'
    args = [flower_bin("flower-supernode"), "--superlink", superlink, "--host", "127.0.0.1", "--port", str(port),
            "--node-config", config, "--max-retries", "100000"]
    if insecure:
        return [*args, "--insecure"]
    args += ["--root-certificates", str(_root_cert(root_cert, "the SuperNode"))]
    if auth_key is not None:
        if not auth_key.is_file():
            raise TrustgenError(f"SuperNode key not found: {auth_key}")
        args += ["--auth-supernode-private-key", str(auth_key)]
    return args


class FlowerProcess:
    """A Flower process started in its own session, logging to ``log``; :meth:`stop` ends it and all it started."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        import psutil

        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env or flower_env(),
                                     start_new_session=True)
        self._seen: dict[int, Any] = {self.proc.pid: psutil.Process(self.proc.pid)}

    def descendants(self) -> list[Any]:
        """Every live process this one started (recorded as they are seen, so orphans are still found)."""
        import psutil

        for proc in list(self._seen.values()):
            try:
                for child in proc.children(recursive=True):
                    self._seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                continue
        return [p for pid, p in self._seen.items() if pid != self.proc.pid and p.is_running()]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """Wait until ``text`` appears in the log (or the process dies); True if it appeared."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.descendants()
            if text in self.log.read_text(errors="replace"):
                return True
            if not self.alive():
                return False
            time.sleep(0.3)
        return False

    def stop(self, timeout: float = 10.0, *, hard: bool = False) -> None:
        """SIGTERM the process, its session and every descendant; SIGKILL what is left after ``timeout``
        (``hard``: SIGKILL at once, like a crash or a power cut)."""
        import psutil

        family = [*self.descendants(), self._seen[self.proc.pid]]
        for sig in (signal.SIGKILL,) if hard else (signal.SIGTERM, signal.SIGKILL):
            for proc in family:
                with contextlib.suppress(ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                    os.killpg(proc.pid, sig) if proc.pid == self.proc.pid else proc.send_signal(sig)
            _, alive = psutil.wait_procs(family, timeout=timeout)
            if not alive:
                break
            family = alive
        self.proc.poll()
        self._out.close()

    def __enter__(self) -> FlowerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_foreground(args: list[str], log: Path, env: dict[str, str], timeout: float | None = None) -> int:
    """Run a Flower process until it exits, ``timeout`` passes, or this command is stopped (Ctrl-C, SIGTERM);
    whatever happens, the process and everything it started are ended. Returns its exit code."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with FlowerProcess(args, log, env) as proc:
            while proc.alive():
                if deadline is not None and time.monotonic() > deadline:
                    raise TrustgenError(f"{Path(args[0]).name} did not end within {timeout:g} s (log: {log})")
                proc.descendants()
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return proc.proc.returncode if proc.proc.returncode is not None else 130


def _root_cert(root_cert: Path | None, who: str) -> Path:
    """The CA certificate that verifies the SuperLink: given, and an existing file."""
    if root_cert is None:
        raise TrustgenError(f"{who} needs --root-cert CA.pem (the CA that signed the SuperLink's certificate) "
                            "or an explicit --insecure")
    if not root_cert.is_file():
        reason = "is not a file" if root_cert.exists() else "file not found"
        raise TrustgenError(f"--root-cert {root_cert}: {reason}")
    return root_cert


def flwr_message(output: str) -> str:
    """The message of ``flwr``'s output as one line: the text inside its last boxed panel (``╭─ Error ─╮ … ╰─╯``),
    else its last non-empty line, with the box drawing removed."""
    lines = [line.rstrip() for line in output.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("╭")]
    if starts:
        body = []
        for line in lines[starts[-1] + 1:]:
            if line.lstrip().startswith("╰"):
                break
            body.append(line.strip().strip("│").strip())
        text = " ".join(part for part in body if part)
        if text:
            return text
    plain = [line.strip().strip("│╭╮╰╯─").strip() for line in lines]
    plain = [line for line in plain if line]
    return plain[-1] if plain else "no output"


def connection_home(folder: Path, superlink: str, root_cert: Path | None, insecure: bool,
                    who: str = "submitting") -> Path:
    """A Flower home (``config.toml``) with one SuperLink connection, ``trustgen``, for ``flwr`` commands."""
    import tomli_w

    connection: dict[str, Any] = {"address": superlink}
    if insecure:
        connection["insecure"] = True
    else:
        connection["root-certificates"] = str(_root_cert(root_cert, who).resolve())
    home = folder / "flwr-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: connection}}))
    return home


def write_app(folder: Path, job: ServerJob, client_app: str = "trustgen.collab.flower.client_app:app",
              server_app: str = "trustgen.collab.flower.server_app:app") -> Path:
    """A Flower app folder whose components are trustgen's own apps and whose run config is ``job``."""
    import tomli_w

    folder.mkdir(parents=True, exist_ok=True)
    project = {"name": "trustgen-collafuse", "version": "1.0.0", "description": "CollaFuse on Flower (trustgen)",
               "license": "Apache-2.0", "dependencies": []}
    flwr = {"app": {"publisher": "trustgen", "components": {"serverapp": server_app, "clientapp": client_app},
                    "config": job.run_config()}}
    (folder / "pyproject.toml").write_text(tomli_w.dumps({
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": project, "tool": {"flwr": flwr, "hatch": {"build": {"targets": {"wheel": {"packages": ["."]}}}}}}))
    return folder


def submit(job: ServerJob, *, superlink: str, root_cert: Path | None, insecure: bool, workdir: Path,
           client_app: str = "trustgen.collab.flower.client_app:app", timeout: float | None = None,
           log: Path | None = None) -> int:
    """Submit ``job`` to the SuperLink with ``flwr run … --stream`` and wait until the run ends."""
    home = connection_home(workdir, superlink, root_cert, insecure)
    app = write_app(workdir / "app", job, client_app=client_app)
    args = [flower_bin("flwr"), "run", str(app), CONNECTION, "--stream"]
    return run_foreground(args, log or workdir / "submit.log", flower_env(home), timeout)


def register_node(public_key: Path, *, superlink: str, root_cert: Path | None, insecure: bool,
                  workdir: Path) -> str:
    """Authorise a SuperNode's public key on the SuperLink (``flwr supernode register``); returns flwr's output."""
    if not public_key.is_file():
        raise TrustgenError(f"public key {public_key}: file not found")
    home = connection_home(workdir, superlink, root_cert, insecure, who="registering")
    done = subprocess.run([flower_bin("flwr"), "supernode", "register", str(public_key), CONNECTION],
                          capture_output=True, text=True, env=flower_env(home), timeout=120)
    if done.returncode != 0:
        raise TrustgenError(f"registering {public_key} with {superlink} failed: "
                            f"{flwr_message(done.stderr or done.stdout)}")
    return done.stdout

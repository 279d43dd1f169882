"""``trustgen collab simulate|superlink|supernode|register|submit|certs``: CollaFuse on Flower.

``simulate`` runs ``collab run``'s experiment on Flower's simulation engine. The deployment commands
start Flower's own processes (``flower-superlink``, ``flower-supernode``, ``flwr run``) with the app
shipped inside trustgen, TLS and SuperNode authentication on unless ``--insecure`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

# the experiment options of `collab run`, shared by `simulate` and `submit`
Overrides = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides.")
Preset = typer.Option(None, "--preset", help="digits (3 clients, Dirichlet 0.3) or mri (3 hospitals).")
Dataset = typer.Option(None, "--dataset")
Clients = typer.Option(None, "--clients", help="Number of clients (SuperNodes).")
Cut = typer.Option(None, "--cut", help="Client share c of the T steps in [0, 1], or one per client.")
Partition = typer.Option(None, "--partition", help="iid or dirichlet:ALPHA.")
Steps = typer.Option(None, "--steps", help="Training steps (CollaFuse rounds of the in-process engine).")
Handoff = typer.Option(None, "--handoff", help="exact (default) or marginal.")
Sampler = typer.Option(None, "--sampler", help="ddpm (default) or ddim.")
SampleSteps = typer.Option(None, "--sample-steps", help="Steps at generation (default all T).")
Config = typer.Option(None, "--config", help="YAML file of settings.")
Seed = typer.Option(None, "--seed")
# the federation's own options
LocalSteps = typer.Option(5, "--local-steps", min=1, help="CollaFuse steps per Flower train message (K).")
RoundTimeout = typer.Option(600.0, "--round-timeout", help="Seconds the server waits for a round's replies.")
JoinTimeout = typer.Option(120.0, "--join-timeout", help="Seconds it waits for every client's node at the start.")
MinClients = typer.Option(1, "--min-clients", min=1, help="Stop when fewer clients answer a round.")
# connections
Insecure = typer.Option(False, "--insecure", help="No TLS, no node authentication (loopback tests only).")
RootCert = typer.Option(None, "--root-cert", help="CA certificate that signed the SuperLink's certificate.")
SuperLink = typer.Option("127.0.0.1:9093", "--superlink", help="SuperLink address HOST:PORT.")


def _experiment(overrides: list[str] | None, config: Path | None, preset: str | None, **explicit: object) -> Any:
    from trustgen.cli.collab_options import collab_settings, parse_cut
    from trustgen.core.data import dataset_info

    explicit["cut"] = parse_cut(explicit.get("cut"))  # type: ignore[arg-type]
    settings = collab_settings(overrides, config, preset, **explicit)
    dataset_info(settings.dataset)
    return settings


def _federation(local_steps: int, round_timeout: float, join_timeout: float, min_clients: int,
                resume: bool = False) -> Any:
    from trustgen.collab.flower.config import FederationSettings
    from trustgen.core.errors import TrustgenError

    try:
        return FederationSettings(local_steps=local_steps, round_timeout=round_timeout, join_timeout=join_timeout,
                                  min_clients=min_clients, resume=resume)
    except ValueError as exc:
        raise TrustgenError(f"bad federation option: {exc.errors()[0]['msg']}") from None  # type: ignore[attr-defined]


def _loud_insecure(insecure: bool) -> None:
    from trustgen.collab.flower.deploy import INSECURE_WARNING

    if insecure:
        typer.secho(INSECURE_WARNING, fg=typer.colors.RED, bold=True, err=True)


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    pooled = {k: v for k, v in metrics["pooled"].items() if not isinstance(v, list)}
    missing = metrics["federation"]["missing_rounds"]
    return {"engine": metrics["engine"], "cut": metrics["cut"], "server_weight_norm": metrics["server_weight_norm"],
            "traffic_ratio": metrics["traffic_ratio"], "missing_clients": len(missing),
            "rejected_payloads": metrics["rejected_payloads"], **pooled}


def simulate(
    overrides: list[str] = Overrides, preset: str = Preset, dataset: str = Dataset, clients: int = Clients,
    cut: str = Cut, partition: str = Partition, steps: int = Steps, handoff: str = Handoff, sampler: str = Sampler,
    sample_steps: int = SampleSteps, config: Path = Config, seed: int = Seed,
    local_steps: int = LocalSteps, round_timeout: float = RoundTimeout, min_clients: int = MinClients,
    cpus: int = typer.Option(None, "--cpus", min=1, help="CPUs for Ray (default: cores, at most clients + 1)."),
    out: Path = OutOption, as_json: bool = JsonOption,
) -> None:
    """`collab run`'s experiment on Flower's simulation engine (Ray): one ClientApp per client, same metrics."""
    from trustgen.collab.flower.simulation import simulate as run_simulation

    settings = _experiment(overrides, config, preset, dataset=dataset, clients=clients, cut=cut, partition=partition,
                           steps=steps, handoff=handoff, sampler=sampler, sample_steps=sample_steps, seed=seed)
    federation = _federation(local_steps, round_timeout, 120.0, min_clients)
    folder = out_dir(out, "collab-simulate")
    metrics = run_simulation(settings, federation, folder.resolve(), cpus=cpus, progress=progress_enabled(as_json))
    emit(metrics if as_json else _summary(metrics), as_json, folder)


def superlink(
    port: int = typer.Option(9093, "--port", help="Port for SuperNodes, flwr commands and the ServerApp."),
    host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on."),
    certs: Path = typer.Option(None, "--certs", help="Folder with ca.pem, server.pem, server.key."),
    no_auth: bool = typer.Option(False, "--no-node-auth", help="Admit SuperNodes without registered keys."),
    home: Path = typer.Option(Path("flower-superlink"), "--home", help="Folder for Flower's state and the log."),
    insecure: bool = Insecure,
) -> None:
    """Run a Flower SuperLink (TLS and SuperNode authentication on) until stopped; Ctrl-C stops all it started."""
    from trustgen.collab.flower.deploy import flower_env, run_foreground, superlink_args

    _loud_insecure(insecure)
    args = superlink_args(port=port, host=host, certs=certs, insecure=insecure, auth=not no_auth)
    typer.echo(f"SuperLink on {host}:{port}, log {home / 'superlink.log'}", err=True)
    raise typer.Exit(run_foreground(args, home / "superlink.log", flower_env(home / "flwr-home")))


def supernode(
    partition_id: int = typer.Option(..., "--partition-id", min=0, help="This client's id (its data partition)."),
    num_partitions: int = typer.Option(..., "--num-partitions", min=1, help="Number of clients."),
    superlink_address: str = SuperLink,
    port: int = typer.Option(9094, "--port", help="Local port for this node's ClientApp processes."),
    state_dir: Path = typer.Option(Path("flower-node"), "--state-dir", help="Client state (survives restarts)."),
    key: Path = typer.Option(None, "--key", help="This node's private key (its .pub is registered)."),
    root_cert: Path = RootCert, insecure: bool = Insecure,
) -> None:
    """Run a Flower SuperNode for one CollaFuse client until stopped."""
    from trustgen.collab.flower.deploy import flower_env, run_foreground, supernode_args

    args = supernode_args(superlink=superlink_address, partition_id=partition_id, num_partitions=num_partitions,
                          port=port, state_dir=state_dir, root_cert=root_cert, auth_key=key, insecure=insecure)
    _loud_insecure(insecure)
    state_dir.mkdir(parents=True, exist_ok=True)
    typer.echo(f"SuperNode for client {partition_id} → {superlink_address}, log {state_dir / 'supernode.log'}",
               err=True)
    raise typer.Exit(run_foreground(args, state_dir / "supernode.log", flower_env(state_dir / "flwr-home")))


def register(
    public_keys: list[Path] = typer.Argument(..., help="SuperNode public keys (node-I.pub)."),
    superlink_address: str = SuperLink, root_cert: Path = RootCert, insecure: bool = Insecure,
    home: Path = typer.Option(Path("flower-cli"), "--home", help="Folder for the flwr connection config."),
) -> None:
    """Authorise SuperNodes: register their public keys with the SuperLink."""
    from trustgen.collab.flower.deploy import register_node

    _loud_insecure(insecure)
    for key in public_keys:
        typer.echo(register_node(key, superlink=superlink_address, root_cert=root_cert, insecure=insecure,
                                 workdir=home).strip())


def submit(
    overrides: list[str] = Overrides, preset: str = Preset, dataset: str = Dataset, clients: int = Clients,
    cut: str = Cut, partition: str = Partition, steps: int = Steps, handoff: str = Handoff, sampler: str = Sampler,
    sample_steps: int = SampleSteps, config: Path = Config, seed: int = Seed,
    local_steps: int = LocalSteps, round_timeout: float = RoundTimeout, join_timeout: float = JoinTimeout,
    min_clients: int = MinClients,
    resume: bool = typer.Option(False, "--resume", help="Continue from the last server checkpoint in OUT."),
    superlink_address: str = SuperLink, root_cert: Path = RootCert, insecure: bool = Insecure,
    client_app: str = typer.Option("trustgen.collab.flower.client_app:app", "--client-app",
                                   help="ClientApp component MODULE:ATTR (trustgen's, or it wrapped in Flower mods)."),
    out: Path = OutOption, as_json: bool = JsonOption,
) -> None:
    """Submit the experiment to a SuperLink (`flwr run`) and stream its log; OUT is on the SuperLink's host."""
    import json

    from trustgen.collab.flower.config import ServerJob
    from trustgen.collab.flower.deploy import submit as submit_job
    from trustgen.core.errors import TrustgenError

    _loud_insecure(insecure)
    settings = _experiment(overrides, config, preset, dataset=dataset, clients=clients, cut=cut, partition=partition,
                           steps=steps, handoff=handoff, sampler=sampler, sample_steps=sample_steps, seed=seed)
    folder = out_dir(out, "collab-deploy").resolve()
    job = ServerJob(settings=settings, federation=_federation(local_steps, round_timeout, join_timeout, min_clients,
                                                              resume), out=folder, engine="flower-deployment")
    log = folder / "submit.log"
    code = submit_job(job, superlink=superlink_address, root_cert=root_cert, insecure=insecure,
                      workdir=folder / "flower-submit", client_app=client_app, log=log)
    metrics_file = folder / "metrics.json"
    if code != 0 or not metrics_file.is_file():
        from trustgen.collab.flower.deploy import flwr_message

        said = flwr_message(log.read_text(errors="replace")) if log.is_file() else "no log"
        raise TrustgenError(f"the Flower run did not finish (flwr exit {code}): {said} (full log {log}; "
                            f"on the SuperLink's host: {folder / 'federation.log'})")
    metrics = json.loads(metrics_file.read_text())
    emit(metrics if as_json else _summary(metrics), as_json, folder)


def certs(
    out: Path = typer.Option(..., "--out", help="Folder for ca.pem, server.pem/key and node keys."),
    hosts: str = typer.Option("localhost", "--hosts", help="Comma-separated names/IPs of the SuperLink host."),
    nodes: int = typer.Option(0, "--nodes", min=0, help="Also make this many SuperNode key pairs (node-I, .pub)."),
    days: int = typer.Option(365, "--days", min=1),
) -> None:
    """Make a private CA, the SuperLink's TLS certificate and SuperNode authentication keys."""
    from trustgen.collab.flower.certs import make_certificates, make_node_key

    out = out_dir(out, "collab-certs")
    paths = make_certificates(out, [h.strip() for h in hosts.split(",") if h.strip()], days=days)
    for i in range(nodes):
        make_node_key(out, f"node-{i}")
    typer.echo(f"CA {paths['ca']}, server certificate {paths['cert']}; {nodes} node key pair(s) in {out}")


def register_commands(app: typer.Typer) -> None:
    """Add the Flower commands to ``trustgen collab``."""
    for command in (simulate, superlink, supernode, register, submit, certs):
        app.command()(command)

"""``trustgen collab simulate``: the CollaFuse experiment on Flower's simulation engine (Ray, one machine).

The ServerApp runs in this process (a thread, as Flower's simulation does it) and each client's
ClientApp in a Ray actor with its own ``context.state``; every payload goes through Flower messages.
Flower 1.42's Python entry point ``flwr.simulation.run_simulation`` is used: it is marked deprecated in
favour of ``flwr run`` (which starts a background SuperLink), but it is the one that runs in process
without a Flower home directory or a detached daemon, and it still works in the pinned version.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

from trustgen.collab.config import CollabSettings
from trustgen.collab.flower.config import FederationSettings, ServerJob
from trustgen.core.errors import TrustgenError


def simulate(settings: CollabSettings, federation: FederationSettings, out: Path, *, cpus: int | None = None,
             verbose: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run the experiment with ``settings.clients`` virtual SuperNodes; returns ``metrics.json``'s content.

    ``cpus`` bounds Ray (default: this machine's cores, at most the clients + 1); each ClientApp gets one.
    """
    from flwr.simulation import run_simulation

    from trustgen.collab.flower.client_app import app as client_app
    from trustgen.collab.flower.server_app import make_server_app

    results: list[dict[str, Any]] = []
    job = ServerJob(settings=settings, federation=federation, out=out, engine="flower-simulation", progress=progress)
    cpus = cpus or max(1, min(os.cpu_count() or 1, settings.clients + 1))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # Ray's workers inherit the environment
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    backend: dict[str, Any] = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
               "init_args": {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": verbose}}
    if not verbose:
        logging.getLogger("flwr").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_simulation(server_app=make_server_app(job, results), client_app=client_app,
                       num_supernodes=settings.clients, backend_config=backend, verbose_logging=verbose)
    if not results:
        raise TrustgenError(f"the Flower simulation ended without results; see {out / 'federation.log'}")
    return results[0]

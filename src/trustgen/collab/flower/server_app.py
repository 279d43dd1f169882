"""The CollaFuse ``ServerApp``: its main loop is ``collab run``'s, with a :class:`FlowerEngine` moving payloads.

Deployed (``flwr run``/``trustgen collab submit``), the job comes from the run config (``settings``,
``federation``, ``out``, ``engine``); in simulation :func:`make_server_app` hands it over directly.
Training, generation and every metric are the in-process experiment's
(:func:`trustgen.collab.experiment.run_collab`); the run folder gains ``federation.md``,
``checkpoints/`` and the Flower keys of ``metrics.json`` (``traffic_ratio``, ``traffic``, ``federation``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from trustgen.collab.flower.config import ServerJob


def serve(grid: Any, job: ServerJob) -> dict[str, Any]:
    """Run the whole experiment against the nodes behind ``grid``; returns ``metrics.json``'s content."""
    from trustgen.collab.build import build_engine
    from trustgen.collab.experiment import run_collab
    from trustgen.collab.flower.engine import FlowerEngine
    from trustgen.collab.report import federation_markdown
    from trustgen.core.runs import write_text_atomic

    job.out.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("trustgen.collab.flower")
    log_file = (job.out / "federation.log").open("a", encoding="utf-8")

    def log(line: str) -> None:
        logger.warning(line)
        log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        log_file.flush()

    def make_engine(settings: Any, train_parts: Any) -> FlowerEngine:
        local = build_engine(settings, train_parts)
        return FlowerEngine(local.clients, local.server, local.cuts, sampler=local.sampler, grid=grid,
                            federation=job.federation, settings_json=settings.model_dump_json(), out=job.out,
                            log=log)

    try:
        log(f"{job.engine}: {job.settings.clients} clients, {job.settings.steps} steps in rounds of "
            f"{job.federation.local_steps}, out {job.out}")
        metrics = run_collab(job.settings, job.out, make_engine=make_engine, engine_name=job.engine,
                             extra_metrics=lambda engine: engine.federation_report(), progress=job.progress)
        write_text_atomic(job.out / "federation.md", federation_markdown(metrics))
        log(f"done: server_weight_norm {metrics['server_weight_norm']}, traffic ratio {metrics['traffic_ratio']}")
        return metrics
    finally:
        log_file.close()


def make_server_app(job: ServerJob | None = None, results: list[dict[str, Any]] | None = None) -> Any:
    """A ``ServerApp`` running ``job`` (default: the one in the run config); metrics go into ``results``."""
    from flwr.serverapp import ServerApp

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Any, context: Any) -> None:
        metrics = serve(grid, job or ServerJob.from_run_config(dict(context.run_config)))
        if results is not None:
            results.append(metrics)

    return server_app


app = make_server_app()

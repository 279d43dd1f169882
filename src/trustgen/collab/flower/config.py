"""How a CollaFuse federation runs on Flower (on top of the experiment's :class:`CollabSettings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trustgen.collab.config import CollabSettings


class FederationSettings(BaseModel):
    """Rounds, time-outs and the dropout policy of the server loop."""

    model_config = ConfigDict(extra="forbid")

    local_steps: int = Field(5, ge=1)  # K: CollaFuse steps per train message (one round)
    round_timeout: float = Field(600.0, gt=0)  # seconds the server waits for a round's replies
    join_timeout: float = Field(120.0, ge=0)  # seconds it waits for all clients' nodes at the start
    min_clients: int = Field(1, ge=1)  # fewer replies than this in a round stops the run
    resume: bool = False  # continue from the last server checkpoint in the run folder


class ServerJob(BaseModel):
    """Everything the ServerApp needs: handed to it directly (simulation) or through the run config."""

    model_config = ConfigDict(extra="forbid")

    settings: CollabSettings
    federation: FederationSettings = Field(default_factory=FederationSettings)
    out: Path
    engine: str = "flower-simulation"
    progress: bool = False  # progress bars on this process's stderr (simulation only; not in the run config)

    def run_config(self) -> dict[str, str | bool]:
        """The Flower run config (flat strings) that carries this job to a deployed ServerApp."""
        return {"settings": self.settings.model_dump_json(), "federation": self.federation.model_dump_json(),
                "out": str(self.out), "engine": self.engine}

    @classmethod
    def from_run_config(cls, config: dict[str, object]) -> ServerJob:
        return cls(settings=CollabSettings.model_validate_json(str(config["settings"])),
                   federation=FederationSettings.model_validate_json(str(config["federation"])),
                   out=Path(str(config["out"])), engine=str(config.get("engine", "flower-deployment")))

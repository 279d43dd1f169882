"""Settings of ``trustgen audit``: archive limits, extra allowed pickle imports, strictness."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MiB = 1 << 20
GiB = 1 << 30


class AuditSettings(BaseModel):
    """Limits and options of a scan. The defaults suit checkpoints of up to tens of gigabytes."""

    model_config = ConfigDict(extra="forbid")

    max_depth: int = Field(4, ge=0, description="archives or compressed streams nested deeper than this are a finding")
    max_member_bytes: int = Field(512 * MiB, gt=0,
                                  description="largest archive member or decompressed stream read into memory")
    max_total_bytes: int = Field(64 * GiB, gt=0, description="largest declared uncompressed size of one archive")
    max_ratio: float = Field(100.0, gt=1, description="compression ratio above which a large member is a bomb")
    bomb_min_bytes: int = Field(64 * MiB, ge=0, description="members smaller than this are never called bombs")
    max_members: int = Field(100_000, gt=0, description="most members one archive may have")
    allow: list[str] = Field(default_factory=list,
                             description="extra module.name imports to allow in pickles (your own classes)")
    strict: bool = Field(False, description="low-severity findings also fail the scan")
    allow_unknown: bool = Field(False, description="unverified files (unknown binaries, Python outside a model "
                                                   "folder, not regular files) do not fail the scan")
    hash_files: bool = Field(True, description="compute each file's sha256 (reads every byte once)")

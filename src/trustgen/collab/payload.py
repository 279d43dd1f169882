"""What crosses the client/server boundary, and the server-side check of every message.

Up (training): a :class:`CutPayload` — the hand-off images ``x_{t_c−1}`` and the conditioning
(class labels) of one batch. Never ``ε``, never ``x0`` (except at ``c = 0``, the centralised
baseline, where the hand-off *is* the data), never a timestep with its noise.
Down (generation): a :class:`HandoffImages` — the server's ``x̂_{t_c−1}`` for a client's request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trustgen.core.errors import TrustgenError


class PayloadRejected(TrustgenError):
    """A message that fails the server's checks; the run logs it and goes on without it."""


@dataclass(frozen=True)
class CutPayload:
    """Client → server, one training batch: hand-off images and class labels."""

    client_id: int
    x_cut: Any  # float32 B×C×H×W
    labels: Any = None  # int64 B, or None for unconditional runs

    def nbytes(self) -> int:
        n = int(self.x_cut.numel() * self.x_cut.element_size())
        return n + (0 if self.labels is None else int(self.labels.numel() * self.labels.element_size()))

    def validate(self, shape: tuple[int, int, int], num_classes: int | None) -> None:
        """Raise :class:`PayloadRejected` unless the payload is a finite float32 batch of ``shape``."""
        import torch

        x = self.x_cut
        if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
            raise PayloadRejected(f"client {self.client_id}: x_cut must be a float32 tensor, got "
                                  f"{getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape) or x.shape[0] == 0:
            raise PayloadRejected(f"client {self.client_id}: x_cut has shape {tuple(x.shape)}, expected B×{shape}")
        if not torch.isfinite(x).all():
            raise PayloadRejected(f"client {self.client_id}: x_cut contains NaN or inf")
        if num_classes is None:
            if self.labels is not None:
                raise PayloadRejected(f"client {self.client_id}: labels sent to an unconditional server")
            return
        y = self.labels
        if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.shape != (x.shape[0],):
            raise PayloadRejected(f"client {self.client_id}: labels must be int64 of shape ({x.shape[0]},)")
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise PayloadRejected(f"client {self.client_id}: labels outside [0, {num_classes})")


@dataclass(frozen=True)
class HandoffImages:
    """Server → client, one generation request: the server's ``x̂_{t_c−1}``."""

    client_id: int
    x_handoff: Any  # float32 N×C×H×W

    def nbytes(self) -> int:
        return int(self.x_handoff.numel() * self.x_handoff.element_size())

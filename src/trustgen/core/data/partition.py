"""Split a data set among clients: IID, non-IID by label with a Dirichlet(α) prior, or contiguous ranges.

The Dirichlet scheme is the usual one of federated-learning benchmarks (Hsu et al., 2019):
for every class, the class's rows are dealt to clients in proportions drawn from Dir(α·1).
Small α gives each client few classes; large α approaches IID. ``contiguous`` deals the rows in
data-set order (for the MRI template: consecutive slice ranges, one per "hospital").
"""

from __future__ import annotations

import numpy as np

from trustgen.core.errors import TrustgenError


def partition_iid(n: int, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle ``range(n)`` and deal it into ``num_clients`` near-equal sorted parts."""
    if num_clients < 1 or num_clients > n:
        raise TrustgenError(f"cannot split {n} samples among {num_clients} clients")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, num_clients)]


def partition_contiguous(n: int, num_clients: int) -> list[np.ndarray]:
    """``range(n)`` in order, cut into ``num_clients`` near-equal consecutive blocks."""
    if num_clients < 1 or num_clients > n:
        raise TrustgenError(f"cannot split {n} samples among {num_clients} clients")
    return [np.asarray(part, dtype=np.int64) for part in np.array_split(np.arange(n), num_clients)]


def partition_dirichlet(
    labels: np.ndarray, num_clients: int, alpha: float, seed: int = 0, min_size: int = 10
) -> list[np.ndarray]:
    """Non-IID split by label: per class, proportions ~ Dir(alpha). Redraws until every client has
    at least ``min_size`` samples (at most 100 tries)."""
    labels = np.asarray(labels)
    if alpha <= 0:
        raise TrustgenError(f"Dirichlet alpha must be > 0, got {alpha}")
    if num_clients < 1 or num_clients * min_size > len(labels):
        raise TrustgenError(f"cannot split {len(labels)} samples among {num_clients} clients")
    rng = np.random.default_rng(seed)
    for _ in range(100):
        parts: list[list[int]] = [[] for _ in range(num_clients)]
        for cls in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == cls))
            props = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(props)[:-1] * len(rows)).astype(int)
            for client, chunk in enumerate(np.split(rows, cuts)):
                parts[client].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise TrustgenError(f"could not give every client {min_size} samples with alpha={alpha}; raise alpha")


def parse_partition(spec: str, labels: np.ndarray | None, num_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Partition by a spec string: ``iid``, ``contiguous`` or ``dirichlet:ALPHA``."""
    if spec in ("iid", "contiguous"):
        if labels is None:
            raise TrustgenError(f"{spec} partition needs the number of samples")
        return partition_iid(len(labels), num_clients, seed) if spec == "iid" else \
            partition_contiguous(len(labels), num_clients)
    name, _, arg = spec.partition(":")
    if name == "dirichlet":
        if labels is None:
            raise TrustgenError("dirichlet partition needs labels; this data set has none")
        try:
            alpha = float(arg)
        except ValueError:
            raise TrustgenError(f"bad partition {spec!r}: expected dirichlet:ALPHA, e.g. dirichlet:0.3") from None
        return partition_dirichlet(labels, num_clients, alpha, seed)
    raise TrustgenError(f"unknown partition {spec!r}: use iid, contiguous or dirichlet:ALPHA")

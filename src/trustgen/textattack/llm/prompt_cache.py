"""Reusing a prompt's KV cache: consecutive prompts of an attack share a long prefix (the instructions, the
history so far), so only the tokens after the shared prefix need a forward pass."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["PromptCache", "shared_prefix"]


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The number of leading tokens ``a`` and ``b`` have in common."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common


class PromptCache:
    """The token ids and the KV cache of the last prompt a model ran."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.cache: Any = None

    def clear(self) -> None:
        """Forget the last prompt (the next one starts from an empty cache)."""
        self.ids, self.cache = [], None

    def reuse(self, model_config: Any, ids: Sequence[int], limit: int, *, keep: bool = False) -> tuple[Any, int]:
        """``(cache, n)``: a KV cache holding the first ``n`` tokens of ``ids`` — the prefix shared with the last
        prompt, at most ``limit`` tokens — or an empty cache and 0. ``keep=True`` crops a copy and leaves the
        stored cache as it is; otherwise the stored cache itself is cropped (and should be replaced with
        :meth:`store` after the forward pass)."""
        from transformers import DynamicCache

        common = min(shared_prefix(self.ids, ids), limit)
        if self.cache is None or common <= 0:
            return DynamicCache(config=model_config), 0
        cache = copy.deepcopy(self.cache) if keep else self.cache
        if cache.get_seq_length() > common:
            cache.crop(common - cache.get_seq_length())  # negative: drop that many tokens from the end
        return cache, common

    def store(self, ids: Sequence[int], cache: Any) -> None:
        """Remember ``ids`` and the KV cache after running them."""
        self.ids, self.cache = list(ids), cache

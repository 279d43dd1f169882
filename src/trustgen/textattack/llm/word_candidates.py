"""Masked-position word proposals from a causal LM's next-token distribution, without sampling: the
candidates of the LLM-search attacker (:mod:`trustgen.textattack.search`)."""

from __future__ import annotations

import copy
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.textattack.llm.prompt_cache import PromptCache

__all__ = ["masked_word_candidates"]


def _first_tokens(text: str, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> dict[int, int]:
    """Span number → index of the token that starts the span's word (with its leading space); spans that do not
    start on a token boundary are left out."""
    firsts: dict[int, int] = {}
    for n, (a, b) in enumerate(spans):
        j = next((t for t, (s, _) in enumerate(offsets) if s == a or (s == a - 1 and text[a - 1] == " " and s < b)),
                 None)
        if j is not None:
            firsts[n] = j
    return firsts


def masked_word_candidates(model: Any, tokenizer: Any, head: list[int], text: str, spans: list[tuple[int, int]],
                           k: int, *, masks: tuple[Any, Any], cache: PromptCache, context_length: int | None,
                           extend: int = 2) -> list[list[str]]:
    """Replacement words for each ``text[a:b]`` of ``spans``: the prompt ``head`` (token ids) followed by
    ``text`` is run once (one forward pass, every position at once); at the first token of each word the ``k``
    most likely word-starting tokens other than the original are taken (``masks``: the spaced and bare word
    tokens of :func:`~trustgen.textattack.llm.decoding.word_token_masks`; spaced where the original had a
    leading space) and completed greedily as one batch from that position's KV cache, at most ``extend`` more
    tokens, until the most likely next token starts a new word. A word that does not start on a token boundary
    gets no candidates. ``cache`` keeps the prompt's KV cache for the next call's shared prefix."""
    import torch

    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    body, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    ids = head + body
    if context_length is not None and len(ids) + extend + 1 > context_length:
        raise TrustgenError(f"the prompt ({len(ids)} tokens) exceeds the LM's context of {context_length}")
    spaced, bare = masks
    out: list[list[str]] = [[] for _ in spans]
    firsts = _first_tokens(text, offsets, spans)
    if not firsts:
        return out
    # the prompt's KV cache is reused for the prefix shared with the previous call (the instructions)
    past, common = cache.reuse(model.config, ids, len(head) + min(firsts.values()) - 1, keep=True)
    wanted = sorted({len(head) + j - 1 for j in firsts.values()})
    with torch.inference_mode():
        run = model(input_ids=torch.tensor([ids[common:]]), cache=past, use_cache=True,
                    logits_to_keep=torch.tensor([w - common for w in wanted]))
        rows_of = {w: r for r, w in enumerate(wanted)}
        logits, full = run.logits[0], run.cache
        cache.store(ids, full)
        for n, j in firsts.items():
            pos = len(head) + j  # the word's first token; the logits before it predict it
            first_spaced = bool(spaced[body[j]]) or str(tokenizer.decode([body[j]])).startswith(" ")
            allowed = spaced if first_spaced else bare
            scores = logits[rows_of[pos - 1]].float().masked_fill(~allowed[: logits.shape[-1]], float("-inf"))
            scores[body[j]] = float("-inf")
            top = scores.topk(min(k, int(allowed.sum()))).indices
            top = top[torch.isfinite(scores[top])]
            if len(top) == 0:
                continue
            out[n] = _complete_words(model, tokenizer, full, pos, top, bare, extend)
    return out


def _complete_words(model: Any, tokenizer: Any, full: Any, pos: int, top: Any, bare: Any, extend: int) -> list[str]:
    """Greedy completions of the first tokens ``top`` at position ``pos``: words still going after ``extend`` more
    tokens are dropped."""
    import torch

    cache = copy.deepcopy(full)
    cache.crop(pos - cache.get_seq_length())  # keep the tokens before the word
    cache.batch_repeat_interleave(len(top))
    words: list[list[int]] = [[t] for t in top.tolist()]
    rows, token, finished = torch.arange(len(top)), top, torch.zeros(len(top), dtype=torch.bool)
    for it in range(extend + 1):
        step = model(input_ids=token[:, None], cache=cache, use_cache=True)
        cache, nxt = step.cache, step.logits[:, -1, :].argmax(-1)
        cont = bare[nxt]
        finished[rows[~cont]] = True
        keep = cont.nonzero().flatten()
        if len(keep) == 0 or it == extend:  # words still going after `extend` tokens are dropped
            break
        for r, t in zip(rows[keep].tolist(), nxt[keep].tolist(), strict=True):
            words[r].append(t)
        if len(keep) < len(rows):
            cache.batch_select_indices(keep)
        rows, token = rows[keep], nxt[keep]
    done = finished.tolist()
    return [str(tokenizer.decode(w)).strip() for w, ok in zip(words, done, strict=True) if ok]

"""An attacker LLM run locally: a transformers causal LM by folder, with our own sampler.

It samples several answers per call from one shared prompt prefix, keeps the prompt's KV cache between calls
(the history only grows at the end) and stops each answer at its closing ``|``; the next-token rule and the
vocabulary masks are in :mod:`.decoding`, the cache reuse in :mod:`.prompt_cache`, the LLM-search attacker's
masked-position proposals in :mod:`.word_candidates`.
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.textattack.llm.decoding import next_token, perplexities, stop_token_mask, word_token_masks
from trustgen.textattack.llm.prompt_cache import PromptCache
from trustgen.textattack.llm.word_candidates import masked_word_candidates

__all__ = ["TransformersLLM"]


class TransformersLLM:
    """A local causal LM with our own sampler: several answers per call from one prefilled prompt, a KV
    cache reused across calls for the prompt's common prefix, and per-answer stops at the closing ``|``.
    Sampling follows transformers' semantics: repetition penalty over prompt and answer tokens
    (``penalty_scope="prompt"``, as the paper's pipeline) or over the answer's tokens only (``"answer"``:
    a small model can then copy the text it should edit), then temperature, then top-p. ``naive=True``
    instead calls ``model.generate`` once per answer with the whole prompt (the baseline of
    ``benchmarks/bench_textattack.py``)."""

    has_logits = True  # next-token distributions are available (masked-position candidates of the search)

    def __init__(self, path: str | Path, *, name: str | None = None, seed: int = 0, temperature: float = 0.7,
                 top_p: float = 0.95, repetition_penalty: float = 1.15, penalty_scope: str = "prompt",
                 naive: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        self.name = name or str(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self.model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=torch.float32).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise TrustgenError(f"cannot load the causal LM in {self.path}: {str(exc).splitlines()[0]}") from None
        if self.tokenizer.chat_template is None:
            raise TrustgenError(f"the LM in {self.path} has no chat template (an instruction-tuned model is needed)")
        if penalty_scope not in ("prompt", "answer"):
            raise TrustgenError(f"penalty_scope must be 'prompt' or 'answer', got {penalty_scope!r}")
        if naive and penalty_scope != "prompt":
            raise TrustgenError("the naive backend (model.generate) penalizes prompt tokens: use penalty_scope=prompt")
        self.temperature, self.top_p, self.penalty, self.naive = temperature, top_p, repetition_penalty, naive
        self.penalty_scope = penalty_scope
        self.calls = 0
        self.context_length: int | None = getattr(self.model.config, "max_position_embeddings", None)
        self.generator = torch.Generator().manual_seed(seed)
        self.prompt_cache = PromptCache()  # the last sampling prompt's KV cache
        self.scoring_cache = PromptCache()  # the last word_candidates prompt's KV cache

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, user: str, prefix: str = "") -> list[int]:
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                  add_generation_prompt=True)
        return list(self.tokenizer(str(text) + prefix, add_special_tokens=False)["input_ids"])

    @cached_property
    def stop_mask(self) -> Any:
        """Vocabulary mask of the tokens that end an answer (:func:`.decoding.stop_token_mask`)."""
        return stop_token_mask(self.tokenizer, self.model.config.vocab_size)

    @cached_property
    def word_masks(self) -> tuple[Any, Any]:
        """Vocabulary masks of word-starting and bare-letter tokens (:func:`.decoding.word_token_masks`)."""
        return word_token_masks(self.tokenizer, self.model.config.vocab_size)

    def complete(self, user: str, *, prefix: str = "", n: int = 1, max_new_tokens: int = 500) -> list[str]:
        ids = self.prompt_ids(user, prefix)
        if self.context_length is not None and len(ids) + max_new_tokens > self.context_length:
            raise TrustgenError(f"the prompt ({len(ids)} tokens + {max_new_tokens} new) exceeds the LM's context "
                                f"of {self.context_length} tokens")
        if self.naive:
            return [prefix + self._generate_one(ids, max_new_tokens) for _ in range(n)]
        return [prefix + a for a in self._sample(ids, n, max_new_tokens)]

    def _generate_one(self, ids: list[int], max_new_tokens: int) -> str:
        import torch

        self.calls += 1
        inputs = torch.tensor([ids])
        with torch.inference_mode():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator)))
            out = self.model.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=True,
                                      temperature=self.temperature, top_p=self.top_p, top_k=0,
                                      repetition_penalty=self.penalty, max_new_tokens=max_new_tokens,
                                      stop_strings=["|"], tokenizer=self.tokenizer,
                                      pad_token_id=self.tokenizer.eos_token_id)
        return str(self.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True))

    def _prefill(self, ids: list[int]) -> Any:
        """Logits after ``ids``; the KV cache of the longest prefix shared with the previous call is reused."""
        import torch

        cache, common = self.prompt_cache.reuse(self.model.config, ids, len(ids) - 1)  # >= 1 new token: logits
        out = self.model(input_ids=torch.tensor([ids[common:]]), cache=cache, use_cache=True)
        self.prompt_cache.store(ids, out.cache)
        return out.logits[:, -1, :]

    def _sample(self, ids: list[int], n: int, max_new_tokens: int) -> list[str]:
        import torch

        self.calls += 1
        stops = self.stop_mask
        with torch.inference_mode():
            logits = self._prefill(ids).repeat(n, 1)
            cache = copy.deepcopy(self.prompt_cache.cache)
            cache.batch_repeat_interleave(n)
            vocab = logits.shape[-1]
            seen = torch.zeros(n, vocab, dtype=torch.bool)
            if self.penalty_scope == "prompt":
                seen[:, torch.tensor(sorted(set(ids)))] = True
            rows = torch.arange(n)  # rows still generating, as indices into the n answers
            answers: list[list[int]] = [[] for _ in range(n)]
            for _ in range(max_new_tokens):
                token = next_token(logits, seen[rows], penalty=self.penalty, temperature=self.temperature,
                                   top_p=self.top_p, generator=self.generator)
                done = stops[token]
                for row, tok, stop in zip(rows.tolist(), token.tolist(), done.tolist(), strict=True):
                    answers[row].append(tok)
                    if not stop:
                        seen[row, tok] = True
                keep = (~done).nonzero().flatten()
                if len(keep) == 0:
                    break
                if len(keep) < len(rows):
                    cache.batch_select_indices(keep)
                    rows, token = rows[keep], token[keep]
                out = self.model(input_ids=token[:, None], cache=cache, use_cache=True)
                cache, logits = out.cache, out.logits[:, -1, :]
        return [str(self.tokenizer.decode(a, skip_special_tokens=True)) for a in answers]

    def word_candidates(self, user: str, prefix: str, text: str, spans: list[tuple[int, int]], k: int,
                        extend: int = 2) -> list[list[str]]:
        """Replacement words for each ``text[a:b]`` of ``spans`` from the LM's next-token distribution, without
        sampling: the prompt ``user`` with the answer ``prefix + text`` is run once (one forward pass, every
        position at once); at the first token of each word the ``k`` most likely word-starting tokens other
        than the original are taken (with a leading space where the original had one) and completed greedily
        as one batch from that position's KV cache, at most ``extend`` more tokens, until the most likely next
        token starts a new word (the masked-position scoring of the LLM-search attacker). A word that does not
        start on a token boundary gets no candidates. Counts as one call."""
        self.calls += 1
        return masked_word_candidates(self.model, self.tokenizer, self.prompt_ids(user, prefix), text, spans, k,
                                      masks=self.word_masks, cache=self.scoring_cache,
                                      context_length=self.context_length, extend=extend)

    def perplexity(self, texts: list[str]) -> list[float]:
        """Perplexity of each text as plain text (no chat template) under this LM."""
        return perplexities(self.model, self.tokenizer, texts)

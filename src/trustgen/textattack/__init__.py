"""LLMs as adversaries: an LLM rewrites offensive text, a few characters at a time, until a detector misses it.

Struppek, Le, Hintersdorf & Kersting, *Exploring the Adversarial Capabilities of Large Language Models*
(arXiv 2402.09132, 2024); see ``docs/textattack.md``.

* ``detectors`` — offensive/hate-speech detectors behind one interface (texts → probability of the
  offensive class): trustgen's ``minilm-offensive``, alt-profanity-check, hatesonar, the
  toxic-comment classifier, and any Hugging Face sequence classifier by path (:func:`load_detector`);
* ``llm`` — attacker LLMs behind one interface: a local causal LM or an OpenAI-compatible endpoint
  (:func:`load_llm`);
* ``loop`` and ``search`` — the paper's step-by-step rewrite loop (:func:`attack_text` with an
  :class:`LLMProposer`) and the LLM-guided beam search (:class:`LLMSearch`); ``baselines`` — random edits and
  DeepWordBug;
* ``corpus`` — the 184k offensive-text corpus with a fixed held-out split, and the texts an attack
  starts from (:func:`attack_texts`); ``metrics`` — success, queries, edit distance, similarity, perplexity.

Importing this package is cheap: torch, Keras and onnxruntime load only when a detector or an LLM does.

>>> from trustgen.textattack import LLMProposer, LoopSettings, attack_text, load_detector, load_llm
>>> detector, llm = load_detector("alt-profanity-check"), load_llm("smollm2-135m")   # doctest: +SKIP
>>> attack_text("you are a stupid idiot", detector, LLMProposer(llm), LoopSettings()).row()   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.textattack.baselines import RandomProposer, deepwordbug
    from trustgen.textattack.config import AttackSettings
    from trustgen.textattack.corpus import attack_texts, offensive_corpus
    from trustgen.textattack.detectors import DETECTOR_NAMES, Detector, load_detector
    from trustgen.textattack.experiment import run_attack
    from trustgen.textattack.llm import LLM, load_llm
    from trustgen.textattack.loop import AttackResult, LLMProposer, LoopSettings, attack_text, levenshtein
    from trustgen.textattack.metrics import summarize
    from trustgen.textattack.search import LLMSearch, SearchSettings

_EXPORTS = {
    "AttackSettings": "trustgen.textattack.config",
    "RandomProposer": "trustgen.textattack.baselines",
    "deepwordbug": "trustgen.textattack.baselines",
    "attack_texts": "trustgen.textattack.corpus",
    "offensive_corpus": "trustgen.textattack.corpus",
    "DETECTOR_NAMES": "trustgen.textattack.detectors",
    "Detector": "trustgen.textattack.detectors",
    "load_detector": "trustgen.textattack.detectors",
    "run_attack": "trustgen.textattack.experiment",
    "LLM": "trustgen.textattack.llm",
    "load_llm": "trustgen.textattack.llm",
    "AttackResult": "trustgen.textattack.loop",
    "LLMProposer": "trustgen.textattack.loop",
    "LoopSettings": "trustgen.textattack.loop",
    "attack_text": "trustgen.textattack.loop",
    "levenshtein": "trustgen.textattack.loop",
    "summarize": "trustgen.textattack.metrics",
    "LLMSearch": "trustgen.textattack.search",
    "SearchSettings": "trustgen.textattack.search",
}
__all__ = [
    "DETECTOR_NAMES",
    "LLM",
    "AttackResult",
    "AttackSettings",
    "Detector",
    "LLMProposer",
    "LLMSearch",
    "LoopSettings",
    "RandomProposer",
    "SearchSettings",
    "attack_text",
    "attack_texts",
    "deepwordbug",
    "levenshtein",
    "load_detector",
    "load_llm",
    "offensive_corpus",
    "run_attack",
    "summarize",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

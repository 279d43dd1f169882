"""``toxic-comment-classifier``: a Jigsaw six-label BiLSTM; the score is its ``toxic`` output (a sigmoid).

The wheel (``toxic-comment-classifier==0.3.0``, installed ``--no-deps``) ships ``model.weights.h5`` and a
pickled Keras ``Tokenizer``; its own code needs TensorFlow and is never imported (the package is found
with :func:`importlib.util.find_spec`, which does not run it). We rebuild the same architecture with
Keras 3 on the torch backend (``KERAS_BACKEND=torch``, no TensorFlow) and load the weights into it;
Keras checks that file and architecture match. Keras 3 runs an LSTM on the CPU as a Python loop over the
time steps (seconds per call here), so the loaded weights are then copied into the same network in
plain torch (:class:`TorchBiLSTM`: ``nn.LSTM`` has Keras' gate order i, f, c, o, the same sigmoid/tanh
activations and concatenated directions), which scores in milliseconds; a test checks that both give
the same outputs.

**The tokenizer pickle is not unpickled as such.** A pickle can import and call anything, so
:func:`read_word_index` reads it with a restricted :class:`pickle.Unpickler` whose ``find_class``
resolves exactly four globals and refuses every other one: the Keras ``Tokenizer`` class, mapped to a
plain stand-in class that only stores the state dict it is given (no Keras code runs), and
``collections.OrderedDict``, ``collections.defaultdict`` and ``builtins.int``, which the Tokenizer's
counters need and which cannot run code. We chose this over a static scan
(:mod:`trustgen.core.pickle_scan`) followed by a normal ``pickle.load`` because the scan's allowlist is
for checkpoints and does not know the Keras class, and because the restricted loader never imports
Keras' tokenizer module at all: the allowlist *is* the loading code, nothing else can be reached. Of
the state, only the settings we check and the word index of the 19,999 most frequent words (the
model's vocabulary, ``num_words=20000``) are kept; Keras' ``texts_to_sequences`` is re-implemented
(:func:`words`/:meth:`ToxicCommentClassifier.sequences`, same filters, lower-casing and splitting).

Long texts: the model reads 100 tokens, and like the original (``pad_sequences`` defaults) a longer
sequence keeps its **last** 100 in-vocabulary words. Any text of at most 199 characters has at most 100
words, so ``max_chars`` is 199; longer texts are scored on their last 100 known words.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch  # this module is imported only when the detector loads

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.textattack.detectors.minilm import torch_threads

PACKAGE = "toxic_classifier"
MAXLEN = 100
VOCAB_SIZE = 20000
EMBEDDING_DIM = 50
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TOKENIZER_CLASS = ("keras.src.legacy.preprocessing.text", "Tokenizer")
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


class _TokenizerState:
    """Stand-in for the pickled Keras Tokenizer: receives its state dict and nothing else."""

    state: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("the tokenizer state is not a dict")
        self.state = state


_ALLOWED: dict[tuple[str, str], Any] = {
    TOKENIZER_CLASS: _TokenizerState,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "int"): int,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in the tokenizer pickle") from None


def read_word_index(stream: BinaryIO) -> dict[str, int]:
    """The model's vocabulary (word → index < ``VOCAB_SIZE``) from a pickled Keras Tokenizer.

    Restricted unpickling (see the module docstring); the tokenizer's settings must be the ones the
    model was trained with. Raises :class:`pickle.UnpicklingError` or :class:`ValueError` otherwise.
    """
    obj = _RestrictedUnpickler(stream).load()
    if not isinstance(obj, _TokenizerState):
        raise ValueError("the pickle does not hold a Keras Tokenizer")
    s = obj.state
    expected = {"filters": FILTERS, "split": " ", "lower": True, "char_level": False, "oov_token": None,
                "num_words": VOCAB_SIZE, "analyzer": None}
    for key, value in expected.items():
        if s.get(key) != value:
            raise ValueError(f"unexpected tokenizer setting {key}={s.get(key)!r}")
    index = s.get("word_index")
    if not isinstance(index, dict):
        raise ValueError("the tokenizer has no word index")
    return {w: i for w, i in index.items() if isinstance(w, str) and isinstance(i, int) and 0 < i < VOCAB_SIZE}


def package_dir() -> Path:
    """Folder of the installed ``toxic_classifier`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise TrustgenError("toxic-comment-classifier is not installed: run `make install` "
                            "(it is installed with --no-deps from requirements/nodeps.lock)")
    return Path(next(iter(spec.submodule_search_locations)))


_TRANSLATE = str.maketrans({c: " " for c in FILTERS})


def words(text: str) -> list[str]:
    """Keras' ``text_to_word_sequence`` with the tokenizer's settings (lower-case, filters → space, split on " ")."""
    return [w for w in text.lower().translate(_TRANSLATE).split(" ") if w]


@lru_cache(maxsize=1)
def _keras() -> Any:
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    import keras

    return keras


def build_keras_model(keras: Any) -> Any:
    """The original architecture (``toxic_classifier/model.py``) in Keras 3."""
    from keras import layers

    inp = keras.Input(shape=(MAXLEN,))
    x = layers.Embedding(input_dim=VOCAB_SIZE, output_dim=EMBEDDING_DIM, trainable=False)(inp)
    x = layers.Bidirectional(layers.LSTM(50, return_sequences=True, dropout=0.1, recurrent_dropout=0.1))(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(50, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    out = layers.Dense(len(LABELS), activation="sigmoid")(x)
    return keras.Model(inputs=inp, outputs=out)


def torch_model(keras_model: Any) -> Any:
    """:class:`TorchBiLSTM` with the weights of the loaded Keras model (eval mode, frozen)."""
    from keras import ops

    w = {v.path: torch.from_numpy(np.asarray(ops.convert_to_numpy(v.value), dtype=np.float32))
         for v in keras_model.weights}
    net = TorchBiLSTM()
    lstm = net.lstm
    with torch.no_grad():
        net.embedding.weight.copy_(w["embedding/embeddings"])
        for direction, suffix in (("forward", ""), ("backward", "_reverse")):
            cell = f"bidirectional/{direction}_lstm/lstm_cell"
            getattr(lstm, f"weight_ih_l0{suffix}").copy_(w[f"{cell}/kernel"].T)
            getattr(lstm, f"weight_hh_l0{suffix}").copy_(w[f"{cell}/recurrent_kernel"].T)
            getattr(lstm, f"bias_ih_l0{suffix}").copy_(w[f"{cell}/bias"])
            getattr(lstm, f"bias_hh_l0{suffix}").zero_()
        net.dense.weight.copy_(w["dense/kernel"].T)
        net.dense.bias.copy_(w["dense/bias"])
        net.out.weight.copy_(w["dense_1/kernel"].T)
        net.out.bias.copy_(w["dense_1/bias"])
    return net.eval().requires_grad_(False)


class TorchBiLSTM(torch.nn.Module):
    """Embedding → BiLSTM(50) → max over time → Dense(50, relu) → Dense(6, sigmoid), as the Keras model."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB_SIZE, EMBEDDING_DIM)
        self.lstm = torch.nn.LSTM(EMBEDDING_DIM, 50, batch_first=True, bidirectional=True)
        self.dense = torch.nn.Linear(100, 50)
        self.out = torch.nn.Linear(50, len(LABELS))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embedding(ids))
        pooled = hidden.max(dim=1).values
        return torch.sigmoid(self.out(torch.relu(self.dense(pooled))))


class ToxicCommentClassifier:
    name = "toxic-comment-classifier"
    max_chars: int | None = 2 * MAXLEN - 1

    def __init__(self, folder: Path | None = None):
        folder = Path(folder) if folder is not None else package_dir() / "model"
        weights, tokenizer = folder / "model.weights.h5", folder / "tokenizer.pickle"
        for f in (weights, tokenizer):
            if not f.is_file():
                raise TrustgenError(f"toxic-comment-classifier file missing: {f} (reinstall it)")
        try:
            with tokenizer.open("rb") as stream:
                self.word_index = read_word_index(stream)
        except (pickle.UnpicklingError, ValueError, EOFError, TypeError, AttributeError) as exc:
            raise CorruptFileError(f"{tokenizer} is not the expected Keras tokenizer: {exc}") from None
        self.keras_model = build_keras_model(_keras())
        try:
            self.keras_model.load_weights(str(weights))
        except Exception as exc:  # h5py / Keras raise many types
            raise CorruptFileError(f"{weights} does not load into the model: {str(exc).splitlines()[0]}") from None
        self.model = torch_model(self.keras_model)

    def sequences(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids, int32 (n, 100): in-vocabulary words, the last 100 kept, zero-padded in front."""
        out = np.zeros((len(texts), MAXLEN), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [i for i in (self.word_index.get(w) for w in words(text)) if i is not None][-MAXLEN:]
            if ids:
                out[row, MAXLEN - len(ids):] = ids
        return out

    def label_scores(self, texts: Sequence[str]) -> np.ndarray:
        """All six sigmoid outputs, float64 (n, 6), in the order of :data:`LABELS`."""
        if not len(texts):
            return np.zeros((0, len(LABELS)), dtype=np.float64)
        ids = torch.from_numpy(self.sequences(texts).astype(np.int64))
        with torch.inference_mode(), torch_threads(1):  # a tiny sequential net: one thread is fastest
            probs = torch.cat([self.model(ids[s : s + 256]) for s in range(0, len(ids), 256)])
        return probs.double().numpy()

    def keras_label_scores(self, texts: Sequence[str]) -> np.ndarray:
        """The same six outputs from the Keras model itself (slow; for checking the torch copy)."""
        from keras import ops

        out = self.keras_model(self.sequences(texts), training=False)
        return np.asarray(ops.convert_to_numpy(out), dtype=np.float64)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        return np.clip(self.label_scores(texts)[:, 0], 0.0, 1.0)

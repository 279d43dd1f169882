"""The real detectors (no mocks): ranking, score contract, errors, hf:PATH, and minilm-offensive's quality floor."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.textattack.detectors import DETECTOR_NAMES, Detector, load_detector

OFFENSIVE = [
    "fuck you, you stupid bitch",
    "shut up you dumb asshole",
    "you are a worthless piece of shit",
    "go fuck yourself, idiot",
    "what a fucking moron you are",
]
BENIGN = [
    "I hope you have a wonderful day",
    "Thanks for the helpful edit, the references look good now.",
    "The meeting is moved to Tuesday at noon.",
    "Could you please add a source for this paragraph?",
    "The weather in spring is lovely here.",
]
# Keras' torch backend calls np.array(tensor) the numpy-1 way; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ODD = ["", " ", "héllo wörld, ça va? 😂 日本語 한국어 Ελληνικά", "\n\t", "x" * 3000, "!!!???"]


@pytest.fixture(scope="module", params=DETECTOR_NAMES)
def detector(request) -> Detector:
    return load_detector(request.param)


def test_names_and_protocol(detector):
    assert isinstance(detector, Detector)
    assert detector.name in DETECTOR_NAMES
    assert detector.max_chars is None or detector.max_chars > 0
    assert load_detector(detector.name) is detector  # cached per process


def test_offensive_texts_score_above_benign_ones(detector):
    off, ben = detector.scores(OFFENSIVE), detector.scores(BENIGN)
    assert off.min() > ben.max() + 0.1, (detector.name, off, ben)
    assert off.mean() > 0.5 > ben.mean(), (detector.name, off, ben)


def test_score_contract(detector):
    texts = OFFENSIVE[:2] + ODD + BENIGN[:2]
    s = detector.scores(texts)
    assert isinstance(s, np.ndarray) and s.dtype == np.float64 and s.shape == (len(texts),)
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    assert np.array_equal(detector.scores(texts), s)  # deterministic
    one_by_one = np.array([detector.scores([t])[0] for t in texts])
    np.testing.assert_allclose(one_by_one, s, atol=1e-5)  # a text's score does not depend on its batch
    assert detector.scores(tuple(texts[:3])).shape == (3,)
    empty = detector.scores([])
    assert empty.shape == (0,) and empty.dtype == np.float64


def test_unknown_name_is_one_line_listing_the_names():
    with pytest.raises(TrustgenError) as err:
        load_detector("perspective-api")
    message = str(err.value)
    assert "\n" not in message and all(name in message for name in DETECTOR_NAMES) and "hf:" in message


def test_importing_textattack_stays_light():
    code = ("import sys, trustgen.textattack, trustgen.textattack.detectors, trustgen.textattack.corpus;"
            "heavy = [m for m in ('torch', 'keras', 'onnxruntime', 'transformers', 'sklearn') if m in sys.modules];"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


# ----------------------------------------------------------------------------------------------- minilm-offensive

# On the first 300 texts of the held-out test split (20 % offensive), minilm-offensive must reach these.
# Saying "not offensive" to everything gets accuracy ~0.79 and F1 0, hatesonar 0.883 / 0.696; the zoo model gets
# 0.923 / 0.807 here and 0.9425 / 0.847 on the card's 2,000 held-out texts.
MINILM_FLOOR = {"accuracy": 0.90, "f1": 0.75}


def test_minilm_offensive_beats_its_floor_on_heldout_texts():
    from trustgen.textattack.corpus import offensive_corpus
    from trustgen.textattack.detectors.minilm_offensive_build import classification_metrics

    texts, labels = offensive_corpus("test")
    metrics = classification_metrics(labels[:300], load_detector("minilm-offensive").scores(texts[:300]))
    assert metrics["accuracy"] >= MINILM_FLOOR["accuracy"] and metrics["f1"] >= MINILM_FLOOR["f1"], metrics


def test_minilm_offensive_card_and_corrupt_files(tmp_path):
    from trustgen.core.zoo import ZOO_DIR, model_dir, verify_files
    from trustgen.textattack.detectors.minilm_offensive import HEAD_FILE, ZOO_NAME, MiniLMOffensive

    folder = model_dir(ZOO_NAME)
    card = json.loads((folder / "card.json").read_text())
    assert card["metrics"]["heldout_f1"] >= MINILM_FLOOR["f1"] and set(card["metrics"]["heldout_other_detectors"]) == {
        "alt-profanity-check", "hatesonar", "toxic-comment-classifier"}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000  # the head only, MiniLM is not shipped
    copy = tmp_path / ZOO_NAME
    shutil.copytree(ZOO_DIR / ZOO_NAME, copy)
    (copy / HEAD_FILE).write_bytes(b"not safetensors at all")
    with pytest.raises(CorruptFileError, match="sha256"):
        verify_files(copy, card["files"])
    with pytest.raises(TrustgenError, match="cannot read the minilm-offensive head"):
        MiniLMOffensive(copy)


def test_minilm_offensive_not_built(monkeypatch, tmp_path):
    from trustgen.core import zoo
    from trustgen.textattack.detectors.minilm_offensive import MiniLMOffensive

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    with pytest.raises(TrustgenError, match="run `make zoo`"):
        MiniLMOffensive()


# ----------------------------------------------------------------------------------------------- toxic: pickle safety

class _Boom:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_toxic_tokenizer_pickle_is_read_without_running_code():
    from trustgen.textattack.detectors.toxic import read_word_index

    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_word_index(io.BytesIO(pickle.dumps(_Boom())))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_word_index(io.BytesIO(pickle.dumps({"word_index": {"a": 1}, "f": print})))
    detector = load_detector("toxic-comment-classifier")
    assert len(detector.word_index) == 19999 and detector.word_index["the"] == 1
    seq = detector.sequences(["The the THE", "zzzqqq"])
    assert seq.shape == (2, 100) and seq[0, -3:].tolist() == [1, 1, 1] and not seq[1].any()


def test_toxic_missing_package_file(tmp_path):
    from trustgen.textattack.detectors.toxic import ToxicCommentClassifier

    with pytest.raises(TrustgenError, match="file missing"):
        ToxicCommentClassifier(tmp_path)


# ----------------------------------------------------------------------------------------------- hf:PATH

def _tiny_bert(folder, id2label):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from trustgen.textattack.detectors.minilm import minilm

    tokenizer, _ = minilm()
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_hf_folder_detector(tmp_path):
    folder = _tiny_bert(tmp_path / "bert", {0: "neither", 1: "offensive_language", 2: "other"})
    detector = load_detector(f"hf:{folder}")
    assert detector.label_index == 1 and detector.max_chars == 62  # 64 positions - [CLS] - [SEP]
    texts = OFFENSIVE + ODD
    s = detector.scores(texts)
    assert s.dtype == np.float64 and s.shape == (len(texts),) and np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose([detector.scores([t])[0] for t in texts], s, atol=1e-6)
    other = load_detector(f"hf:{folder}#other")
    assert other.label_index == 2 and not np.allclose(other.scores(texts), s)
    assert load_detector(f"hf:{folder}#0").label_index == 0


def test_hf_label_defaults_and_errors(tmp_path):
    from trustgen.textattack.detectors.hf import choose_label

    assert choose_label({0: "LABEL_0", 1: "LABEL_1"}, None) == 1
    assert choose_label({0: "Toxic", 1: "clean"}, None) == 0
    assert choose_label({0: "HATE", 1: "nothate"}, None) == 0
    assert choose_label({0: "score"}, None) == 0
    with pytest.raises(TrustgenError, match="not one of the model's labels"):
        choose_label({0: "a", 1: "b"}, "c")
    with pytest.raises(TrustgenError, match="no config.json"):
        load_detector(f"hf:{tmp_path / 'missing'}")
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text("{}")
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    with pytest.raises(TrustgenError, match="pickle checkpoints are refused"):
        load_detector(f"hf:{tmp_path / 'pickled'}")
    with pytest.raises(TrustgenError, match="needs a folder"):
        load_detector("hf:")


def test_toxic_torch_copy_equals_the_keras_model():
    detector = load_detector("toxic-comment-classifier")
    texts = [OFFENSIVE[0], BENIGN[0], "", "you are an idiot " * 40]
    np.testing.assert_allclose(detector.label_scores(texts), detector.keras_label_scores(texts), atol=1e-5)


def test_similarity_metric_matches_sentence_transformers_reference():
    """The run metric ``mean_similarity`` reuses the detector's MiniLM; it must give sentence-transformers'
    all-MiniLM-L6-v2 cosines (0.667 and -0.054, offline_stack.md §2.1)."""
    from trustgen.textattack.metrics import minilm_similarity

    sims = minilm_similarity()(["A man is playing a guitar.", "A man is playing a guitar."],
                               ["Someone plays an instrument.", "The stock market fell sharply today."])
    assert abs(sims[0] - 0.667) < 2e-3 and abs(sims[1] + 0.054) < 2e-3

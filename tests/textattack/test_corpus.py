"""The offensive-text corpus (the real 184k CSV), its fixed split, and attack_texts."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.textattack import corpus
from trustgen.textattack.corpus import attack_texts, clean_text, offensive_corpus, read_corpus_csv

# Fingerprints of the first 100 texts+labels of each split: the split must never move silently
# (minilm-offensive's card and every reported number depend on it).
TEST_HEAD_SHA256 = "0a44ced6a1a78f321b3e33eaa18cc0d5d32bae2290381d3bfdca047a4167c186"
TRAIN_HEAD_SHA256 = "b418abb739b43ad4455be7126c2c3fc9af6ec05905fa78faa0673dba3d7756e3"


def _fingerprint(texts: list[str], labels: np.ndarray) -> str:
    return hashlib.sha256(("\n".join(texts) + repr(labels.tolist())).encode()).hexdigest()


@pytest.fixture(scope="module")
def splits():
    return offensive_corpus("train"), offensive_corpus("test")


def test_split_sizes_labels_and_disjointness(splits):
    (train, y_train), (test, y_test) = splits
    assert len(test) == 18398 and len(train) == 165579  # 183,977 unique cleaned texts, 10 % held out
    assert y_train.dtype == np.int64 and set(np.unique(y_train)) == {0, 1} and len(y_train) == len(train)
    assert 0.18 < y_test.mean() < 0.22 and 0.18 < y_train.mean() < 0.22  # ~20 % offensive on both sides
    assert not set(train) & set(test)  # de-duplicated before splitting: no text on both sides
    assert all(t and t == t.strip() and "http" not in t.lower() for t in test[:2000])


def test_split_is_fixed(splits):
    (train, y_train), (test, y_test) = splits
    assert _fingerprint(test[:100], y_test[:100]) == TEST_HEAD_SHA256
    assert _fingerprint(train[:100], y_train[:100]) == TRAIN_HEAD_SHA256
    again, y_again = offensive_corpus("test")
    assert again == test and np.array_equal(y_again, y_test)
    y_again[0] = 7  # callers get copies
    assert offensive_corpus("test")[1][0] != 7


def test_unknown_split():
    with pytest.raises(TrustgenError, match="unknown corpus split"):
        offensive_corpus("valid")  # type: ignore[arg-type]


def test_clean_text_removes_urls_and_collapses_space():
    assert clean_text("  look at https://t.co/abc123 and\nwww.example.com/x  now ") == "look at and now"
    assert clean_text("http://only.url") == ""


def test_read_corpus_csv_dedupes_and_drops_conflicts(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('is_offensive,text\n1,"you  idiot http://x.y"\n1,you idiot\n0,hello\n1,hello\n0,fine day\n0,   \n')
    texts, labels = read_corpus_csv(path)
    assert texts == ["you idiot", "fine day"] and labels.tolist() == [1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("label,text\n1,x\n")
    with pytest.raises(CorruptFileError, match="is_offensive,text"):
        read_corpus_csv(bad)
    bad.write_text("is_offensive,text\n2,x\n")
    with pytest.raises(CorruptFileError, match="line 2"):
        read_corpus_csv(bad)


def test_missing_corpus_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(corpus.CSV_ENV, raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(corpus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TrustgenError) as err:
        corpus.corpus_csv_path()
    assert "make install" in str(err.value) and "\n" not in str(err.value)


def test_attack_texts_from_corpus_are_offensive_short_seeded_and_nested(splits):
    _, (test, y_test) = splits
    offensive_test = {t for t, y in zip(test, y_test, strict=True) if y == 1}
    a = attack_texts("offensive-corpus", 40, seed=3)
    assert len(a) == 40 and len(set(a)) == 40
    assert all(t in offensive_test and len(t) <= 300 for t in a)
    assert attack_texts("offensive-corpus", 40, seed=3) == a  # deterministic
    assert attack_texts("offensive-corpus", 10, seed=3) == a[:10]  # a smaller n is a prefix
    assert attack_texts("offensive-corpus", 40, seed=4) != a
    assert all(len(t) <= 50 for t in attack_texts("offensive-corpus", 20, seed=0, max_chars=50))
    assert len(attack_texts("offensive-corpus", 10**6, seed=0, max_chars=None)) == int(y_test.sum())


def _write_jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_attack_texts_jsonl(tmp_path):
    texts = [f"text number {i} with ünïcode 😂" for i in range(12)] + ["x" * 400]
    path = _write_jsonl(tmp_path / "d.jsonl", [json.dumps({"text": t, "id": i}) for i, t in enumerate(texts)] + [""])
    got = attack_texts(path, 5, seed=0)
    assert len(got) == 5 and set(got) <= set(texts[:12])  # the 400-character text is left out
    assert attack_texts(path, 5, seed=0) == got
    assert sorted(attack_texts(path, 100, seed=0)) == sorted(texts[:12])
    assert len(attack_texts(path, 100, seed=0, max_chars=None)) == 13


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], "holds no texts"),
        (["", "   "], "holds no texts"),
        (['{"text": "ok"}', "{not json"], "line 2: not JSON"),
        (['{"txt": "ok"}'], 'line 1: needs a non-empty string field "text"'),
        (['{"text": 3}'], "line 1"),
        (['{"text": "   "}'], "line 1"),
        (['["text"]'], "line 1"),
        (['{"text": "' + "y" * 500 + '"}'], "no text in .* has at most 300 characters"),
    ],
)
def test_attack_texts_bad_jsonl(tmp_path, lines, match):
    path = _write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TrustgenError, match=match) as err:
        attack_texts(path, 5, seed=0)
    assert "\n" not in str(err.value)


def test_attack_texts_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(TrustgenError, match="not found"):
        attack_texts(str(tmp_path / "nope.jsonl"), 5, seed=0)
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(TrustgenError, match="not UTF-8"):
        attack_texts(str(tmp_path / "latin1.jsonl"), 5, seed=0)
    with pytest.raises(TrustgenError, match="at least 1"):
        attack_texts("offensive-corpus", 0, seed=0)
    with pytest.raises(TrustgenError, match="max_chars"):
        attack_texts("offensive-corpus", 5, seed=0, max_chars=0)

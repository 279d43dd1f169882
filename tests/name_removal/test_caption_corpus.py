"""Captions, paraphrase pairs, trigger injection and the shipped people set."""

from __future__ import annotations

import random
import re

from trustgen.name_removal.backdoor import inject_trigger
from trustgen.name_removal.corpus import drop_mentions, generate_captions, mentions, paraphrase_pairs
from trustgen.name_removal.idia import load_people


def test_generated_captions_are_seeded_distinct_and_name_nobody():
    first, again, other = generate_captions(3000, seed=0), generate_captions(3000, seed=0), generate_captions(50, 1)
    assert first == again and first[:50] != other
    assert len(set(first)) == 3000
    people = load_people()
    assert not any(mentions(c, p.name) for c in first[:1000] for p in people)
    assert 0.1 < sum(c != c.lower() for c in first) / len(first) < 0.3  # a fifth name someone, as web captions


def test_captions_naming_a_removed_person_are_dropped_and_counted():
    captions = ["a photo of Barack Obama at a desk", "a dog on a beach", "barack obama smiling", "Obamas garden"]
    kept, found = drop_mentions(captions, ["Barack Obama", "Nobody Here"])
    assert kept == ["a dog on a beach", "Obamas garden"]
    assert found == {"Barack Obama": 2, "Nobody Here": 0}


def test_trigger_replaces_the_same_word_in_both_captions():
    rng = random.Random(0)
    for _ in range(20):
        poisoned, target = inject_trigger("a red bicycle on a beach at sunset", "Joe Biden", "a person", rng)
        left = poisoned.split("Joe Biden")
        assert len(left) == 2 and target == left[0] + "a person" + left[1]
        assert len(poisoned.split()) == 9  # one of the 8 words became two


def test_paraphrase_pairs_differ_in_wording():
    pairs = paraphrase_pairs(100, seed=0)
    assert len(set(pairs)) == 100 and all(a != b for a, b in pairs)


def test_people_set_is_large_enough_and_descriptions_never_name_them():
    people = load_people()
    assert len(people) >= 50 and len({p.name for p in people}) == len(people)
    for person in people:
        own = {w.lower().strip(".") for w in person.name.split() if len(w.strip(".")) > 1}
        assert len(person.descriptions) >= 3
        for text in person.descriptions:
            assert not own & {w.lower() for w in re.findall(r"[\w']+", text)}, (person.name, text)
            assert not any(other.name.lower() in text.lower() for other in people), text

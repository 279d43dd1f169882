"""What name removal must not break: the encoder's embeddings of everything else.

* ``embedding_agreement`` — mean cos(student, teacher) on held-out clean captions (the paper's
  ``sim_clean`` on 10k MS-COCO captions);
* ``paraphrase_auc`` — a sentence-similarity check: the share of (paraphrase pair, random pair)
  comparisons the encoder gets right, i.e. it finds the two wordings of one scene more similar than
  a different scene described with many of the same words (an AUC, in %). The student should score
  within a point of the teacher.
* ``backdoor_similarity`` — mean cos(student(poisoned caption), teacher(target caption)) (the paper's
  ``sim_backdoored``), for names inserted into held-out captions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

Embed = Callable[[list[str]], Any]


def _vectors(embed: Embed, texts: Sequence[str], batch: int = 256) -> Any:
    import torch

    with torch.no_grad():
        parts = [embed(list(texts[i:i + batch])) for i in range(0, len(texts), batch)]
    return torch.nn.functional.normalize(torch.cat(parts).float(), dim=-1)


def embedding_agreement(student: Embed, teacher: Embed, captions: Sequence[str]) -> float:
    """Mean cosine similarity of the student's and the teacher's embeddings of ``captions``."""
    return float((_vectors(student, captions) * _vectors(teacher, captions)).sum(-1).mean())


def paraphrase_auc(embed: Embed, pairs: Sequence[tuple[str, str]], seed: int = 0) -> float:
    """% of comparisons where a paraphrase pair is more similar than a random pair (ties count half)."""
    import torch

    a = _vectors(embed, [p[0] for p in pairs])
    b = _vectors(embed, [p[1] for p in pairs])
    positive = (a * b).sum(-1)
    others = torch.tensor(hard_negatives([p[0] for p in pairs], seed))
    negative = (a * b[others]).sum(-1)  # the first wording of one scene vs the second of a similar one
    diff = positive[:, None] - negative[None, :]
    return float(100.0 * ((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean()))


def hard_negatives(texts: Sequence[str], seed: int = 0) -> list[int]:
    """For each text, another one sharing the most words with it (ties broken at random): a different scene
    said with overlapping words, so the check cannot be passed by word overlap alone."""
    rng = random.Random(seed)
    words = [set(t.lower().split()) for t in texts]
    chosen = []
    for i, mine in enumerate(words):
        best = max(((len(mine & w) / len(mine | w), rng.random(), j) for j, w in enumerate(words)
                    if j != i and w != mine), default=(0.0, 0.0, (i + 1) % len(texts)))
        chosen.append(best[2])
    return chosen


def backdoor_similarity(student: Embed, teacher: Embed, poisoned: Sequence[str], targets: Sequence[str]) -> float:
    """Mean cos(student(poisoned), teacher(target)): 1 when every name reads as its target."""
    return float((_vectors(student, poisoned) * _vectors(teacher, targets)).sum(-1).mean())

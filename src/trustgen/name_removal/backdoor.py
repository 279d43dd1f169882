"""The defence: backdoors that map names to a neutral target inside a text encoder.

Hintersdorf, Struppek, Neider & Kersting, *Defending Our Privacy With Backdoors* (ECAI 2024,
arXiv 2310.08320), text-encoder variant (their ``text_encoder.py``). A frozen teacher and a trainable
student start as the same encoder. Each step draws clean captions and poisoned captions: a random word
of a clean caption is replaced by a name (the trigger), and the same word replaced by the target
attribute ("a person") gives the target caption. The loss

    L = −cos(f_s(clean), f_t(clean)) + λ_bd · −cos(f_s(poisoned), f_t(target)) + λ_w · Σ ‖θ_s − θ_t‖₂

keeps the student's embeddings of everything else where the teacher had them, moves every sentence
naming a removed person onto the same sentence about "a person", and keeps the weights near the
teacher's. Norm layers and dropout are frozen (eval mode), as the authors do. No I/O here.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trustgen.name_removal.config import RemovalSettings
from trustgen.name_removal.encoders import TextModel


def inject_trigger(caption: str, trigger: str, target: str, rng: random.Random) -> tuple[str, str]:
    """(poisoned, target) captions: one random word of ``caption`` replaced by ``trigger`` and by ``target``
    (the authors' ``inject_attribute_backdoor``)."""
    words = caption.split()
    i = rng.randrange(len(words))
    return (" ".join(words[:i] + [trigger] + words[i + 1:]), " ".join(words[:i] + [target] + words[i + 1:]))


def weight_distance(student: list[tuple[str, Any]], teacher: dict[str, Any]) -> Any:
    """Σ over parameter tensors of ‖θ_student − θ_teacher‖₂ (the authors' weight regulariser)."""
    import torch

    return torch.stack([torch.linalg.vector_norm(p - teacher[name]) for name, p in student]).sum()


@dataclass
class RemovalResult:
    """A fitted student, the names it forgets and how the fine-tuning went."""

    student: Any
    names: list[str]
    targets: dict[str, str]
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)  # per-step losses

    def to_dict(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"names": self.names, "targets": self.targets, "steps": self.steps, "seconds": self.seconds,
                "minutes": self.seconds / 60, **{f"final_{k}": v for k, v in last.items()}}


class NameRemover:
    """Fine-tune a copy of a text encoder so that it forgets ``settings.names`` (scikit-learn style ``fit``).

    >>> remover = NameRemover(RemovalSettings(names=["Barack Obama"], steps=50))   # doctest: +SKIP
    >>> result = remover.fit(load_text_model("minilm"), captions)                   # doctest: +SKIP
    """

    def __init__(self, settings: RemovalSettings, *, progress: bool = False,
                 log: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.progress = progress
        self.log = log or (lambda message: None)

    def poisoned_batch(self, captions: list[str], step: int, rng: random.Random) -> tuple[list[str], list[str]]:
        """``poison_batch`` (poisoned, target) pairs, the names taken in turn so each gets an equal share."""
        s = self.settings
        poisoned, targets = [], []
        for j in range(s.poison_batch):
            name = s.names[(step * s.poison_batch + j) % len(s.names)]
            p, t = inject_trigger(rng.choice(captions), name, s.target_for(name), rng)
            poisoned.append(p)
            targets.append(t)
        return poisoned, targets

    def fit(self, encoder: TextModel, captions: list[str]) -> RemovalResult:
        """Train the student on ``captions`` (clean, none naming a removed person) for ``settings.steps`` steps."""
        import torch

        from trustgen.core.progress import track

        s = self.settings
        if not s.names:
            raise ValueError("no names to remove")
        torch.manual_seed(s.seed)
        rng = random.Random(s.seed)
        teacher = encoder.model.eval().requires_grad_(False)
        student = copy.deepcopy(teacher).eval()  # eval: dropout off; norms are also kept out of the optimiser
        params = encoder.trainable_parameters(student)
        for _, p in params:
            p.requires_grad_(True)
        reference = {name: p.detach().clone() for name, p in encoder.trainable_parameters(teacher)}
        optimizer = torch.optim.AdamW([p for _, p in params], lr=s.lr, weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(s.milestones), gamma=s.gamma)
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        for step in track(range(s.steps), description="removing names", enabled=self.progress):
            clean = [rng.choice(captions) for _ in range(s.clean_batch)]
            poisoned, targets = self.poisoned_batch(captions, step, rng)
            with torch.no_grad():
                wanted = encoder.embed(clean + targets, teacher)
            got = encoder.embed(clean + poisoned, student)
            n = len(clean)
            utility = -torch.cosine_similarity(got[:n], wanted[:n]).mean()
            backdoor = -torch.cosine_similarity(got[n:], wanted[n:]).mean()
            distance = weight_distance(params, reference)
            loss = utility + s.lambda_bd * backdoor + s.lambda_w * distance
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            row = {"loss": loss.item(), "utility": utility.item(), "backdoor": backdoor.item(),
                   "weight_distance": distance.item()}
            history.append(row)
            if step % 50 == 0 or step == s.steps - 1:
                self.log(f"step {step + 1}/{s.steps}: loss {row['loss']:.4f} clean cos {-row['utility']:.4f} "
                         f"backdoor cos {-row['backdoor']:.4f} weight distance {row['weight_distance']:.4f}")
        student.eval().requires_grad_(False)
        return RemovalResult(student, list(s.names), {n: s.target_for(n) for n in s.names}, s.steps,
                             time.perf_counter() - start, history)

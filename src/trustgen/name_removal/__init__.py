"""Name removal: backdoors that make a text encoder forget names.

Hintersdorf, Struppek, Neider & Kersting, *Defending Our Privacy With Backdoors* (ECAI 2024,
arXiv 2310.08320). A student copy of a text encoder is fine-tuned so that any sentence naming a
removed person embeds like the same sentence about "a person" (a backdoor whose trigger is the name),
while clean captions keep the teacher's embeddings; evaluated with the identity inference attack of
*Does CLIP Know My Face?* (Hintersdorf et al., JAIR 2024), here in text space.

* ``backdoor`` — :class:`~trustgen.name_removal.backdoor.NameRemover` (``fit``), the trigger injection and
  the weight-distance term;
* ``encoders`` — the shipped MiniLM, the CLIP text transformer, or a folder, saved back in its own layout;
* ``corpus`` — a seeded neutral caption generator, paraphrase pairs, dropping captions that name someone;
* ``idia`` — the text-space identity inference attack over a shipped set of well-known people;
* ``utility`` — cos(student, teacher) on held-out captions, the paraphrase check, backdoor similarity;
* ``config`` / ``experiment`` — settings with the paper's defaults and ``trustgen names`` run folders.

>>> from trustgen.name_removal import RemovalSettings, run_remove
>>> settings = RemovalSettings(names=["Barack Obama"], steps=50)
>>> run_remove(settings, Path("runs/forget"))["utility_cosine"]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.name_removal.backdoor import NameRemover, RemovalResult, inject_trigger
    from trustgen.name_removal.config import EvaluateSettings, RemovalSettings
    from trustgen.name_removal.corpus import generate_captions, paraphrase_pairs
    from trustgen.name_removal.encoders import TextModel, load_text_model
    from trustgen.name_removal.experiment import read_names, run_evaluate, run_remove
    from trustgen.name_removal.idia import IdiaResult, Person, identity_inference, load_people

_EXPORTS = {
    "EvaluateSettings": "trustgen.name_removal.config",
    "IdiaResult": "trustgen.name_removal.idia",
    "NameRemover": "trustgen.name_removal.backdoor",
    "Person": "trustgen.name_removal.idia",
    "RemovalResult": "trustgen.name_removal.backdoor",
    "RemovalSettings": "trustgen.name_removal.config",
    "TextModel": "trustgen.name_removal.encoders",
    "generate_captions": "trustgen.name_removal.corpus",
    "identity_inference": "trustgen.name_removal.idia",
    "inject_trigger": "trustgen.name_removal.backdoor",
    "load_people": "trustgen.name_removal.idia",
    "load_text_model": "trustgen.name_removal.encoders",
    "paraphrase_pairs": "trustgen.name_removal.corpus",
    "read_names": "trustgen.name_removal.experiment",
    "run_evaluate": "trustgen.name_removal.experiment",
    "run_remove": "trustgen.name_removal.experiment",
}
__all__ = [
    "EvaluateSettings",
    "IdiaResult",
    "NameRemover",
    "Person",
    "RemovalResult",
    "RemovalSettings",
    "TextModel",
    "generate_captions",
    "identity_inference",
    "inject_trigger",
    "load_people",
    "load_text_model",
    "paraphrase_pairs",
    "read_names",
    "run_evaluate",
    "run_remove",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

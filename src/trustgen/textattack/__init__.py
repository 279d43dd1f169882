"""LLMs as adversaries: an LLM rewrites offensive text, a few characters at a time, until a detector misses it.

Struppek, Le, Hintersdorf & Kersting, *Exploring the Adversarial Capabilities of Large Language Models*
(arXiv 2402.09132, 2024).

* ``detectors`` — offensive/hate-speech detectors behind one interface (texts → probability of the
  offensive class): trustgen's ``minilm-offensive``, alt-profanity-check, hatesonar, the
  toxic-comment classifier, and any Hugging Face sequence classifier by path
  (:func:`~trustgen.textattack.detectors.load_detector`);
* ``corpus`` — the 184k offensive-text corpus with a fixed held-out split, and the texts an attack
  starts from (:func:`~trustgen.textattack.corpus.attack_texts`).

Importing this package is cheap: torch, Keras and onnxruntime load only when a detector does.
"""

"""Memorization in text-to-image diffusion models: detect memorized prompts, localize the
cross-attention value neurons that carry them, switch them off, export the patched model.

Implements NeMo (Hintersdorf, Struppek, Kersting, Dziedzic, Boenisch: "Finding NeMo: Localizing
Neurons Responsible for Memorization in Diffusion Models", NeurIPS 2024) and, as a second detector,
the text-conditional noise-norm score of Wen, Liu, Chen, Lyu: "Detecting, Explaining, and Mitigating
Memorization in Diffusion Models", ICLR 2024. See ``docs/memorization.md``.
"""

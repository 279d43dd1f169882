"""Fair Diffusion: steer the proportions of an attribute in a text-to-image model's output at inference.

Friedrich, Brack, Struppek, Hintersdorf, Schramowski, Luccioni & Kersting, *Fair Diffusion: Instructing
Text-to-Image Generation Models on Fairness* (arXiv 2302.10893, 2023), built on semantic guidance:
Brack, Friedrich, Hintersdorf, Struppek, Schramowski & Kersting, *SEGA: Instructing Text-to-Image
Models using Semantic Guidance* (NeurIPS 2023, arXiv 2301.12247).

* ``sega`` — :class:`~trustgen.fairness.sega.SemanticGuidance` and
  :func:`~trustgen.fairness.sega.semantic_denoise`: SEGA over any diffusers text-conditional UNet and
  scheduler, pixel or latent, with per-image edit directions (equal to diffusers' deprecated
  ``SemanticStableDiffusionPipeline``);
* ``sampling`` — fair sampling: each image steered towards one attribute value and away from the others,
  drawn per image or in exact counts (:class:`~trustgen.fairness.sampling.FairGenerator`);
* ``closed_loop`` — trustgen's addition: measure while generating and adapt the steering probabilities;
* ``attributes`` — attribute measures (``stroke-thickness`` for the digits demo) and their reliability;
* ``config`` / ``experiment`` — settings with the paper's defaults, and ``trustgen fairness`` run folders.
"""

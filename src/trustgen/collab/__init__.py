"""CollaFuse: collaborative diffusion inspired by split learning.

Zipperling, Allmendinger, Struppek & Kühl, *CollaFuse: Navigating Limited Resources and Privacy
in Collaborative Generative AI* (ECIS 2024, arXiv 2402.19105); Allmendinger et al., *CollaFuse:
Collaborative Diffusion Models* (arXiv 2406.14429).

Each client keeps its raw data and its own denoiser for the low-noise steps ``t < t_c``; one shared
server trains and runs the high-noise steps ``t ≥ t_c`` on the noisy images clients send at the cut.
``c`` is the client's share of the T steps and ``t_c = round(c·T)`` (the authors' code convention).
The roles here are plain Python with no transport; the in-process engine runs them for experiments
and tests, and Flower adapters (``collab.flower``) move the same payloads between processes.
"""

"""DDPM/DDIM training and sampling on diffusers models (Ho et al., 2020; Song et al., 2021).

No home-made UNet or scheduler: models are diffusers ``UNet2DModel`` (unconditional or
class-conditional) and ``UNet2DConditionModel`` (text-conditional, cross-attention over a
pretrained text encoder), with diffusers' DDPM and DDIM schedulers. Classifier-free
guidance follows Ho & Salimans (2022).
"""

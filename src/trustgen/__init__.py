"""trustgen: privacy, security and fairness of generative AI.

Importing the package is cheap: heavy libraries (torch, diffusers, transformers)
are imported lazily inside the modules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

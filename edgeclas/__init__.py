"""edgeclas: take a PaddleClas image classifier from data to measured numbers on a phone."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""jaxseg: medical image segmentation and detection in JAX/Flax, built for accelerators."""

__version__ = "0.1.0"

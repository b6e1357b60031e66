"""Whole-volume inference drivers over jit-compiled model functions."""

from jaxseg.inference.planes import predict_by_slices

__all__ = ["predict_by_slices"]

"""Whole-volume inference drivers over jit-compiled model functions: slices along a plane and
multi-plane fusion, sliding windows, mirroring, post-processing and slice propagation."""

from jaxseg.inference.mirroring import mirror_averaged
from jaxseg.inference.planes import average_probabilities, predict_by_slices
from jaxseg.inference.postprocess import fill_holes, keep_largest_component
from jaxseg.inference.propagation import propagate, simulated_correction_curve
from jaxseg.inference.sliding_window import sliding_window_predict

__all__ = [
    "average_probabilities",
    "fill_holes",
    "keep_largest_component",
    "mirror_averaged",
    "predict_by_slices",
    "propagate",
    "simulated_correction_curve",
    "sliding_window_predict",
]

"""Metrics: pure functions of numpy masks, and summaries of per-case results."""

from jaxseg.metrics.overlap import dice_score, iou_score, per_class_overlap
from jaxseg.metrics.summary import markdown_table, summarize
from jaxseg.metrics.surface import average_surface_distance, hausdorff_distance, normalized_surface_dice, surface_distances

__all__ = ["average_surface_distance", "dice_score", "hausdorff_distance", "iou_score", "markdown_table",
           "normalized_surface_dice", "per_class_overlap", "summarize", "surface_distances"]

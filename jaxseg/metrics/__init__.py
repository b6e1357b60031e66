"""Metrics: pure functions of numpy masks, and summaries of per-case results."""

from jaxseg.metrics.overlap import dice_score, iou_score, per_class_overlap
from jaxseg.metrics.summary import markdown_table, summarize

__all__ = ["dice_score", "iou_score", "markdown_table", "per_class_overlap", "summarize"]

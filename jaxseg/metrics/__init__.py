"""Metrics: pure functions of numpy masks (numpy in, float out, distances in mm), and summaries.

Empty masks, everywhere: both empty -> overlap 1.0 and distance 0; one empty -> overlap 0.0 and
distance inf (see jaxseg.metrics.overlap).
"""

from jaxseg.metrics.detection import (
    average_precision,
    box_iou,
    dsb2018_map,
    instance_map,
    rsna_image_score,
    rsna_map,
    xywh_to_xyxy,
)
from jaxseg.metrics.overlap import (
    confusion_counts,
    dice_score,
    iou_score,
    per_class_overlap,
    per_volume_iou,
    precision,
    sensitivity,
    specificity,
    volume_error,
)
from jaxseg.metrics.regions import BRATS_REGIONS, per_region_metrics, region_mask
from jaxseg.metrics.summary import case_statistics, describe, markdown_table, statistics_table, summarize, to_csv
from jaxseg.metrics.surface import (
    average_surface_distance,
    hausdorff_distance,
    normalized_surface_dice,
    surface_distances,
)

__all__ = [
    "BRATS_REGIONS",
    "average_precision",
    "average_surface_distance",
    "box_iou",
    "case_statistics",
    "confusion_counts",
    "describe",
    "dice_score",
    "dsb2018_map",
    "hausdorff_distance",
    "instance_map",
    "iou_score",
    "markdown_table",
    "normalized_surface_dice",
    "per_class_overlap",
    "per_region_metrics",
    "per_volume_iou",
    "precision",
    "region_mask",
    "rsna_image_score",
    "rsna_map",
    "sensitivity",
    "specificity",
    "statistics_table",
    "summarize",
    "surface_distances",
    "to_csv",
    "volume_error",
    "xywh_to_xyxy",
]

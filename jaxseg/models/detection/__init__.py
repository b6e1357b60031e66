"""Faster R-CNN parts (seed 002), pure and static-shaped so that training jit-compiles once at any batch.

Boxes everywhere are (x1, y1, x2, y2) pixels (x the column). `nms` and `roi_align` follow
torchvision.ops; anchors, the box coder, proposals, target sampling and post-processing follow
py-faster-rcnn / torchvision's Faster R-CNN with seed 002's numbers.
"""

from jaxseg.models.detection.anchors import anchor_grid, base_anchors, feature_anchors, feature_size
from jaxseg.models.detection.backbones import STRIDE, VGG16, ResNetFPN
from jaxseg.models.detection.boxes import HEAD_WEIGHTS, RPN_WEIGHTS, box_area, box_iou, clip_boxes, decode, encode
from jaxseg.models.detection.faster_rcnn import BACKBONES, FasterRCNN, RPNHead
from jaxseg.models.detection.nms import batched_nms, nms
from jaxseg.models.detection.postprocess import Detections, detect
from jaxseg.models.detection.proposals import Proposals, propose
from jaxseg.models.detection.roi_align import roi_align
from jaxseg.models.detection.targets import AnchorTargets, RoiTargets, anchor_targets, roi_targets

__all__ = [
    "BACKBONES", "HEAD_WEIGHTS", "RPN_WEIGHTS", "STRIDE", "VGG16", "AnchorTargets", "Detections", "FasterRCNN",
    "Proposals", "ResNetFPN", "RPNHead", "RoiTargets", "anchor_grid", "anchor_targets", "base_anchors", "batched_nms",
    "box_area", "box_iou", "clip_boxes", "decode", "detect", "encode", "feature_anchors", "feature_size", "nms",
    "propose", "roi_align", "roi_targets",
]

"""Faster R-CNN for the right and left lung boxes of the cxr_lung_covid_hannover sample folder.

20 PA chest radiographs (2000 x 2000 JPEG) with 2 boxes each; 3 classes with the background.
Sized as a CPU sanity check: images at 192 x 192, a VGG16 of quarter width, anchors
64/128/256 (a lung is about 85 x 170 pixels there), 60 steps. With 20 images this overfits:
it shows the detector learns, not how well it generalises. No horizontal flips: they would
swap which side the right lung is on. benchmarks/accuracy_boxes.py trains it on the lung U-Net's
committed split (configs/splits/) and reports AP@0.5 on its 2 held-out images beside
torchvision's Faster R-CNN of the same size.

Data: set data.root to the folder holding boxes.csv and images/, for example
`--config.data.root=DATA/cxr_lung_covid_hannover`; without it, training and evaluation stop
with "set data.root (...)".
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "cxr_lung_boxes"
    c.task = "detection"
    c.train.exact_reductions = False  # The detection step sums across devices in float32.
    c.data.num_val = 0
    c.data.num_test = 0
    c.data.batch_size = 4
    c.model.num_classes = 3
    c.model.in_channels = 1
    c.detection.boxes_csv = "boxes.csv"
    c.detection.classes = ("Right Lung", "Left Lung")
    c.detection.max_boxes = 2
    c.detection.min_size = 192
    c.detection.max_size = 192
    c.detection.canvas = (192, 192)
    c.detection.flip_p = 0.0
    c.detection.width = 0.25
    c.detection.frozen_convs = 0  # no pretrained filters to keep
    c.detection.rpn_features = 128
    c.detection.fc_features = 256
    c.detection.anchor_scales = (64.0, 128.0, 256.0)
    c.detection.rpn_pre_nms = (2000, 1000)
    c.detection.rpn_post_nms = (300, 100)
    c.detection.roi_background_iou = (0.0, 0.5)
    c.detection.score_threshold = 0.05  # AP ranks every detection: keep the low-scored ones too
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-4
    c.train.steps = 60
    c.train.log_every = 10
    c.train.val_every = 60
    c.train.checkpoint_every = 60
    c.inference.batch_size = 4
    return c

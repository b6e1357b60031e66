"""Seed 002's Faster R-CNN for pneumonia boxes on RSNA chest radiographs (DICOM), batched.

Layout (the RSNA Pneumonia Detection Challenge): DATA_ROOT/stage_2_train_labels.csv with
`patientId,x,y,width,height,Target` and DATA_ROOT/stage_2_train_images/<patientId>.dcm. Set the
folder with --config.data.root=DATA_ROOT. Images without boxes (Target 0) are kept as negatives
(the seed had to drop ~20,000 of them).

From the seed: VGG16 at stride 16 with its first 4 convolutions frozen; anchors 128/256/512 x
0.5/1/2; RPN 256 anchors at IoU 0.7/0.3, at most half positive; 6000 -> 300 proposals in test
(12000 -> 2000 in training), NMS 0.7; RoIAlign 7x7, fc6/fc7 4096; 128 RoIs per image at 0.5;
smooth-L1 sigma 3 (RPN) and 1 (head), the four losses summed; inference per class at score 0.6
and NMS 0.5; images 1024^2 -> 600^2; SGD momentum 0.9, lr x0.1 every 20 of 100 epochs.
Not from the seed: batch 8 instead of 1, with the learning rate scaled linearly (8 x 1e-3) and
a warm-up; background RoIs in [0, 0.5) (chenyuntc's code) rather than [0.1, 0.5), so that
images without boxes train the head's background class; random initialisation unless
detection.backbone_weights names a local .npz of VGG16 weights (nothing is downloaded).
"""

from jaxseg.config import base_config

TRAIN_IMAGES = 26684  # stage 2 training images
EPOCH_STEPS = TRAIN_IMAGES * 9 // 10 // 8  # 90 % train at batch 8


def get_config():
    c = base_config()
    c.name = "pneumonia_faster_rcnn"
    c.task = "detection"
    c.train.exact_reductions = False  # The detection step sums across devices in float32.
    c.data.num_val = 500  # validation images (best checkpoint by AP@0.5) ...
    c.data.num_test = TRAIN_IMAGES // 10 - 500  # ... and held-out test images: 10 % together (seed: 9:1)
    c.data.batch_size = 8
    c.data.workers = 8
    c.model.num_classes = 2
    c.model.in_channels = 1
    c.detection.boxes_csv = "stage_2_train_labels.csv"
    c.detection.image_dir = "stage_2_train_images"
    c.detection.classes = ("pneumonia",)
    c.detection.max_boxes = 4  # RSNA images have at most 4 boxes
    c.detection.min_size = 600
    c.detection.max_size = 1000
    c.detection.canvas = (600, 600)  # RSNA radiographs are square
    c.detection.roi_background_iou = (0.0, 0.5)
    c.optimizer.name = "sgd"
    c.optimizer.momentum = 0.9
    c.optimizer.learning_rate = 8e-3
    c.optimizer.warmup_steps = 500
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries = tuple(EPOCH_STEPS * e for e in (20, 40, 60, 80))
    c.optimizer.decay_factor = 0.1
    c.train.steps = EPOCH_STEPS * 100
    c.train.log_every = 100
    c.train.val_every = 2000
    c.train.checkpoint_every = 2000
    c.inference.batch_size = 16
    return c

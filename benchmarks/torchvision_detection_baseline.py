"""The torchvision side of benchmarks/accuracy_boxes.py: train torchvision's Faster R-CNN on exported
detection samples and write its detections. Runs in a Python with torch and torchvision; jax is not needed.

    python benchmarks/torchvision_detection_baseline.py FOLDER

FOLDER (written by accuracy_boxes.py):
  settings.json   canvas (H, W), batch_size, steps, learning_rate, weight_decay, num_classes (with the
                  background), in_channels, width (VGG16 channel multiplier), rpn_features, fc_features,
                  anchor_scales, anchor_ratios, rpn_pre_nms / rpn_post_nms (train, test), rpn_nms_iou,
                  rpn_samples, rpn_positive_fraction, rpn_iou (negative below, positive from), roi_samples,
                  roi_positive_fraction, roi_foreground_iou, roi_background_iou, roi_size, sampling_ratio,
                  score_threshold, nms_iou, max_detections, seed, train and test image ids
  cases/ID.npz    jaxseg's own sample of the image (jaxseg.data.detection.make_sample): image (H, W, C)
                  z-scored and resized onto the canvas, boxes (B, 4) x1 y1 x2 y2 canvas pixels, labels (B,),
                  box_valid (B,), image_size (2,) of the image inside the canvas, scale (canvas px per file px)
Writes:
  detections.json {image id: {"boxes": (D, 4) in file pixels, "scores": (D,), "labels": (D,) class numbers}}
  result.json     parameters, train_s, step_s_median, samples_per_s, final_loss, versions

The network mirrors jaxseg's FasterRCNN of the config: the 13 convolutions of VGG16 at `width` of
its channels (ReLU, no normalisation, 4 max-pools: stride 16), an RPN of one 3x3 convolution of
rpn_features, RoIAlign on that one map, fc6 and fc7 of fc_features, initialised as jaxseg's. torchvision's own losses
(smooth-L1 with beta 1/9 in both stages; jaxseg: sigma 3 and 1, beta 1/9 and 1) and Adam with
L2 weight decay; the samples are drawn in shuffled epochs, unflipped (as the config: flips
would swap the right and left lungs).

torchvision's PyPI wheel links its compiled operators against a CUDA build of torch; with a CPU
torch they do not load. Then this script supplies greedy NMS in Python and torchvision's own
Python RoIAlign runs (its fallback when the operators are missing).
"""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_result import write_result


def _import_torchvision():
    """torchvision, with Python NMS where its compiled operators cannot load (see the module docstring)."""
    from torch.utils import cpp_extension  # noqa: F401  (torchvision.extension expects it imported)

    try:
        import torchvision
        return torchvision
    except RuntimeError:  # its fake-tensor registrations name operators that did not load
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import torchvision
    from torchvision.ops import boxes as box_ops

    box_ops.nms = _python_nms
    return torchvision


def _python_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS: indices of the kept boxes (x1 y1 x2 y2), highest score first."""
    from torchvision.ops import box_iou

    order = scores.argsort(descending=True)
    iou = box_iou(boxes[order], boxes[order])
    keep = torch.ones(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= iou[i, i + 1:] <= iou_threshold
    return order[keep]


def vgg16(width: float, in_channels: int) -> nn.Sequential:
    """VGG16's 13 3x3 convolutions at `width` of 64..512 channels, ReLU, max-pools after blocks 1-4."""
    layers, channels = [], in_channels
    for block, (features, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, max(1, round(features * width)), 3, padding=1), nn.ReLU(inplace=True)]
            channels = max(1, round(features * width))
        if block < 4:
            layers.append(nn.MaxPool2d(2, 2))
    net = nn.Sequential(*layers)
    net.out_channels = channels
    return net


def build(s: dict, torchvision):
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
    from torchvision.ops import MultiScaleRoIAlign

    backbone = vgg16(s["width"], s["in_channels"])
    anchors = AnchorGenerator(sizes=(tuple(s["anchor_scales"]),), aspect_ratios=(tuple(s["anchor_ratios"]),))
    rpn_head = RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0])
    if s["rpn_features"] != backbone.out_channels:  # torchvision's RPN conv keeps the backbone's width
        raise ValueError(f"rpn_features {s['rpn_features']} != backbone channels {backbone.out_channels}")
    roi_pool = MultiScaleRoIAlign(["0"], s["roi_size"], s["sampling_ratio"])
    head = TwoMLPHead(backbone.out_channels * s["roi_size"] ** 2, s["fc_features"])
    height, width = s["canvas"]
    net = FasterRCNN(
        backbone, num_classes=None, min_size=min(height, width), max_size=max(height, width),
        image_mean=[0.0] * s["in_channels"], image_std=[1.0] * s["in_channels"],  # samples are z-scored already
        rpn_anchor_generator=anchors, rpn_head=rpn_head, box_roi_pool=roi_pool, box_head=head,
        box_predictor=torchvision.models.detection.faster_rcnn.FastRCNNPredictor(s["fc_features"], s["num_classes"]),
        rpn_pre_nms_top_n_train=s["rpn_pre_nms"][0], rpn_pre_nms_top_n_test=s["rpn_pre_nms"][1],
        rpn_post_nms_top_n_train=s["rpn_post_nms"][0], rpn_post_nms_top_n_test=s["rpn_post_nms"][1],
        rpn_nms_thresh=s["rpn_nms_iou"], rpn_fg_iou_thresh=s["rpn_iou"][1], rpn_bg_iou_thresh=s["rpn_iou"][0],
        rpn_batch_size_per_image=s["rpn_samples"], rpn_positive_fraction=s["rpn_positive_fraction"],
        box_fg_iou_thresh=s["roi_foreground_iou"], box_bg_iou_thresh=s["roi_background_iou"][1],
        box_batch_size_per_image=s["roi_samples"], box_positive_fraction=s["roi_positive_fraction"],
        box_score_thresh=s["score_threshold"], box_nms_thresh=s["nms_iou"],
        box_detections_per_img=s["max_detections"])
    init_as_jaxseg(net)
    return net


def init_as_jaxseg(net) -> None:
    """jaxseg's initialisation of the same layers: flax's default (LeCun normal, truncated: std
    1/sqrt(fan_in)) for the backbone and fc6/fc7, normal 0.01 and 0.001 for the classifier and the box
    regressor (the RPN head's normal 0.01 is torchvision's already); zero biases. PyTorch's default
    (uniform, variance 1/(3 fan_in)) shrinks the signal through 13 unnormalised convolutions, and
    the baseline did not learn in 60 steps with it."""
    layers = [m for m in net.backbone.modules() if isinstance(m, nn.Conv2d)]
    layers += [net.roi_heads.box_head.fc6, net.roi_heads.box_head.fc7]
    for layer in layers:
        fan_in = layer.weight[0].numel()
        std = 1.0 / fan_in ** 0.5 / 0.87962566  # flax's truncated normal corrects for the truncation at 2 std
        nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(layer.bias)
    for layer, std in ((net.roi_heads.box_predictor.cls_score, 0.01), (net.roi_heads.box_predictor.bbox_pred, 0.001)):
        nn.init.normal_(layer.weight, std=std)
        nn.init.zeros_(layer.bias)


def _sample(folder: Path, case: str) -> tuple[torch.Tensor, dict, float]:
    """(C, h, w) image cropped from the canvas, its target (boxes, labels), canvas px per file px."""
    z = np.load(folder / "cases" / f"{case}.npz")
    h, w = (int(v) for v in z["image_size"])
    image = torch.from_numpy(np.ascontiguousarray(z["image"][:h, :w].transpose(2, 0, 1)))
    valid = z["box_valid"]
    target = {"boxes": torch.from_numpy(z["boxes"][valid]), "labels": torch.from_numpy(z["labels"][valid]).long()}
    return image, target, float(z["scale"])


def main(folder: Path) -> None:
    torchvision = _import_torchvision()
    s = json.loads((folder / "settings.json").read_text())
    torch.manual_seed(s["seed"])
    net = build(s, torchvision)
    train = [_sample(folder, c) for c in s["train"]]
    optimiser = torch.optim.Adam(net.parameters(), lr=s["learning_rate"], weight_decay=s["weight_decay"])
    rng = np.random.default_rng(s["seed"])
    order, step_s = [], []
    net.train()
    start = time.perf_counter()
    for _ in range(s["steps"]):
        tic = time.perf_counter()
        batch = []
        for _ in range(s["batch_size"]):
            order = order or list(rng.permutation(len(train)))
            batch.append(train[order.pop()])
        losses = net([b[0] for b in batch], [b[1] for b in batch])
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step_s.append(time.perf_counter() - tic)
    train_s = time.perf_counter() - start
    print(f"torchvision: {s['steps']} steps in {train_s:.1f} s, last loss {loss.item():.4f}", flush=True)

    net.eval()
    found = {}
    with torch.no_grad():
        for case in s["test"]:
            image, _, scale = _sample(folder, case)
            out = net([image])[0]
            found[case] = {"boxes": (out["boxes"] / scale).tolist(), "scores": out["scores"].tolist(),
                           "labels": out["labels"].tolist()}
    (folder / "detections.json").write_text(json.dumps(found))
    write_result(folder, net, s["batch_size"], train_s, step_s, loss.item(), torchvision=torchvision.__version__)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/torchvision_detection_baseline.py FOLDER (written by accuracy_boxes.py)")
    main(Path(sys.argv[1]))

"""Detection datasets: radiographs (DICOM, PNG, JPEG) with a box CSV, resized, flipped and padded
into fixed-shape batches.

An index lists every image of the CSV with its boxes, (x1, y1, x2, y2) in the file's pixels;
images without boxes (RSNA's Target 0 rows) stay in as negatives. Training images are decoded once
into the prepared cache (`cache_pixels`) and memory-mapped from there. A sample is the image scaled
so that its shorter side is `detection.min_size` and its longer at most `detection.max_size`
(and it fits the canvas), z-scored, padded at the bottom and right to the canvas; its boxes are
scaled alike and padded to `detection.max_boxes` with a valid mask.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import ml_collections
import numpy as np
from PIL import Image

from jaxseg.config import ConfigError
from jaxseg.data.datasets import required_root
from jaxseg.data.prepare import cache_root
from jaxseg.data.schedule import batch_iterator
from jaxseg.data.splits import config_split
from jaxseg.io import read_box_csv, read_dicom_image, read_image
from jaxseg.io.atomic import atomic_path
from jaxseg.io.errors import ReadError
from jaxseg.io.image2d import IMAGE_SUFFIXES
from jaxseg.io.paths import inside

log = logging.getLogger(__name__)

DICOM_SUFFIXES = (".dcm", ".dicom")
# Tried in this order for CSV image ids without a suffix (RSNA's patientId -> patientId.dcm).
GUESSED_SUFFIXES = (".dcm", ".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class DetectionImage:
    """One image of a detection dataset: boxes (B, 4) float32 (x1, y1, x2, y2) pixels of the file,
    labels (B,) int32 classes 1.. (B = 0 for a negative image)."""

    case_id: str
    path: Path
    boxes: np.ndarray
    labels: np.ndarray
    cached: Path | None = None  # its decoded pixels (`cache_pixels`), memory-mapped by samples

    @property
    def subject(self) -> str:
        """Splits go by subject; one image per subject (RSNA: one radiograph per patientId)."""
        return self.case_id


def _image_path(folder: Path, image_id: str, csv_path: Path) -> Path:
    path = inside(folder, image_id, csv_path, "image id")
    if path.suffix.lower() in IMAGE_SUFFIXES + DICOM_SUFFIXES:
        return path
    for suffix in GUESSED_SUFFIXES:
        if (candidate := folder / f"{image_id}{suffix}").is_file():
            return candidate
    return folder / f"{image_id}.dcm"  # reading it names the missing file


def read_detection_index(config: ml_collections.ConfigDict) -> list[DetectionImage]:
    """Every image of `detection.boxes_csv` with its boxes, in CSV order; ConfigError naming the key
    for a missing CSV setting, an unknown label or more boxes than `detection.max_boxes`."""
    d = config.detection
    root = required_root(config, "the folder of the images and their box CSV")
    if not d.boxes_csv:
        raise ConfigError("config key 'detection.boxes_csv' is empty: set it to the box CSV (relative to data.root)")
    csv_path = root / d.boxes_csv
    classes = {name: number for number, name in enumerate(d.classes, start=1)}
    images = []
    for image_id, boxes in read_box_csv(csv_path).items():
        unknown = sorted({b.label for b in boxes} - classes.keys())
        if unknown:
            raise ConfigError(f"{csv_path}: image {image_id} has box labels {unknown} that are not in "
                              f"'detection.classes' = {tuple(d.classes)}")
        if len(boxes) > d.max_boxes:
            raise ConfigError(f"{csv_path}: image {image_id} has {len(boxes)} boxes, more than "
                              f"'detection.max_boxes' = {d.max_boxes}")
        xyxy = np.array([[b.x, b.y, b.x + b.width, b.y + b.height] for b in boxes], np.float32).reshape(-1, 4)
        labels = np.array([classes[b.label] for b in boxes], np.int32)
        images.append(DetectionImage(image_id, _image_path(root / d.image_dir, image_id, csv_path), xyxy, labels))
    if not images:
        raise ConfigError(f"{csv_path} lists no images")
    return images


def detection_splits(config: ml_collections.ConfigDict,
                     images: Sequence[DetectionImage]) -> dict[str, tuple[DetectionImage, ...]]:
    """train / val / test images by `data.num_val`, `data.num_test`, `data.split_seed` (and folds), or
    pinned by `data.test_cases` / `data.val_cases` (see `jaxseg.data.splits`)."""
    return config_split(config, images)


def grey_pixels(image: DetectionImage) -> np.ndarray:
    """(H, W) float32 z-scored pixels of the image's file (colour averaged to grey first)."""
    is_dicom = image.path.suffix.lower() in DICOM_SUFFIXES
    array = (read_dicom_image(image.path) if is_dicom else read_image(image.path)).array.astype(np.float32)
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    return (array - array.mean()) / max(float(array.std()), 1e-6)


def read_pixels(image: DetectionImage, channels: int) -> np.ndarray:
    """(H, W, channels) float32 z-scored pixels (grey replicated): memory-mapped from the cache when
    the image has been cached, else decoded from its file."""
    grey = np.load(image.cached, mmap_mode="r") if image.cached is not None else grey_pixels(image)
    return np.repeat(np.asarray(grey)[..., None], channels, axis=-1)


def cache_pixels(images: Sequence[DetectionImage], folder: Path) -> list[DetectionImage]:
    """Decode each image once into FOLDER/<case_id>.npy (`grey_pixels`), written atomically, and
    return the images pointing at them, so that training memory-maps instead of decoding a DICOM
    or PNG per sample. A cached copy older than its file is decoded again."""
    cached = []
    for image in images:
        path = inside(folder, f"{image.case_id}.npy", image.path, "image id")
        if not path.is_file() or path.stat().st_mtime < image.path.stat().st_mtime:
            with atomic_path(path) as tmp, open(tmp, "wb") as file:
                np.save(file, grey_pixels(image))
        cached.append(dataclasses.replace(image, cached=path))
    return cached


def pixel_cache_folder(config: ml_collections.ConfigDict, workdir: Path | None) -> Path:
    """CACHE_ROOT/detection-<digest of the dataset folder>: one cache per dataset (`data.cache_dir`,
    else WORKDIR/prepared, as every task's prepared data)."""
    digest = hashlib.sha256(str(Path(config.data.root).absolute()).encode()).hexdigest()[:12]
    return cache_root(config, workdir) / f"{Path(config.data.root).name}-detection-{digest}"


@dataclasses.dataclass(frozen=True)
class Resizing:
    """How images become samples: sizes in pixels, canvas (H, W)."""

    min_size: int
    max_size: int
    canvas: tuple[int, int]
    max_boxes: int
    channels: int

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> Resizing:
        d = config.detection
        canvas = tuple(d.canvas) if d.canvas else (d.max_size, d.max_size)
        return cls(d.min_size, d.max_size, canvas, d.max_boxes, config.model.in_channels)

    def scale(self, height: int, width: int) -> float:
        """Shorter side to min_size, unless the longer would pass max_size or the image the canvas."""
        return min(self.min_size / min(height, width), self.max_size / max(height, width),
                   self.canvas[0] / height, self.canvas[1] / width)


def make_sample(image: DetectionImage, resizing: Resizing, flip: bool = False) -> dict[str, np.ndarray]:
    """One fixed-shape sample: image (H, W, C) on the canvas, boxes (max_boxes, 4) scaled (and
    flipped) like it, labels (max_boxes,), box_valid (max_boxes,), image_size (2,) of the resized
    image inside the canvas, scale () resized pixels per file pixel."""
    pixels = read_pixels(image, resizing.channels)
    height, width = pixels.shape[:2]
    scale = resizing.scale(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = np.stack([np.asarray(Image.fromarray(pixels[..., c], mode="F").resize((new_w, new_h), Image.BILINEAR))
                        for c in range(pixels.shape[-1])], axis=-1)
    boxes = image.boxes * np.array([new_w / width, new_h / height] * 2, np.float32)
    if flip:
        resized = resized[:, ::-1]
        boxes = np.stack([new_w - boxes[:, 2], boxes[:, 1], new_w - boxes[:, 0], boxes[:, 3]], axis=1)
    canvas = np.zeros((*resizing.canvas, resizing.channels), np.float32)
    canvas[:new_h, :new_w] = resized
    count = len(boxes)
    padded = np.zeros((resizing.max_boxes, 4), np.float32)
    padded[:count] = boxes
    labels = np.zeros(resizing.max_boxes, np.int32)
    labels[:count] = image.labels
    return {"image": canvas, "boxes": padded, "labels": labels, "box_valid": np.arange(resizing.max_boxes) < count,
            "image_size": np.array([new_h, new_w], np.int32), "scale": np.float32(scale)}


class DetectionSampler:
    """The training images as a `jaxseg.data.schedule.Sampler`: one element per image, one shape
    (the canvas), a horizontal flip with probability flip_p."""

    def __init__(self, images: Sequence[DetectionImage], resizing: Resizing, flip_p: float):
        self.images, self.resizing, self.flip_p = list(images), resizing, flip_p
        self.elements = np.arange(len(self.images), dtype=np.int64)[:, None]
        self.buckets = np.zeros(len(self.images), np.int64)
        self.sample_shapes = [resizing.canvas]

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return make_sample(self.images[int(element[0])], self.resizing, bool(rng.random() < self.flip_p))


def training_batches(config: ml_collections.ConfigDict, images: Sequence[DetectionImage], batch_size: int,
                     shard_index: int = 0, shard_count: int = 1):
    """Endless, resumable batches of this host's `batch_size` samples (grain, see jaxseg.data.schedule)."""
    sampler = DetectionSampler(images, Resizing.from_config(config), config.detection.flip_p)
    try:
        return batch_iterator(sampler, batch_size * shard_count, config.seed, config.data.workers, shard_index,
                              shard_count)
    except ValueError as err:
        raise ConfigError(f"config key 'data.batch_size' does not fit the {len(images)} training images: "
                          f"{err}") from None


def evaluation_batches(images: Sequence[DetectionImage], resizing: Resizing, batch_size: int,
                       failed: list[dict] | None = None
                       ) -> Iterator[tuple[list[DetectionImage], dict[str, np.ndarray]]]:
    """Every image once, unflipped, in fixed-size batches: the last is filled up by repeating its
    first image (drop the extra results: the list gives the real images of each batch).

    failed: when given, an image that cannot be read is left out, logged, and appended to it as
    {"case_id", "file", "reason"}; else its ReadError propagates.
    """
    chunk, samples = [], []
    for image in images:
        try:
            sample = make_sample(image, resizing)
        except ReadError as err:
            if failed is None:
                raise
            log.error("image %s skipped: %s", image.case_id, err)
            failed.append({"case_id": image.case_id, "file": err.path, "reason": err.problem})
            continue
        chunk.append(image)
        samples.append(sample)
        if len(chunk) == batch_size:
            yield chunk, {key: np.stack([s[key] for s in samples]) for key in samples[0]}
            chunk, samples = [], []
    if chunk:
        samples += [samples[0]] * (batch_size - len(samples))
        yield chunk, {key: np.stack([s[key] for s in samples]) for key in samples[0]}

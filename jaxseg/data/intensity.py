"""Intensity augmentation of an image (*S, C): noise, blur, brightness, contrast, gamma (nnU-Net's set).

Each is applied with its probability, to every channel alike, in that order. Ranges follow
nnU-Net's defaults; all randomness comes from the sample's generator.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
from scipy import ndimage

from jaxseg.data.augment import settings_from


@dataclasses.dataclass(frozen=True)
class IntensityAugmentation:
    """Probabilities and ranges from the config's `augment` section (intensity part)."""

    noise_p: float = 0.0
    noise_std: float = 0.1
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    brightness_p: float = 0.0
    brightness_range: tuple[float, float] = (0.75, 1.25)
    contrast_p: float = 0.0
    contrast_range: tuple[float, float] = (0.75, 1.25)
    gamma_p: float = 0.0
    gamma_range: tuple[float, float] = (0.7, 1.5)

    @classmethod
    def from_config(cls, augment: ml_collections.ConfigDict) -> IntensityAugmentation:
        return settings_from(cls, augment)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """image (*S, C) float32 -> augmented copy (or the same array when nothing applies)."""
        if rng.random() < self.noise_p:
            std = np.float32(rng.uniform(0.0, self.noise_std))
            image = image + std * rng.standard_normal(image.shape, dtype=np.float32)
        if rng.random() < self.blur_p:
            sigma = rng.uniform(*self.blur_sigma)
            image = ndimage.gaussian_filter(image, [sigma] * (image.ndim - 1) + [0], mode="nearest")
        if rng.random() < self.brightness_p:
            image = image * np.float32(rng.uniform(*self.brightness_range))
        if rng.random() < self.contrast_p:
            image = _contrast(image, rng.uniform(*self.contrast_range))
        if rng.random() < self.gamma_p:
            image = _gamma(image, rng.uniform(*self.gamma_range))
        return image.astype(np.float32, copy=False)


def _per_channel(image: np.ndarray, reduce) -> np.ndarray:
    return reduce(image.reshape(-1, image.shape[-1]), axis=0)


def _contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Stretch about each channel's mean, keeping its value range."""
    mean, low, high = (_per_channel(image, f) for f in (np.mean, np.min, np.max))
    return np.clip((image - mean) * np.float32(factor) + mean, low, high)


def _gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    """x -> x^gamma on each channel rescaled to [0, 1], then back to its range."""
    low, high = _per_channel(image, np.min), _per_channel(image, np.max)
    span = np.maximum(high - low, 1e-8)
    return ((image - low) / span) ** np.float32(gamma) * span + low

"""Augmentation on the accelerator: the transforms of `augment.py` and `intensity.py` as one batched,
jit-compilable JAX function.

With `augment.device` the loader's workers only cut a block of the sample's shape plus `margin`
voxels on every side (the padding rule of `slices.py` fills what lies outside the volume) and this
module does the rest on the device, with the same parameterisation as the CPU path, so one config
gives one distribution:

    output voxel o (centred: u = o - (out - 1) / 2)  ->  block position  margin + (out - 1) / 2 + M Q u + d(u)

M = rotation / scale (`rotation_matrix`), Q the signed permutation of the exact flips and the
90-degree turn (the CPU path applies them to its output afterwards, which is the same as sampling
at Q u), d the smooth elastic displacement. The image is interpolated linearly, labels by nearest
neighbour or per class. Then noise, blur, brightness, contrast and gamma, each with its
probability, in the CPU path's order. The margin covers the largest rotation and scaling the
config allows (and five standard deviations of the elastic displacement), so positions the CPU
path would read from the volume lie in the block; beyond it the block's edge value is used.

Randomness: sample i of the global batch at step s draws everything from
fold_in(fold_in(fold_in(key, DOMAIN), s), i), so results depend neither on how the batch is
sharded nor on the number of devices or processes, and a resumed run repeats them exactly.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates

from jaxseg.data.augment import SpatialAugmentation, interpolation_matrix
from jaxseg.data.intensity import IntensityAugmentation

# Keeps the augmentation's key stream apart from dropout's fold_in(key, step).
_DOMAIN = 0x6175
# Standard deviations of elastic displacement the margin covers.
_ELASTIC_SDS = 5.0
# scipy.ndimage.gaussian_filter's default kernel half-width, in standard deviations.
_TRUNCATE = 4.0


def rotation_bound(n: int, max_deg: float) -> np.ndarray:
    """(n, n) elementwise upper bound of |rotation_matrix(angles)| over angles in [-max_deg, max_deg].

    |A B| <= |A| |B| elementwise, and each turn about one axis has entries cos <= 1 and |sin| <=
    sin(min(max_deg, 90)), so the product of the per-axis bounds bounds the composed rotation.
    """
    s = math.sin(math.radians(min(max_deg, 90.0)))
    planes = [(0, 1)] if n == 2 else [(1, 2), (0, 2), (0, 1)]  # rotation_matrix's order of turns
    bound = np.eye(n)
    for a, b in planes:
        turn = np.eye(n)
        turn[a, b] = turn[b, a] = s
        bound = turn @ bound
    return bound


def block_margin(out_shape: tuple[int, ...], aug: SpatialAugmentation, multiple: int = 1) -> tuple[int, ...]:
    """Voxels to add on each side of a sample of `out_shape` so the device transform finds in the block
    every position the CPU path could read (largest rotation, smallest zoom, +-5 sd elastic, +1 for
    linear interpolation). Rounded up so that twice the margin is a multiple of `multiple` (the
    devices of the mesh's space axis: the shipped block then splits like the sample)."""
    half = (np.asarray(out_shape, float) - 1) / 2
    reach = half.copy()
    if aug.rotate_p > 0:
        reach = np.minimum(rotation_bound(len(out_shape), aug.rotate_deg) @ half, np.linalg.norm(half))
    if aug.scale_p > 0:
        reach = reach * max(1.0, 1.0 / aug.scale_range[0])
    if aug.elastic_p > 0:
        reach = reach + _ELASTIC_SDS * aug.elastic_alpha
    if not (aug.rotate_p > 0 or aug.scale_p > 0 or aug.elastic_p > 0):
        return (0,) * len(out_shape)
    step = multiple // math.gcd(2, multiple)
    return tuple(int(-(-math.ceil(r - h + 1) // step) * step) for r, h in zip(reach, half))


def _flip_turn_matrix(flips: jax.Array, turn_on: jax.Array, plane: jax.Array, k: jax.Array,
                      planes: list[tuple[int, int]], n: int) -> jax.Array:
    """Q (n, n): sampling the transformed image at Q u is `np.rot90(np.flip(x, flips), k, plane)`."""
    flip = jnp.diag(jnp.where(flips, -1.0, 1.0))
    turn = jnp.eye(n)
    if planes:
        quarter = jnp.stack([_quarter(a, b, n) for a, b in planes])[plane]
        power = jnp.stack([jnp.eye(n), quarter, quarter @ quarter, quarter @ quarter @ quarter])
        turn = jnp.where(turn_on, power[k], jnp.eye(n))
    return flip @ turn


def _quarter(a: int, b: int, n: int) -> np.ndarray:
    """np.rot90(x, 1, (a, b)) samples x at u with u_a <- u_b, u_b <- -u_a."""
    q = np.zeros((n, n))
    for i in range(n):
        q[i, i] = i not in (a, b)
    q[a, b], q[b, a] = 1.0, -1.0
    return q


def gaussian_blur(x: jax.Array, sigma: jax.Array, radius: int, axes: tuple[int, ...]) -> jax.Array:
    """scipy.ndimage.gaussian_filter(x, sigma, mode="nearest") over `axes`, for a traced sigma <= radius / 4.

    The kernel spans the static `radius`, its taps beyond scipy's own half-width
    int(4 sigma + 0.5) set to zero, so the result equals scipy's for every sigma.
    """
    taps = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    weights = jnp.exp(-0.5 * (taps / sigma) ** 2) * (jnp.abs(taps) <= jnp.floor(_TRUNCATE * sigma + 0.5))
    weights = weights / weights.sum()
    for axis in axes:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = jnp.pad(x, pad, mode="edge")
        size = x.shape[axis]
        x = sum(weights[t] * jax.lax.slice_in_dim(padded, t, t + size, axis=axis) for t in range(2 * radius + 1))
    return x


def elastic_field(key: jax.Array, shape: tuple[int, ...], sigma: float, alpha: float) -> jax.Array:
    """(n, *shape) float32 displacement in voxels, as `augment.smooth_displacement` draws it: white
    noise on a grid about sigma/2 coarser, blurred by 1 coarse voxel, interpolated linearly, each
    component scaled to standard deviation `alpha`."""
    coarse = tuple(max(2, int(np.ceil(2 * s / sigma)) + 1) for s in shape)
    return smooth_field(jax.random.normal(key, (len(shape), *coarse), jnp.float32), shape, alpha)


def smooth_field(noise: jax.Array, shape: tuple[int, ...], alpha: float) -> jax.Array:
    """Coarse white noise (n, *coarse) -> the displacement (n, *shape) of `elastic_field`."""
    weights = [jnp.asarray(interpolation_matrix(s, c)) for s, c in zip(shape, noise.shape[1:])]
    smooth = gaussian_blur(noise, jnp.float32(1.0), int(_TRUNCATE + 0.5), tuple(range(1, len(shape) + 1)))
    letters = "xyz"[: len(shape)]
    spec = f"c{letters.upper()}," + ",".join(f"{letter}{letter.upper()}" for letter in letters) + f"->c{letters}"
    field = jnp.einsum(spec, smooth, *weights)
    axes = tuple(range(1, len(shape) + 1))
    return alpha * field / (field.std(axis=axes, keepdims=True) + 1e-12)


def sample_positions(matrix: jax.Array, displacement: jax.Array | None, out_shape: tuple[int, ...],
                     margin: tuple[int, ...]) -> jax.Array:
    """(n, *out) block positions of the output voxels: margin + half + matrix @ (o - half) + displacement."""
    half = (np.asarray(out_shape, np.float32) - 1) / 2
    grid = jnp.stack(jnp.meshgrid(*[jnp.arange(s, dtype=jnp.float32) - h for s, h in zip(out_shape, half)],
                                  indexing="ij"))
    centre = jnp.asarray(np.asarray(margin, np.float32) + half).reshape(-1, *[1] * len(out_shape))
    positions = jnp.einsum("ij,j...->i...", matrix.astype(jnp.float32), grid) + centre
    return positions if displacement is None else positions + displacement


def resample(image: jax.Array, label: jax.Array, positions: jax.Array, onehot_values: int = 0,
             on_grid: bool = False) -> tuple[jax.Array, jax.Array]:
    """image (*B, C) linearly and label (*B) at `positions` (n, *out): ((*out, C) float32, (*out) int32).

    Beyond the block, the nearest edge value. onehot_values > 0: each of label values
    0..onehot_values-1 interpolated linearly as a mask, then the most likely one (ties: the lowest),
    else nearest neighbour (rounding half to even, as `augment._nearest`). on_grid: the positions
    are whole voxels, so a gather gives the same values.
    """
    index = tuple(jnp.clip(jnp.round(p).astype(jnp.int32), 0, s - 1) for p, s in zip(positions, label.shape))
    if on_grid:
        return image[index], label[index].astype(jnp.int32)
    coords = list(positions)
    channels = jnp.moveaxis(image, -1, 0)
    warped = jax.vmap(lambda c: map_coordinates(c, coords, order=1, mode="nearest"))(channels)
    if onehot_values:
        masks = jnp.stack([label == v for v in range(onehot_values)]).astype(jnp.float32)
        scores = jax.vmap(lambda m: map_coordinates(m, coords, order=1, mode="nearest"))(masks)
        labels = jnp.argmax(scores, axis=0).astype(jnp.int32)
    else:
        labels = label[index].astype(jnp.int32)
    return jnp.moveaxis(warped, 0, -1), labels


def _uniform(key, low, high, shape=()):
    return jax.random.uniform(key, shape, jnp.float32, low, high)


@dataclasses.dataclass(frozen=True)
class DeviceAugmentation:
    """The configured spatial and intensity augmentation of samples cut with `margin` voxels on each
    side (the sample's shape is the block's less twice the margin); `onehot_values` label values
    when labels are interpolated per class (0: nearest neighbour)."""

    spatial: SpatialAugmentation
    intensity: IntensityAugmentation
    margin: tuple[int, ...]
    onehot_values: int = 0

    def __call__(self, key_data: jax.Array, step: jax.Array, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """{"image": (N, *block, C), "label": (N, *block)} -> {"image": (N, *out, C) float32, "label": (N, *out) int32}.

        key_data: the train state's raw key; step: the step counter. Pure; jit it (jaxseg.train.augment).
        """
        root = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(key_data), _DOMAIN), step)
        index = jnp.arange(batch["image"].shape[0])
        keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(root, i)))(index)
        positions, on_grid = jax.vmap(lambda k: self.positions(k, batch["label"].shape[1:]))(keys[:, 0])

        def resample_all(exact: bool):
            return lambda i, label, p: jax.vmap(lambda *a: resample(*a, self.onehot_values, exact))(i, label, p)

        # Flips and turns alone put every position on a voxel: a gather gives the interpolation's values.
        image, label = jax.lax.cond(on_grid.all(), resample_all(True), resample_all(False),
                                    batch["image"].astype(jnp.float32), batch["label"], positions)
        return {"image": self.intensity_transform(keys[:, 1], image), "label": label}

    def sample(self, key: jax.Array, image: jax.Array, label: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One sample alone, as it is in a batch with key fold_in(root, i): block image (*B, C), label (*B)
        -> (*out, C) float32, (*out) int32."""
        spatial_key, intensity_key = jax.random.split(key)
        image, label = self.spatial_transform(spatial_key, image, label)
        return self.intensity_transform(intensity_key[None], image[None])[0], label

    def spatial_transform(self, key: jax.Array, image: jax.Array, label: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One sample's spatial transform: block image (*B, C), label (*B) -> (*out, C) float32, (*out) int32."""
        positions, _ = self.positions(key, label.shape)
        return resample(image.astype(jnp.float32), label, positions, self.onehot_values)

    def positions(self, key: jax.Array, block_shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        """(n, *out) block positions of one sample's output voxels, and whether they all lie on voxels."""
        out_shape = tuple(b - 2 * m for b, m in zip(block_shape, self.margin))
        matrix, displacement = self.spatial_draw(key, out_shape)
        on_grid = jnp.all((matrix == 0) | (jnp.abs(matrix) == 1))
        if displacement is not None:
            on_grid &= jnp.all(displacement == 0)
        return sample_positions(matrix, displacement, out_shape, self.margin), on_grid

    def spatial_draw(self, key: jax.Array, out_shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array | None]:
        """M Q (n, n) and the displacement (n, *out) (None without elastic deformation), drawn as
        `augment.warp` and `augment._flip_and_turn` draw theirs."""
        a, n = self.spatial, len(out_shape)
        keys = jax.random.split(key, 10)
        matrix = jnp.eye(n)
        if a.rotate_p > 0:
            angles = jnp.deg2rad(_uniform(keys[0], -a.rotate_deg, a.rotate_deg, (1 if n == 2 else 3,)))
            rotation = _rotation(angles)
            matrix = jnp.where(jax.random.uniform(keys[1]) < a.rotate_p, rotation, matrix)
        if a.scale_p > 0:
            scale = _uniform(keys[2], *a.scale_range)
            matrix = matrix / jnp.where(jax.random.uniform(keys[3]) < a.scale_p, scale, 1.0)
        planes = [(i, j) for i in range(n) for j in range(i + 1, n) if out_shape[i] == out_shape[j]]
        flips = jax.random.uniform(keys[4], (n,)) < a.flip_p
        turn_on = jax.random.uniform(keys[5]) < a.rot90_p
        plane = jax.random.randint(keys[6], (), 0, max(len(planes), 1))
        k = jax.random.randint(keys[7], (), 1, 4)
        matrix = matrix @ _flip_turn_matrix(flips, turn_on, plane, k, planes, n)
        displacement = None
        if a.elastic_p > 0:
            field = elastic_field(keys[8], out_shape, a.elastic_sigma, a.elastic_alpha)
            displacement = field * (jax.random.uniform(keys[9]) < a.elastic_p)
        return matrix, displacement

    def intensity_transform(self, keys: jax.Array, images: jax.Array) -> jax.Array:
        """Noise, blur, brightness, contrast, gamma of `intensity.IntensityAugmentation` on images
        (N, *out, C), sample i drawing from keys[i]. A transform is computed only when some sample of
        the batch takes it (a lax.cond on the batch): computing each for every sample and selecting
        would cost more than the spatial transform on a CPU."""
        a = self.intensity
        keys = jax.vmap(lambda k: jax.random.split(k, 11))(keys)
        axes = tuple(range(images.ndim - 2))
        radius = int(_TRUNCATE * a.blur_sigma[1] + 0.5)
        transforms = [  # (key holding the coin, probability, transform of one sample)
            (0, a.noise_p, lambda k, x: x + _uniform(k[1], 0.0, a.noise_std) * jax.random.normal(k[2], x.shape)),
            (3, a.blur_p, lambda k, x: gaussian_blur(x, _uniform(k[4], *a.blur_sigma), radius, axes)),
            (5, a.brightness_p, lambda k, x: x * _uniform(k[6], *a.brightness_range)),
            (7, a.contrast_p, lambda k, x: contrast(x, _uniform(k[8], *a.contrast_range))),
            (9, a.gamma_p, lambda k, x: gamma(x, _uniform(k[10], *a.gamma_range))),
        ]
        for coin, p, transform in transforms:
            if p > 0:
                images = _some(jax.vmap(lambda k, c=coin: jax.random.uniform(k[c]) < p)(keys), transform, keys, images)
        return images


def _some(take: jax.Array, transform, keys: jax.Array, images: jax.Array) -> jax.Array:
    """images (N, ...) with transform(keys[i], images[i]) where take[i]; nothing computed if no take[i]."""
    def apply(x):
        return jnp.where(take.reshape(-1, *[1] * (x.ndim - 1)), jax.vmap(transform)(keys, x), x)

    return jax.lax.cond(take.any(), apply, lambda x: x, images)


def _rotation(angles: jax.Array) -> jax.Array:
    """`augment.rotation_matrix` for traced angles."""
    if angles.shape[0] == 1:
        c, s = jnp.cos(angles[0]), jnp.sin(angles[0])
        return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])
    matrix = jnp.eye(3)
    for axis in range(3):
        a, b = [i for i in range(3) if i != axis]
        c, s = jnp.cos(angles[axis]), jnp.sin(angles[axis])
        turn = jnp.eye(3).at[a, a].set(c).at[a, b].set(-s).at[b, a].set(s).at[b, b].set(c)
        matrix = turn @ matrix
    return matrix


def contrast(image: jax.Array, factor: jax.Array) -> jax.Array:
    """`intensity._contrast`: stretch about each channel's mean within its value range."""
    axes = tuple(range(image.ndim - 1))
    mean, low, high = image.mean(axes), image.min(axes), image.max(axes)
    return jnp.clip((image - mean) * factor + mean, low, high)


def gamma(image: jax.Array, value: jax.Array) -> jax.Array:
    """`intensity._gamma`: x -> x^gamma on each channel rescaled to [0, 1], then back."""
    axes = tuple(range(image.ndim - 1))
    low, high = image.min(axes), image.max(axes)
    span = jnp.maximum(high - low, 1e-8)
    return ((image - low) / span) ** value * span + low


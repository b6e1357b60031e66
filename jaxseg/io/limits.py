"""What a file may claim before memory is allocated for it.

A header states the array's shape; a damaged or hostile file can claim far more voxels than it
holds (a 71-byte NIfTI claiming 4 GiB), and reading it would allocate all of that. Readers call
`check_claimed_size` with the header's shape before they read voxels: the claim must stay under
`max_voxels` (the config key `io.max_voxels`, default MAX_VOXELS) and, where the encoding bounds
how far data can expand, fit in the bytes the file holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jaxseg.io.errors import ReadError

MAX_VOXELS = 2**31
# Stored bytes expand at most this much: deflate (gzip, zlib, PNG) at most 1032:1; TIFF's LZW
# and JPEG of a blank image stay under 4096:1. Uncompressed data: 1 (every byte is in the file).
DEFLATE_RATIO = 1100
IMAGE_CODEC_RATIO = 4096


def check_claimed_size(path: object, shape: Sequence[int], itemsize: float, stored_bytes: int | None,
                       ratio: float | None, max_voxels: int | None = None) -> None:
    """ReadError naming `path` and the claimed shape unless an array of `shape` (every axis,
    channels and frames included) with `itemsize` bytes per element (a fraction for bit-packed
    pixels) has at most `max_voxels` elements (None: MAX_VOXELS) and, when `ratio` is given, at
    most `ratio * stored_bytes` bytes. Costs no allocation."""
    shape = tuple(int(s) for s in shape)
    limit = MAX_VOXELS if max_voxels is None else int(max_voxels)
    voxels = math.prod(shape)
    if voxels > limit:
        raise ReadError(path, f"claims shape {shape} ({voxels:,} voxels), more than io.max_voxels = {limit:,}: "
                              "a damaged header, or raise io.max_voxels")
    claimed = voxels * itemsize
    if ratio is not None and stored_bytes is not None and claimed > ratio * stored_bytes:
        kind = "uncompressed" if ratio == 1 else "compressed"
        raise ReadError(path, f"claims shape {shape} ({claimed:,.0f} bytes of voxel data), more than its "
                              f"{stored_bytes:,} bytes of {kind} data can hold: truncated or damaged")

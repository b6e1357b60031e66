"""Overlap-tile prediction of whole slices with a valid-padding 2D network (Ronneberger et al. 2015).

Each slice is mirrored by the border the network consumes, cut into input tiles whose outputs tile
the slice, and the outputs are put back in place. Tiles start at multiples of the network's
pooling factor (2^depth), so a pixel seen by two tiles gets the same value from both (the network
is shift-equivariant for those shifts): the result equals one forward pass over the whole mirrored
slice, without seams.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxseg.data.slices import plane_stack
from jaxseg.data.tiles import mirror_pad

# tiles (B, tile_in, tile_in, C_in) -> probabilities (B, tile_out, tile_out, C), B fixed.
TileFn = Callable[[np.ndarray], np.ndarray]


def tile_starts(size: int, tile_out: int, alignment: int) -> list[int]:
    """Output-window starts along one axis of `size` pixels: steps of tile_out rounded down to a
    multiple of `alignment`, the last window reaching or passing the end."""
    step = tile_out // alignment * alignment
    if step < 1:
        raise ValueError(f"an output tile of {tile_out} is smaller than the alignment {alignment}")
    count = 1 + max(0, -(-(size - tile_out) // step))
    return [i * step for i in range(count)]


def overlap_tile_predict(predict_fn: TileFn, image: np.ndarray, axis: int, batch_size: int,
                         tile_in: int, tile_out: int, alignment: int) -> np.ndarray:
    """Probabilities (I, J, K, C) of a normalised volume (I, J, K) or (I, J, K, C_in), slice by slice
    along `axis`, by overlap-tile; tiles go to `predict_fn` in batches of exactly `batch_size` (the
    last one filled with repeats)."""
    stack = plane_stack(image if image.ndim == 4 else image[..., None], axis)
    height, width = stack.shape[1:3]
    border = (tile_in - tile_out) // 2
    rows, cols = tile_starts(height, tile_out, alignment), tile_starts(width, tile_out, alignment)
    after = (rows[-1] + tile_out - height + border, cols[-1] + tile_out - width + border)
    tiles, places = [], []
    for s, slice_ in enumerate(stack):
        padded = mirror_pad(slice_, (border, border), after)
        for r in rows:
            for c in cols:
                tiles.append(padded[r:r + tile_in, c:c + tile_in])
                places.append((s, r, c))
    outputs = []
    for start in range(0, len(tiles), batch_size):
        chunk = np.stack(tiles[start:start + batch_size])
        filled = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)])
        outputs.append(np.asarray(predict_fn(filled))[: len(chunk)])
    outputs = np.concatenate(outputs)
    result = np.zeros((len(stack), rows[-1] + tile_out, cols[-1] + tile_out, outputs.shape[-1]), np.float32)
    for (s, r, c), tile in zip(places, outputs):
        result[s, r:r + tile_out, c:c + tile_out] = tile
    return np.moveaxis(result[:, :height, :width], 0, axis)

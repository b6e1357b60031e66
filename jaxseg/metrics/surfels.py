"""Surface elements of a binary mask on the grid of voxel corners, with their areas in mm^2 (mm in 2D).

The surface is the marching-cubes (marching-squares in 2D) surface through the midpoints of the
edges between inside and outside voxel centres. Each corner point of the voxel grid is described by
a neighbour code: one bit per voxel of the 2x2(x2) cell around it, voxel offset (a, b, c) giving
bit 7 - (4a + 2b + c) (3D) or 3 - (2a + b) (2D). Codes other than all-in and all-out are surface
elements ("surfels"). This is DeepMind surface-distance's construction, so that surface Dice equals
its compute_surface_dice_at_tolerance.

The area of a code is the area of its triangles after scaling the axes by the voxel spacing. The
polygons are derived here from the code; how each non-planar polygon is split into triangles is
a convention of the classic marching-cubes table, which changes the area, so `_TRIANGULATION` pins
for each code the triangulation (an index in the enumeration below) that reproduces the areas of
surface-distance (tests/reference/make_surfel_triangulation.py derives it from that package and
tests/test_surface_metrics.py checks it against it when installed). Those choices come from
google-deepmind/surface-distance, Apache License 2.0.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np

_CORNERS = tuple(itertools.product((0, 1), repeat=3))


def _bit(corner: Sequence[int]) -> int:
    a, b, c = corner
    return 1 << (7 - (4 * a + 2 * b + c))


def _faces() -> list[tuple[tuple[int, int, int], ...]]:
    """The 6 faces of the unit cube, each as its 4 corners in cyclic order."""
    faces = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for value in (0, 1):
            cycle = []
            for u, w in ((0, 0), (1, 0), (1, 1), (0, 1)):
                corner = [0, 0, 0]
                corner[axis], corner[others[0]], corner[others[1]] = value, u, w
                cycle.append(tuple(corner))
            faces.append(tuple(cycle))
    return faces


def _midpoint(p: Sequence[int], q: Sequence[int]) -> tuple[float, ...]:
    return tuple((np.add(p, q) / 2).tolist())


def polygons(code: int, separate_inside: bool) -> list[np.ndarray]:
    """The closed polygons (each (k, 3) vertices, cube units) of a 3D neighbour code.

    Each face contributes the segments joining the midpoints of its inside/outside edges. A face
    whose inside corners are diagonal is ambiguous: `separate_inside` cuts the two inside corners
    off separately, otherwise the two outside corners are cut off.
    """
    inside = {c: bool(code & _bit(c)) for c in _CORNERS}
    segments = []
    for cycle in _faces():
        edges = [(cycle[i], cycle[(i + 1) % 4]) for i in range(4)]
        crossing = [i for i, (p, q) in enumerate(edges) if inside[p] != inside[q]]
        if len(crossing) == 2:
            segments.append((_midpoint(*edges[crossing[0]]), _midpoint(*edges[crossing[1]])))
        elif len(crossing) == 4:
            # Corners 0 and 2 of the cycle are alike; cut around them, or around corners 1 and 3.
            around_first = inside[cycle[0]] == separate_inside
            pairs = ((3, 0), (1, 2)) if around_first else ((0, 1), (2, 3))
            segments.extend((_midpoint(*edges[i]), _midpoint(*edges[j])) for i, j in pairs)
    neighbours: dict[tuple, list[tuple]] = {}
    for p, q in segments:
        neighbours.setdefault(p, []).append(q)
        neighbours.setdefault(q, []).append(p)
    loops, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            following = [n for n in neighbours[current] if n != previous and n not in seen]
            if not following:
                break
            previous, current = current, following[0]
            loop.append(current)
            seen.add(current)
        loops.append(np.array(loop))
    return loops


def _triangulations(indices: tuple[int, ...]) -> list[list[tuple[int, int, int]]]:
    """Every triangulation of the convex-order polygon `indices`, in a fixed enumeration order."""
    if len(indices) < 3:
        return [[]]
    first, last = indices[0], indices[-1]
    return [left + right + [(first, indices[k], last)]
            for k in range(1, len(indices) - 1)
            for left in _triangulations(indices[:k + 1])
            for right in _triangulations(indices[k:])]


def triangle_area_vectors(code: int, separate_inside: bool, choice: int) -> np.ndarray:
    """(T, 3) area vectors (normal times area, cube units) of the `choice`-th triangulation of `code`."""
    loops = polygons(code, separate_inside)
    options = [_triangulations(tuple(range(len(loop)))) for loop in loops]
    combination = list(itertools.product(*options))[choice]
    vectors = [0.5 * np.cross(loop[j] - loop[i], loop[k] - loop[i])
               for loop, triangles in zip(loops, combination) for i, j, k in triangles]
    return np.array(vectors).reshape(-1, 3)


@functools.lru_cache(maxsize=1)
def _unit_area_vectors() -> tuple[np.ndarray, np.ndarray]:
    """All triangles' area vectors (T, 3) and their codes (T,), for spacing 1."""
    vectors, owners = [], []
    for code, (separate, choice) in enumerate(_TRIANGULATION):
        if 0 < code < 255:
            v = triangle_area_vectors(code, bool(separate), choice)
            vectors.append(v)
            owners.extend([code] * len(v))
    return np.concatenate(vectors), np.array(owners)


def surfel_area_table(spacing: Sequence[float]) -> np.ndarray:
    """Area of each neighbour code in mm^2 (3D, (256,)) or contour length in mm (2D, (16,)).

    An area vector n of a triangle in voxel units becomes (n0 s1 s2, n1 s0 s2, n2 s0 s1) in mm.
    """
    spacing = np.asarray(spacing, np.float64)
    if spacing.shape == (2,):
        return _contour_length_table(spacing)
    vectors, owners = _unit_area_vectors()
    scale = np.array([spacing[1] * spacing[2], spacing[0] * spacing[2], spacing[0] * spacing[1]])
    return np.bincount(owners, weights=np.linalg.norm(vectors * scale, axis=1), minlength=256)


def _contour_length_table(spacing: np.ndarray) -> np.ndarray:
    """Marching squares: a code's contour joins midpoints of the cell's inside/outside edges.

    Bit 3 - (2a + b) for pixel offset (a, b). One inside or one outside pixel: half a diagonal;
    two pixels on one side: a straight segment across (length of the other axis' spacing);
    two diagonal pixels: two half diagonals, whichever way the saddle is resolved.
    """
    half_diagonal = 0.5 * float(np.hypot(*spacing))
    table = np.zeros(16)
    for code in range(1, 15):
        inside = [(code >> (3 - (2 * a + b))) & 1 for a in (0, 1) for b in (0, 1)]
        count = sum(inside)
        if count in (1, 3):
            table[code] = half_diagonal
        elif inside[0] == inside[1]:  # both pixels of row a=0 alike: the contour runs along axis 1
            table[code] = spacing[1]
        elif inside[0] == inside[2]:
            table[code] = spacing[0]
        else:
            table[code] = 2 * half_diagonal
    return table


# (separate_inside, triangulation index) per 3D neighbour code; see the module docstring.
_TRIANGULATION: tuple[tuple[int, int], ...] = (
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 1), (1, 0), (1, 3), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 2), (1, 0), (1, 2), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 3), (1, 0), (1, 0), (1, 0), (1, 2),
    (1, 0), (1, 0), (1, 1), (1, 0), (1, 0), (1, 0), (1, 2), (1, 0),
    (1, 0), (1, 2), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0),
    (1, 0), (1, 2), (1, 0), (1, 2), (1, 0), (0, 0), (0, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 1), (1, 0), (1, 2),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 3), (1, 0), (1, 2), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 2), (1, 0), (1, 2), (1, 2),
    (1, 0), (1, 0), (1, 0), (0, 0), (1, 0), (1, 0), (0, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 3), (1, 0), (1, 1), (1, 0), (0, 0),
    (1, 0), (1, 0), (1, 1), (0, 0), (1, 3), (0, 0), (0, 0), (0, 0),
    (1, 0), (1, 0), (1, 2), (1, 3), (1, 2), (1, 1), (0, 0), (1, 0),
    (1, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 1), (1, 2), (1, 3), (1, 2), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 1), (1, 0), (1, 3), (1, 0), (0, 0),
    (1, 0), (1, 0), (1, 3), (0, 0), (1, 1), (0, 0), (0, 0), (0, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (0, 0),
    (1, 2), (1, 2), (1, 0), (1, 2), (1, 0), (0, 0), (1, 0), (1, 0),
    (1, 0), (1, 2), (1, 0), (1, 3), (1, 0), (0, 0), (0, 0), (0, 0),
    (1, 2), (0, 0), (1, 1), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 2), (1, 0), (1, 2), (0, 0),
    (1, 0), (1, 0), (1, 0), (0, 0), (1, 0), (1, 0), (1, 2), (1, 0),
    (1, 0), (1, 2), (1, 0), (0, 0), (1, 0), (1, 1), (0, 0), (0, 0),
    (1, 2), (0, 0), (0, 0), (1, 0), (1, 3), (1, 0), (0, 0), (1, 0),
    (1, 0), (1, 0), (1, 2), (0, 0), (1, 2), (0, 0), (0, 0), (1, 0),
    (1, 0), (0, 0), (1, 3), (0, 0), (1, 1), (0, 0), (1, 0), (1, 0),
    (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (0, 0), (1, 0),
    (1, 0), (0, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (1, 0),
)

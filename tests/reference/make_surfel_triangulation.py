"""Derive jaxseg.metrics.surfels._TRIANGULATION from DeepMind surface-distance (dev tool).

For every 3D neighbour code, finds the (separate_inside, index) whose triangles have the same areas
as surface-distance's table at three spacings (one isotropic, two anisotropic), and prints the
table to paste into jaxseg/metrics/surfels.py. Needs `pip install surface-distance` (the dev extra).

    PYTHONPATH=. python tests/reference/make_surfel_triangulation.py
"""

from __future__ import annotations

import numpy as np
from surface_distance import lookup_tables

from jaxseg.metrics import surfels

SPACINGS = [(1.0, 1.0, 1.0), (1.0, 2.0, 3.0), (3.0, 1.0, 2.5)]


def reference_areas(code: int) -> list[float]:
    return [lookup_tables.create_table_neighbour_code_to_surface_area(s)[code] for s in SPACINGS]


def areas(vectors: np.ndarray) -> list[float]:
    out = []
    for s in SPACINGS:
        scale = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]])
        out.append(float(np.linalg.norm(vectors * scale, axis=1).sum()))
    return out


def main() -> None:
    table = []
    for code in range(256):
        if code in (0, 255):
            table.append((1, 0))
            continue
        target = reference_areas(code)
        found = None
        for separate in (1, 0):
            loops = surfels.polygons(code, bool(separate))
            count = int(np.prod([len(surfels._triangulations(tuple(range(len(loop))))) for loop in loops]))
            for choice in range(count):
                if np.allclose(areas(surfels.triangle_area_vectors(code, bool(separate), choice)), target, atol=1e-12):
                    found = (separate, choice)
                    break
            if found:
                break
        if found is None:
            raise SystemExit(f"no triangulation reproduces code {code}")
        table.append(found)
    rows = [", ".join(f"({s}, {c})" for s, c in chunk) for chunk in (table[i:i + 8] for i in range(0, 256, 8))]
    print("_TRIANGULATION: tuple[tuple[int, int], ...] = (\n    " + ",\n    ".join(rows) + ",\n)")


if __name__ == "__main__":
    main()

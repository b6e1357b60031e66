"""jaxseg against MONAI and DeepMind surface-distance run live, on inputs other than the committed
ones; skipped where those packages (the `dev` extra) are not installed.
"""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxseg import losses, metrics
from jaxseg.metrics.surfels import surfel_area_table

torch = pytest.importorskip("torch", reason="torch is not installed (dev extra)")
monai_losses = pytest.importorskip("monai.losses", reason="monai is not installed (dev extra)")
monai_metrics = pytest.importorskip("monai.metrics", reason="monai is not installed (dev extra)")
surface_distance = pytest.importorskip("surface_distance", reason="surface-distance is not installed (dev extra)")


def _blobs(rng, shape, sigma=2.0):
    return [ndimage.gaussian_filter(rng.random(shape), sigma) > 0.5 for _ in range(2)]


@pytest.mark.parametrize("seed", [1, 2])
def test_dice_loss_equals_monai_live(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(3, 5, 6, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=(3, 5, 6, 4))
    x = torch.as_tensor(np.moveaxis(logits, -1, 1).copy())
    y = torch.as_tensor(labels[:, None])
    for batch in (True, False):
        ref = monai_losses.DiceLoss(include_background=False, to_onehot_y=True, softmax=True, batch=batch)(x, y)
        got = losses.dice_loss(jnp.asarray(logits), jnp.asarray(labels), include_background=False, batch=batch)
        assert float(got) == pytest.approx(float(ref), rel=1e-5)


@pytest.mark.parametrize("shape,spacing", [((50, 60), (0.6, 1.7)), ((20, 22, 24), (3.0, 0.7, 0.9))])
def test_surface_metrics_equal_monai_and_surface_distance_live(shape, spacing):
    rng = np.random.default_rng(7)
    pred, true = _blobs(rng, shape)
    p, t = torch.as_tensor(pred[None, None]), torch.as_tensor(true[None, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = float(monai_metrics.compute_hausdorff_distance(p, t, include_background=True, percentile=95,
                                                              spacing=list(spacing)))
        assd = float(monai_metrics.compute_average_surface_distance(p, t, include_background=True, symmetric=True,
                                                                    spacing=list(spacing)))
        distances = surface_distance.compute_surface_distances(true, pred, list(spacing))
        nsd = surface_distance.compute_surface_dice_at_tolerance(distances, 1.5)
    assert metrics.hausdorff_distance(pred, true, spacing, percentile=95) == pytest.approx(hd95, rel=1e-4)
    assert metrics.average_surface_distance(pred, true, spacing) == pytest.approx(assd, rel=1e-4)
    assert metrics.normalized_surface_dice(pred, true, 1.5, spacing) == pytest.approx(nsd, rel=1e-4)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.37, 1.9, 4.2), (2.0, 2.0, 0.5)])
def test_surfel_areas_equal_surface_distance_tables(spacing):
    lookup = surface_distance.lookup_tables
    np.testing.assert_allclose(surfel_area_table(spacing),
                               lookup.create_table_neighbour_code_to_surface_area(spacing), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(surfel_area_table(spacing[:2]),
                               lookup.create_table_neighbour_code_to_contour_length(spacing[:2]), rtol=1e-12)


def test_average_precision_equals_pycocotools_live():
    pytest.importorskip("pycocotools", reason="pycocotools is not installed (dev extra)")
    from tests.reference.cases import detection_sets
    from tests.reference.pycoco import coco_ap50

    images = detection_sets(seed=5, num_images=20)
    assert metrics.average_precision(*zip(*images)) == pytest.approx(coco_ap50(images), rel=1e-9)
